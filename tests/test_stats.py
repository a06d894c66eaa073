"""Statistics (akd.stats) against values computed by hand, simulation and independent formulas."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sp

from akd.stats import (
    StatsError,
    bootstrap_interval,
    difference_interval,
    family,
    holm,
    mean_interval,
    paired,
    power,
    seeds_needed,
    sign_flip_floor,
    sign_flip_p,
)


def test_known_paired_sample():
    """d = (1, 2, 3, -0.5): mean 1.375, s = sqrt(6.6875 / 3) = 1.49304. t = 1.375 / (s / 2) = 1.84188,
    df 3: two-sided p = 0.16271; t(0.975, 3) = 3.18245, half-width 3.18245 * s / 2 = 2.37576.
    Sign flips: the sum 6.5 - 2*(flipped magnitudes) reaches |sum| >= 5.5 only for the flipped sets {},
    {0.5}, all, all but 0.5: p = 4/16."""
    a = {0: 11.0, 1: 12.0, 2: 13.0, 3: 9.5}
    b = {0: 10.0, 1: 10.0, 2: 10.0, 3: 10.0}
    r = paired(a, b)
    assert r.seeds == (0, 1, 2, 3)
    assert r.diffs == (1.0, 2.0, 3.0, -0.5)
    assert r.mean == pytest.approx(1.375)
    assert r.ci_low == pytest.approx(1.375 - 2.37576, abs=1e-4)
    assert r.ci_high == pytest.approx(1.375 + 2.37576, abs=1e-4)
    assert r.p_value == pytest.approx(0.16271, abs=1e-4)
    assert r.p_value == pytest.approx(sp.ttest_rel(list(a.values()), list(b.values())).pvalue)
    assert r.p_sign_flip == pytest.approx(4 / 16)
    assert r.p_min == pytest.approx(2 / 16)
    assert r.prob_improvement == pytest.approx(0.75)
    assert r.wins == 3
    assert r.interval == "95 % t interval, n = 4"
    assert not r.distinguishable
    assert "not distinguishable at 4 seeds" in r.sentence("A", "B")
    assert "+1.38 points [\u22121.00, +3.75] (95 % t interval, n = 4; paired t p = 0.163" in r.sentence("A", "B")


@pytest.mark.parametrize("n", [3, 5, 10])
def test_default_interval_covers_95_percent_of_normal_differences(n):
    """Seeded simulation: 4,000 samples of n normal differences; the default interval (the one
    ``paired`` prints) contains the true mean 93-97 % of the time (BCa: 72 % at n = 3)."""
    rng = np.random.default_rng(n)
    true = 0.7
    hits = 0
    for _ in range(4000):
        low, high = difference_interval(rng.normal(true, 1.3, n))
        hits += low <= true <= high
    assert 0.93 <= hits / 4000 <= 0.97


def test_paired_prints_the_default_interval():
    a, b = {0: 3.0, 1: 5.0, 2: 4.5}, {0: 1.0, 1: 2.0, 2: 4.0}
    r = paired(a, b)
    assert (r.ci_low, r.ci_high) == difference_interval(np.array(r.diffs))


def test_skewed_differences_coverage_is_as_stated_in_the_readme():
    """Exponential (skewed) differences: the t interval covers about 88 % at n = 3 (README)."""
    rng = np.random.default_rng(0)
    hits = sum(
        low <= 0 <= high for low, high in (difference_interval(rng.exponential(1.0, 3) - 1.0) for _ in range(4000))
    )
    assert 0.86 <= hits / 4000 <= 0.90


@pytest.mark.parametrize("seed", range(20))
def test_interval_and_t_test_agree(seed):
    """The interval excludes 0 exactly when the paired t test's p < 0.05."""
    rng = np.random.default_rng(seed)
    d = rng.normal(rng.uniform(0, 2), 1.0, int(rng.integers(2, 11)))
    r = paired(dict(enumerate(d)), dict.fromkeys(range(len(d)), 0.0))
    assert r.excludes_zero == (r.p_value < 0.05)


def test_direction_swaps_with_the_order():
    a, b = {0: 3.0, 1: 5.0, 2: 4.5}, {0: 1.0, 1: 2.0, 2: 4.0}
    ab, ba = paired(a, b), paired(b, a)
    assert ab.mean == pytest.approx(-ba.mean) == pytest.approx((2 + 3 + 0.5) / 3)
    assert ab.ci_low == pytest.approx(-ba.ci_high, abs=1e-9)
    assert ab.prob_improvement == 1.0 and ba.prob_improvement == 0.0


