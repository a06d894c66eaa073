"""Intervals, tests and verdicts over seeds: the one place the suite's statistics live.

Runs with the same seed share initial weights and every batch, so two methods are compared seed
by seed: the unit is the per-seed difference ``d_s = A_s - B_s``. From those n differences:

- the **mean difference** and its **paired Student t interval** (``mean ± t(0.975, n-1) s/√n``).
  It holds its 95 % level for normal differences at any n >= 2 (tests/test_stats.py simulates
  n = 3, 5, 10). A bootstrap interval does not at these seed counts (BCa covers about 72 % at
  n = 3: with three values it can never leave [min, max]), so :func:`bootstrap_interval` is
  refused below ``BOOTSTRAP_MIN_N`` differences;
- the **paired t test** (two-sided). Its p-value and the interval come from the same t
  distribution, so the interval excludes 0 exactly when p < 0.05: one rule, stated once;
- the **exact sign-flip test** beside it (assumption-free): the share of the 2^n sign patterns
  whose mean is at least as far from 0. Tied (zero) differences flip to themselves, so with z ties
  its smallest possible p is 2/2^(n-z): 0.25 at 3 seeds, 0.0625 at 5; below 6 untied seeds it can
  never fall under 0.05, and the words say so;
- **Holm's step-down correction** across the comparisons of one family (one benchmark, variant
  and dataset: the reference method against each other method);
- the **probability of improvement**, paired: the share of seeds on which A beats B (ties half);
- the **seeds needed**: the smallest n at which the paired t test has 80 % power against a true
  difference equal to the observed mean with the observed spread (noncentral t), at the level the
  verdict must pass (alpha / k in a family of k: Holm's strictest step, so the number is enough
  whatever the other comparisons do), with the range implied by the spread's own 95 % chi-square
  interval (the uncertainty of the observed mean is not in it). "No difference observed" (a mean
  of exactly 0) and "more than 1,000 seeds" are different answers.

A difference is *distinguishable* when the family's Holm-adjusted t-test p < alpha. Every summary,
table and figure takes its verdict from :func:`family` (one source of verdicts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.80
RESAMPLES = 9999
MAX_SEEDS = 1000  # beyond this, "seeds needed" is reported as more than this
BOOTSTRAP_MIN_N = 20  # below this a percentile/BCa bootstrap of a mean undercovers badly


class StatsError(ValueError):
    """A value the statistics cannot use (NaN, infinite, no common seeds), in one line."""


def interval_label(n: int, confidence: float = CONFIDENCE, method: str = "t") -> str:
    """How an interval is labelled everywhere: ``95 % t interval, n = 3``."""
    name = {"t": "t interval", "bca": "BCa bootstrap interval"}[method]
    return f"{round(confidence * 100)} % {name}, n = {n}"


def check_finite(values: Mapping[int, float], what: str) -> None:
    """Refuse a NaN or infinite value, naming ``what`` (run and metric) and the seed."""
    for seed, value in values.items():
        if not math.isfinite(float(value)):
            raise StatsError(f"{what}: seed {seed} has a non-finite value ({value}); rerun or remove that seed")


def t_half_width(values, confidence: float = CONFIDENCE) -> float:  # noqa: ANN001
    """Half-width of the Student t interval of the mean; NaN for fewer than 2 values."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def mean_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:  # noqa: ANN001
    """(mean, half-width of its t interval) of one method's values over seeds."""
    x = np.asarray(values, dtype=float)
    if not len(x):
        raise StatsError("no values: a mean needs at least one seed")
    if not np.all(np.isfinite(x)):
        raise StatsError(f"non-finite value among {list(x)}")
    return float(x.mean()), t_half_width(x, confidence)


