"""Paired comparisons of two methods over seeds, in numbers and in words.

Runs with the same seed share initial weights and every batch, so two methods are compared seed
by seed: the unit is the per-seed difference ``d_s = A_s - B_s``. From those differences:

- the **mean difference** and a **bootstrap confidence interval** of it (``scipy.stats.bootstrap``,
  BCa, with a fixed generator: the same interval every time). With few seeds a bootstrap interval
  is too narrow (3 seeds have 10 distinct resamples), so it never decides alone;
- an **exact sign-flip test** (two-sided): with no real difference each ``d_s`` is as likely
  positive as negative, and the p-value counts the 2^n sign patterns whose mean is at least as far
  from 0. Its smallest possible value is 2/2^n: 0.25 at 3 seeds, 0.0625 at 5, 0.031 at 6, so
  fewer than 6 seeds can never reach p < 0.05, whatever the numbers;
- the **probability of improvement**, paired: the share of seeds on which A beats B (ties half);
- the **seeds needed**: the smallest n at which a t interval with the observed spread of the
  differences would exclude 0 and the sign-flip test could reach p < alpha.

A difference is *distinguishable* only when the interval excludes 0 and p < alpha; otherwise the
words are "not distinguishable at n seeds".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05
RESAMPLES = 9999
MAX_SEEDS = 1000  # beyond this, "seeds needed" is reported as more than this


@dataclass(frozen=True)
class Paired:
    """A minus B over the seeds both ran; see the module's docstring for each number."""

    seeds: tuple[int, ...]
    diffs: tuple[float, ...]
    mean: float
    ci_low: float
    ci_high: float
    p_value: float
    p_min: float  # the smallest p-value the sign-flip test can give with this many seeds
    prob_improvement: float
    seeds_needed: int | None  # None: no difference to resolve, or more than MAX_SEEDS
    confidence: float = CONFIDENCE
    alpha: float = ALPHA

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def distinguishable(self) -> bool:
        return self.n >= 2 and (self.ci_low > 0 or self.ci_high < 0) and self.p_value < self.alpha

    @property
    def wins(self) -> int:
        return sum(d > 0 for d in self.diffs)

    def judgement(self) -> str:
        """``A is better`` / ``A is worse`` / ``not distinguishable at n seeds`` (+ seeds needed)."""
        if self.distinguishable:
            return "A is better" if self.mean > 0 else "A is worse"
        text = f"not distinguishable at {self.n} seed{'s' if self.n != 1 else ''}"
        if self.seeds_needed is None:
            return text + (" (no difference observed)" if self.n and self.mean == 0 else "")
        return text + f"; about {self.seeds_needed} seeds would resolve a difference this size"

    def sentence(self, a: str, b: str, unit: str = "points") -> str:
        """One line for a summary: the difference, its interval, the test and the judgement."""
        if self.n < 2:
            return f"{a} minus {b}: {self.mean:+.2f} {unit} on 1 seed (no interval: run more seeds)."
        pct = round(self.confidence * 100)
        judgement = self.judgement().replace("A is", f"{a} is")
        return (
            f"{a} minus {b}: {self.mean:+.2f} {unit} ({pct}% CI [{self.ci_low:+.2f}, {self.ci_high:+.2f}], "
            f"sign-flip p = {self.p_value:.3g}, better on {self.wins} of {self.n} seeds): {judgement}."
        )


def paired(
    a: Mapping[int, float], b: Mapping[int, float], confidence: float = CONFIDENCE, alpha: float = ALPHA
) -> Paired:
    """Compare A and B (values keyed by seed) on the seeds both have; at least one is needed."""
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        raise ValueError("no seed in common: a paired comparison needs runs with the same seeds")
    d = np.array([float(a[s]) - float(b[s]) for s in seeds])
    mean = float(d.mean())
    low, high = bootstrap_interval(d, confidence)
    p = sign_flip_p(d)
    return Paired(
        seeds=seeds,
        diffs=tuple(float(x) for x in d),
        mean=mean,
        ci_low=low,
        ci_high=high,
        p_value=p,
        p_min=min(1.0, 2.0 / 2 ** len(d)),
        prob_improvement=float(np.mean((d > 0) + 0.5 * (d == 0))),
        seeds_needed=seeds_needed(d, confidence, alpha),
        confidence=confidence,
        alpha=alpha,
    )


def bootstrap_interval(d: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """BCa bootstrap interval of the mean of ``d``; a point when every value is the same, NaN for one."""
    if len(d) < 2:
        return math.nan, math.nan
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    result = stats.bootstrap(
        (d,), np.mean, confidence_level=confidence, n_resamples=RESAMPLES, method="BCa", rng=np.random.default_rng(0)
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


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


def seeds_needed(d: np.ndarray, confidence: float = CONFIDENCE, alpha: float = ALPHA) -> int | None:
    """Seeds at which a difference of this mean and spread would be resolved (see module docstring).

    Needs two seeds to estimate the spread; None when there is no difference to resolve, or when
    more than ``MAX_SEEDS`` would be needed.
    """
    if len(d) < 2 or float(np.mean(d)) == 0:
        return None
    effect, spread = abs(float(np.mean(d))), float(np.std(d, ddof=1))
    floor = next(n for n in range(1, 64) if 2 / 2**n < alpha)  # the sign-flip test can reach p < alpha
    for n in range(max(2, floor), MAX_SEEDS + 1):
        if stats.t.ppf(1 - (1 - confidence) / 2, n - 1) * spread / math.sqrt(n) < effect:
            return n
    return None