def test_only_common_seeds_count_and_ties_count_half():
    r = paired({0: 1.0, 1: 2.0, 5: 9.0}, {0: 1.0, 1: 1.0, 7: 0.0})
    assert r.seeds == (0, 1) and r.diffs == (0.0, 1.0)
    assert r.prob_improvement == pytest.approx(0.75)
    with pytest.raises(StatsError, match="no seed in common"):
        paired({0: 1.0}, {1: 1.0})


def test_a_tie_raises_the_sign_flip_floor():
    """glue_mini movies-sst2 vs TAKD: differences (0, +0.64, +0.43). The zero flips to itself: 4
    distinct patterns, the floor is 2/4 = 0.5 (not 2/8)."""
    d = np.array([0.0, 0.64, 0.43])
    assert sign_flip_floor(d) == 0.5
    assert sign_flip_p(d) == pytest.approx(0.5)
    r = paired({0: 75.0, 1: 75.64, 2: 75.43}, {0: 75.0, 1: 75.0, 2: 75.0})
    assert r.p_min == 0.5
    assert "cannot fall below 0.5 with 2 untied seeds" in r.sentence("A", "B")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_metric_is_refused_naming_run_seed_and_metric(bad):
    with pytest.raises(StatsError) as info:
        family({0: 1.0, 1: bad}, {"kd": {0: 0.5, 1: 0.2}}, metric="test_acc", reference_name="annealing")
    message = str(info.value)
    assert "annealing test_acc" in message and "seed 1" in message and "\n" not in message
    with pytest.raises(StatsError, match="kd test_acc: seed 0"):
        family({0: 1.0, 1: 2.0}, {"kd": {0: bad, 1: 0.2}}, metric="test_acc")
    with pytest.raises(StatsError):
        mean_interval([1.0, bad])


def test_sign_flip_test_is_exact_and_cannot_go_below_two_over_two_to_the_n():
    assert sign_flip_p(np.array([0.3, 1.0, 2.0])) == pytest.approx(2 / 8)
    assert sign_flip_p(np.array([0.3, 1.0, 2.0, 0.1, 0.2, 0.4])) == pytest.approx(2 / 64)
    d = np.array([0.7, -0.2, 1.1, 0.4, -0.9])
    count = sum(abs(np.mean(d * s)) >= abs(d.mean()) - 1e-12 for s in itertools.product([1, -1], repeat=5))
    assert sign_flip_p(d) == pytest.approx(count / 32)
    assert sign_flip_p(np.array([0.0, 0.0])) == 1.0 and sign_flip_p(np.array([2.0])) == 1.0


def test_holm_on_a_hand_example():
    """p = (0.01, 0.04, 0.03): sorted 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.06, 0.04*1) = 0.06."""
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.02]) == [0.02]


def test_family_applies_holm_and_the_verdict_follows_it():
    """Three comparisons whose unadjusted p are each < 0.05: Holm keeps only those it should."""
    ref = {s: 80.0 + 0.3 * s for s in range(6)}
    noise = [0.1, -0.1, 0.05, -0.05, 0.12, -0.12]
    others = {
        "a": {s: ref[s] - 1.0 + noise[s] for s in range(6)},  # p tiny
        "b": {s: ref[s] - 0.06 + 3 * noise[s] for s in range(6)},  # p around 0.3
        "c": {s: ref[s] + 0.2 + noise[s] for s in range(6)},
    }
    fam = family(ref, others)
    raw = [paired(ref, others[k]).p_value for k in "abc"]
    assert [fam[k].p_adjusted for k in "abc"] == pytest.approx(holm(raw))
    assert all(p.family_size == 3 for p in fam.values())
    assert fam["a"].distinguishable and fam["a"].judgement() == "A is better"
    assert not fam["b"].distinguishable
    assert fam["c"].distinguishable == (holm(raw)[2] < 0.05)
    # each interval excludes 0 (d = 1.5, 2, 2.5: t = 6.93, df 2, p = 0.0202), but Holm over three such
    # comparisons gives 0.0606 each: none is distinguishable, and the words say why
    ref3 = {0: 10.0, 1: 10.0, 2: 10.0}
    three = family(ref3, {k: {0: 8.5, 1: 8.0, 2: 7.5} for k in ("x", "y", "z")})
    for p in three.values():
        assert p.p_value == pytest.approx(0.0202, abs=1e-4) and p.excludes_zero
        assert p.p_adjusted == pytest.approx(3 * p.p_value) and not p.distinguishable
        assert "not distinguishable at 3 seeds after Holm's correction over 3 comparisons" in p.judgement()
    alone = family(ref3, {"x": {0: 8.5, 1: 8.0, 2: 7.5}})["x"]
    assert alone.distinguishable and alone.family_size == 1