def difference_interval(d: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The default interval of a mean difference: the paired Student t interval (NaN for one value)."""
    if len(d) < 2:
        return math.nan, math.nan
    mean, half = float(np.mean(d)), t_half_width(d, confidence)
    return mean - half, mean + half


def t_test_p(d: np.ndarray) -> float:
    """Two-sided paired t test of mean(d) = 0; 1 for fewer than 2 values, 0 for a constant non-zero d."""
    if len(d) < 2:
        return 1.0
    sd = float(np.std(d, ddof=1))
    if sd == 0:
        return 1.0 if float(np.mean(d)) == 0 else 0.0
    t = float(np.mean(d)) / (sd / math.sqrt(len(d)))
    return float(2 * stats.t.sf(abs(t), len(d) - 1))


def sign_flip_p(d: np.ndarray) -> float:
    """Exact two-sided sign-flip test of mean(d) = 0 (every sign pattern up to 2^16, else sampled)."""
    if len(d) < 2 or np.all(d == 0):
        return 1.0  # one seed cannot be tested
    result = stats.permutation_test(
        (d,),
        np.mean,
        permutation_type="samples",
        alternative="two-sided",
        n_resamples=2**16,
        rng=np.random.default_rng(0),
    )
    return float(result.pvalue)


def sign_flip_floor(d: np.ndarray) -> float:
    """The smallest p the sign-flip test can give on ``d``: 2/2^(untied differences), at most 1."""
    return min(1.0, 2.0 / 2 ** int(np.count_nonzero(d)))


def bootstrap_interval(d: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """BCa bootstrap interval of the mean of ``d``, only where it is valid (n >= ``BOOTSTRAP_MIN_N``)."""
    if len(d) < BOOTSTRAP_MIN_N:
        raise StatsError(
            f"a bootstrap interval needs at least {BOOTSTRAP_MIN_N} values, got {len(d)}: use the t interval"
        )
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    result = stats.bootstrap(
        (d,), np.mean, confidence_level=confidence, n_resamples=RESAMPLES, method="BCa", rng=np.random.default_rng(0)
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def power(n: int, effect: float, sd: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t test at ``n`` seeds against a true mean ``effect`` with spread ``sd``."""
    if n < 2:
        return 0.0
    if sd == 0:
        return 1.0 if effect else 0.0
    df, nc = n - 1, abs(effect) / sd * math.sqrt(n)
    crit = stats.t.ppf(1 - alpha / 2, df)
    # the lower tail as the upper tail of -nc: scipy's nct.cdf returns NaN far out in the tail
    lower = float(stats.nct.sf(crit, df, -nc))
    return float(stats.nct.sf(crit, df, nc)) + (0.0 if math.isnan(lower) else lower)


def seeds_for_power(effect: float, sd: float, alpha: float = ALPHA, target: float = POWER) -> int | None:
    """The fewest seeds (>= 2) giving the paired t test ``target`` power; None above ``MAX_SEEDS``."""
    if effect == 0:
        return None
    if power(MAX_SEEDS, effect, sd, alpha) < target:
        return None
    low, high = 2, MAX_SEEDS  # power rises with n: bisect for the first n that reaches the target
    while low < high:
        mid = (low + high) // 2
        if power(mid, effect, sd, alpha) >= target:
            high = mid
        else:
            low = mid + 1
    return low


@dataclass(frozen=True)
class SeedsNeeded:
    """Seeds for 80 % power at the observed mean and spread, and the range the spread's uncertainty implies.

    ``status``: ``"estimate"`` (``n`` set), ``"none observed"`` (mean exactly 0), ``"too many"``
    (more than ``MAX_SEEDS``) or ``"unknown"`` (one seed: no spread).
    """

    status: str
    n: int | None = None
    low: int | None = None  # at the spread's lower 95 % bound
    high: int | None = None  # at its upper bound; None: more than MAX_SEEDS
    family_size: int = 1  # the test is at ALPHA / family_size: Holm's strictest step

    def _level(self) -> str:
        return "" if self.family_size == 1 else f" at Holm's strictest level ({ALPHA:g}/{self.family_size})"

    def words(self) -> str:
        if self.status == "none observed":
            return "no difference observed"
        if self.status == "too many":
            return f"more than {MAX_SEEDS:,} seeds would be needed for {POWER * 100:.0f} % power{self._level()}"
        if self.status == "unknown":
            return "run more seeds to estimate the spread"
        high = f"more than {MAX_SEEDS:,}" if self.high is None else str(self.high)
        span = "" if self.low == self.n == self.high else f" (range {self.low} to {high})"
        return (
            f"about {self.n} seeds{span} would give {POWER * 100:.0f} % power{self._level()} "
            f"if the true difference is the observed one"
        )


def seeds_needed(d: np.ndarray, alpha: float = ALPHA, target: float = POWER) -> SeedsNeeded:
    """:class:`SeedsNeeded` for the paired t test at ``alpha``, from the observed differences."""
    if len(d) < 2:
        return SeedsNeeded("unknown")
    effect, sd = abs(float(np.mean(d))), float(np.std(d, ddof=1))
    if effect == 0:
        return SeedsNeeded("none observed")
    n = seeds_for_power(effect, sd, alpha, target)
    if n is None:
        return SeedsNeeded("too many")
    df = len(d) - 1  # the spread's 95 % interval: sd * sqrt(df / chi2 quantiles)
    sd_low = sd * math.sqrt(df / stats.chi2.ppf(0.975, df))
    sd_high = sd * math.sqrt(df / stats.chi2.ppf(0.025, df))
    low, high = (seeds_for_power(effect, bound, alpha, target) for bound in (sd_low, sd_high))
    return SeedsNeeded("estimate", n, low, high)


def seeds_needed_in_family(d: np.ndarray, family_size: int, alpha: float = ALPHA) -> SeedsNeeded:
    """:func:`seeds_needed` for a verdict that must pass Holm's correction: the t test at alpha / k."""
    return replace(seeds_needed(d, alpha / family_size), family_size=family_size)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order (monotone, capped at 1)."""
    k = len(p_values)
    order = sorted(range(k), key=lambda i: p_values[i])
    adjusted, running = [0.0] * k, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Paired:
    """A minus B over the seeds both ran; see the module's docstring for each number."""

    seeds: tuple[int, ...]
    diffs: tuple[float, ...]
    mean: float
    ci_low: float  # the paired t interval (NaN for one seed)
    ci_high: float
    p_value: float  # the paired t test, two-sided
    p_sign_flip: float
    p_min: float  # the smallest p the sign-flip test can give here (ties counted)
    prob_improvement: float
    needed: SeedsNeeded
    p_adjusted: float  # Holm-adjusted over the family (p_value for a family of one)
    family_size: int = 1
    confidence: float = CONFIDENCE
    alpha: float = ALPHA

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def seeds_needed(self) -> int | None:
        return self.needed.n

    @property
    def interval(self) -> str:
        return interval_label(self.n, self.confidence)

    @property
    def distinguishable(self) -> bool:
        return self.n >= 2 and self.p_adjusted < self.alpha

    @property
    def excludes_zero(self) -> bool:
        return self.n >= 2 and (self.ci_low > 0 or self.ci_high < 0)

    @property
    def wins(self) -> int:
        return sum(d > 0 for d in self.diffs)

    def judgement(self) -> str:
        """``A is better`` / ``A is worse`` / ``not distinguishable at n seeds`` and what would resolve it."""
        if self.distinguishable:
            return "A is better" if self.mean > 0 else "A is worse"
        text = f"not distinguishable at {self.n} seed{'s' if self.n != 1 else ''}"
        if self.excludes_zero:  # the unadjusted interval excludes 0, the family's correction does not
            text += f" after Holm's correction over {self.family_size} comparisons"
        return f"{text}; {self.needed.words()}"

    def sign_flip_words(self) -> str:
        untied = int(np.count_nonzero(self.diffs))
        text = f"sign-flip p = {self.p_sign_flip:.3g}"
        if self.p_min >= self.alpha:
            text += f" (it cannot fall below {self.p_min:.3g} with {untied} untied seed{'s' if untied != 1 else ''})"
        return text

    def sentence(self, a: str, b: str, unit: str = "points", note: str = "") -> str:
        """One line for a summary: the difference, its interval, the tests and the verdict."""
        if self.n < 2:
            return f"{a} minus {b}: {fmt_signed(self.mean)} {unit} on 1 seed (no interval: run more seeds){note}."
        holm_part = (
            f", Holm-adjusted over {self.family_size} comparisons p = {self.p_adjusted:.3g}"
            if self.family_size > 1
            else ""
        )
        judgement = self.judgement().replace("A is", f"{a} is")
        return (
            f"{a} minus {b}: {fmt_signed(self.mean)} {unit} [{fmt_signed(self.ci_low)}, {fmt_signed(self.ci_high)}] "
            f"({self.interval}; paired t p = {self.p_value:.3g}{holm_part}; {self.sign_flip_words()}; "
            f"better on {self.wins} of {self.n} seeds: {', '.join(fmt_signed(d) for d in self.diffs)}): "
            f"{judgement}{note}."
        )


def fmt_signed(x: float, digits: int = 2) -> str:
    """``+1.23`` / ``−0.40`` with a true minus sign (U+2212); ``—`` for NaN."""
    if x is None or math.isnan(x):
        return "—"
    return f"{x:+.{digits}f}".replace("-", "\u2212")


def paired(
    a: Mapping[int, float],
    b: Mapping[int, float],
    confidence: float = CONFIDENCE,
    alpha: float = ALPHA,
    what: tuple[str, str] = ("A", "B"),
) -> Paired:
    """Compare A and B (values keyed by seed) on the seeds both have; ``what`` names them in errors."""
    check_finite(a, what[0])
    check_finite(b, what[1])
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        raise StatsError(f"{what[0]} and {what[1]} have no seed in common: a paired comparison needs the same seeds")
    d = np.array([float(a[s]) - float(b[s]) for s in seeds])
    low, high = difference_interval(d, confidence)
    p = t_test_p(d)
    return Paired(
        seeds=seeds,
        diffs=tuple(float(x) for x in d),
        mean=float(d.mean()),
        ci_low=low,
        ci_high=high,
        p_value=p,
        p_sign_flip=sign_flip_p(d),
        p_min=sign_flip_floor(d),
        prob_improvement=float(np.mean((d > 0) + 0.5 * (d == 0))),
        needed=seeds_needed(d, alpha),
        p_adjusted=p,
        confidence=confidence,
        alpha=alpha,
    )


def family(
    reference: Mapping[int, float],
    others: Mapping[str, Mapping[int, float]],
    metric: str = "metric",
    reference_name: str = "reference",
) -> dict[str, Paired]:
    """``reference`` minus each of ``others`` (name -> values by seed), Holm-corrected across them."""
    values = {reference_name: reference, **{name: v for name, v in others.items() if name != reference_name}}
    found = family_of_pairs(values, [(reference_name, name) for name in others], metric)
    return {b: p for (_, b), p in found.items()}


def family_of_pairs(
    values: Mapping[str, Mapping[int, float]], pairs: list[tuple[str, str]], metric: str = "metric"
) -> dict[tuple[str, str], Paired]:
    """``A minus B`` for each pair (method -> values by seed), Holm-corrected across the pairs.

    Only pairs sharing a seed are compared. This is the one source of every verdict the suite
    prints: summaries, the differences table and the figures.
    """
    found = {
        (a, b): paired(values[a], values[b], what=(f"{a} {metric}", f"{b} {metric}"))
        for a, b in pairs
        if a in values and b in values and set(values[a]) & set(values[b])
    }
    testable = [pair for pair, p in found.items() if p.n >= 2]
    adjusted = holm([found[pair].p_value for pair in testable])
    k = len(testable)
    for pair, p_adj in zip(testable, adjusted, strict=True):
        # a family of one keeps paired()'s seeds-needed (already at alpha); a larger one needs alpha / k
        needed = seeds_needed_in_family(np.array(found[pair].diffs), k) if k > 1 else found[pair].needed
        found[pair] = replace(found[pair], p_adjusted=p_adj, family_size=k, needed=needed)
    return found
