"""Paired statistics (akd.stats) against values computed by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sp

from akd.stats import bootstrap_interval, paired, seeds_needed, sign_flip_p

ZERO4 = {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0}


def test_known_paired_sample():
    """d = (1, 2, 3, -0.5). Mean 1.375. Sign flips: the sum 6.5 - 2*(flipped magnitudes) reaches
    |sum| >= 5.5 only for the flipped sets {}, {0.5}, all, all but 0.5: p = 4/16. Spread
    s = sqrt(6.6875 / 3) = 1.4930; t(0.975, 6) * s / sqrt(7) = 1.381 > 1.375, with 8 seeds 1.248:
    8 seeds needed (and >= 6 for the sign-flip test to reach 0.05)."""
    a = {0: 11.0, 1: 12.0, 2: 13.0, 3: 9.5}
    b = {0: 10.0, 1: 10.0, 2: 10.0, 3: 10.0}
    r = paired(a, b)
    assert r.seeds == (0, 1, 2, 3)
    assert r.diffs == (1.0, 2.0, 3.0, -0.5)
    assert r.mean == pytest.approx(1.375)
    assert r.p_value == pytest.approx(4 / 16)
    assert r.p_min == pytest.approx(2 / 16)
    assert r.prob_improvement == pytest.approx(0.75)
    assert r.wins == 3
    assert r.seeds_needed == 8
    assert r.ci_low < r.mean < r.ci_high
    assert not r.distinguishable  # p = 0.25 whatever the interval says
    assert "not distinguishable at 4 seeds; about 8 seeds" in r.sentence("A", "B")


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
    with pytest.raises(ValueError, match="no seed in common"):
        paired({0: 1.0}, {1: 1.0})


def test_sign_flip_test_is_exact_and_cannot_go_below_two_over_two_to_the_n():
    assert sign_flip_p(np.array([0.3, 1.0, 2.0])) == pytest.approx(2 / 8)  # 3 seeds, all positive
    assert sign_flip_p(np.array([0.3, 1.0, 2.0, 0.1, 0.2, 0.4])) == pytest.approx(2 / 64)
    # brute force over all 2^n sign patterns on an uneven sample
    d = np.array([0.7, -0.2, 1.1, 0.4, -0.9])
    count = sum(abs(np.mean(d * s)) >= abs(d.mean()) - 1e-12 for s in itertools.product([1, -1], repeat=5))
    assert sign_flip_p(d) == pytest.approx(count / 32)
    assert sign_flip_p(np.array([0.0, 0.0])) == 1.0 and sign_flip_p(np.array([2.0])) == 1.0


def test_bootstrap_interval_matches_the_t_interval_on_a_large_sample():
    """With 400 normal draws the BCa interval of the mean is the textbook t interval within 5 %."""
    d = np.random.default_rng(3).normal(0.8, 2.0, 400)
    half = sp.t.ppf(0.975, 399) * d.std(ddof=1) / math.sqrt(400)
    low, high = bootstrap_interval(d)
    assert low == pytest.approx(d.mean() - half, abs=0.05 * half)
    assert high == pytest.approx(d.mean() + half, abs=0.05 * half)
    assert bootstrap_interval(d) == (low, high)  # seeded: the same numbers every time


def test_degenerate_samples():
    same = paired({0: 1.5, 1: 1.5, 2: 1.5}, {0: 1.0, 1: 1.0, 2: 1.0})
    assert (same.ci_low, same.ci_high) == (0.5, 0.5)
    assert same.seeds_needed == 6  # no spread: the sign-flip test's floor, 2/2^6 < 0.05
    one = paired({0: 2.0}, {0: 1.0})
    assert math.isnan(one.ci_low) and one.p_value == 1.0 and one.seeds_needed is None
    assert "on 1 seed" in one.sentence("A", "B")
    assert seeds_needed(np.array([1.0, -1.0])) is None  # no mean difference to resolve


def test_a_clear_difference_over_enough_seeds_is_distinguishable():
    a = {s: 80.0 + 0.1 * s for s in range(8)}
    b = {s: 79.0 + 0.1 * s + (0.05 if s % 2 else -0.05) for s in range(8)}
    r = paired(a, b)
    assert r.distinguishable and r.p_value == pytest.approx(2 / 256)
    assert r.sentence("Annealing-KD", "KD").endswith("Annealing-KD is better.")
    worse = paired(b, a)
    assert worse.distinguishable and worse.judgement() == "A is worse"