def test_seeds_needed_in_a_family_is_for_the_holm_level():
    """A verdict in a family of 3 must pass p < 0.05/3 at Holm's strictest step: the seeds needed are
    computed at that level (more seeds than at 0.05), and say so."""
    ref = {0: 10.0, 1: 10.0, 2: 10.0}
    other = {0: 9.0, 1: 10.0, 2: 8.0}  # d = (1, 0, 2): mean 1, sd 1
    one = family(ref, {"a": other})["a"].needed
    three = family(ref, {"a": other, "b": other, "c": other})["a"].needed
    assert one.n == seeds_needed(np.array([1.0, 0.0, 2.0])).n == 10
    assert three.n == seeds_needed(np.array([1.0, 0.0, 2.0]), alpha=0.05 / 3).n > one.n
    assert power(three.n, 1.0, 1.0, 0.05 / 3) >= 0.8 > power(three.n - 1, 1.0, 1.0, 0.05 / 3)
    assert "at Holm's strictest level (0.05/3) if" in three.words() and "Holm" not in one.words()


def _simulated_power(n: int, effect: float, sd: float, reps: int = 20000) -> float:
    rng = np.random.default_rng(n)
    x = rng.normal(effect, sd, (reps, n))
    return float(np.mean(sp.ttest_1samp(x, 0.0, axis=1).pvalue < 0.05))


@pytest.mark.parametrize(("effect", "sd"), [(0.5, 1.0), (1.0, 0.8), (0.3, 0.4)])
def test_seeds_needed_gives_80_percent_power_by_simulation(effect, sd):
    """The noncentral-t power matches a Monte Carlo t test, and the returned n is the first to reach 80 %."""
    d = np.array([effect - sd, effect, effect + sd])  # mean = effect, sample sd = sd
    need = seeds_needed(d)
    assert need.status == "estimate"
    n = need.n
    assert power(n, effect, sd) == pytest.approx(_simulated_power(n, effect, sd), abs=0.012)
    assert _simulated_power(n, effect, sd) >= 0.78
    assert _simulated_power(n - 1, effect, sd) < 0.80 + 0.012
    assert power(n - 1, effect, sd) < 0.80 <= power(n, effect, sd)
    assert need.low <= n and (need.high is None or need.high >= n)


def test_seeds_needed_by_hand():
    """effect 1, sd 1: n = 10 has power 0.8031 (noncentral t, df 9, nc 3.162; G*Power gives 0.803), n = 9 has 0.7480
    (a 200,000-sample simulation: 0.8033 and 0.7487)."""
    assert power(10, 1.0, 1.0) == pytest.approx(0.8031, abs=5e-4)
    assert power(9, 1.0, 1.0) == pytest.approx(0.7480, abs=5e-4)
    assert seeds_needed(np.array([0.0, 1.0, 2.0])).n == 10


def test_no_difference_and_too_many_are_different_words():
    zero = seeds_needed(np.array([1.0, -1.0]))
    assert zero.status == "none observed" and zero.words() == "no difference observed"
    tiny = seeds_needed(np.array([0.001, -2.0, 2.003]))
    assert tiny.status == "too many" and "more than 1,000 seeds" in tiny.words()
    assert "no difference observed" not in tiny.words()


def test_bootstrap_is_refused_where_it_undercovers_and_matches_t_on_a_large_sample():
    with pytest.raises(StatsError, match="at least 20"):
        bootstrap_interval(np.array([1.0, 2.0, 3.0]))
    d = np.random.default_rng(3).normal(0.8, 2.0, 400)
    half = sp.t.ppf(0.975, 399) * d.std(ddof=1) / math.sqrt(400)
    low, high = bootstrap_interval(d)
    assert low == pytest.approx(d.mean() - half, abs=0.05 * half)
    assert high == pytest.approx(d.mean() + half, abs=0.05 * half)


def test_degenerate_samples():
    same = paired({0: 1.5, 1: 1.5, 2: 1.5}, {0: 1.0, 1: 1.0, 2: 1.0})
    assert (same.ci_low, same.ci_high) == (0.5, 0.5) and same.p_value == 0.0
    one = paired({0: 2.0}, {0: 1.0})
    assert math.isnan(one.ci_low) and one.p_value == 1.0 and one.seeds_needed is None
    assert "on 1 seed" in one.sentence("A", "B")


def test_a_clear_difference_over_enough_seeds_is_distinguishable():
    a = {s: 80.0 + 0.1 * s for s in range(8)}
    b = {s: 79.0 + 0.1 * s + (0.05 if s % 2 else -0.05) for s in range(8)}
    r = paired(a, b)
    assert r.distinguishable and r.p_sign_flip == pytest.approx(2 / 256)
    assert r.sentence("Annealing-KD", "KD").endswith("Annealing-KD is better.")
    worse = paired(b, a)
    assert worse.distinguishable and worse.judgement() == "A is worse"
