"""reporting/stats.py against published values and against brute force computed here."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from chainer_compare.reporting import stats

# Student's sleep data (Cushny & Peebles 1905; R's `sleep`): extra hours of sleep, drug 1 and 2
# on the same ten patients.
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_paired_t_matches_the_published_sleep_example():
    # R: t.test(extra ~ group, data = sleep, paired = TRUE):
    # t = -4.0621, df = 9, p-value = 0.002833, 95 % CI -2.4598858 -0.7001142, mean -1.58
    result = stats.mean_difference(SLEEP_1, SLEEP_2, paired=True)
    assert result['test'] == 'paired t' and result['df'] == 9
    assert result['mean_difference'] == pytest.approx(-1.58)
    assert result['ci_low'] == pytest.approx(-2.4598858, abs=1e-7)
    assert result['ci_high'] == pytest.approx(-0.7001142, abs=1e-7)
    assert result['p_value'] == pytest.approx(0.002833, abs=5e-7)
    # and by hand: mean ± t_{0.975, n-1} · s / sqrt(n) of the per-patient differences
    d = np.subtract(SLEEP_1, SLEEP_2)
    half = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    assert (result['ci_low'], result['ci_high']) == pytest.approx((d.mean() - half,
                                                                   d.mean() + half))


def test_welch_matches_the_published_sleep_example():
    # R: t.test(extra ~ group, data = sleep): Welch, t = -1.8608, df = 17.776,
    # p-value = 0.07939, 95 % CI -3.3654832 0.2054832
    result = stats.mean_difference(SLEEP_1, SLEEP_2, paired=False)
    assert result['test'] == 'Welch t'
    assert result['df'] == pytest.approx(17.776, abs=5e-4)
    assert result['p_value'] == pytest.approx(0.07939, abs=5e-6)
    assert result['ci_low'] == pytest.approx(-3.3654832, abs=1e-7)
    assert result['ci_high'] == pytest.approx(0.2054832, abs=1e-7)


def test_welch_unequal_n_by_hand():
    a, b = np.array([20.1, 21.7, 19.4]), np.array([23.0, 24.9, 22.2, 25.5, 23.8])
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    # Welch–Satterthwaite degrees of freedom
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    result = stats.mean_difference(a, b, paired=False)
    assert result['df'] == pytest.approx(df)
    assert result['ci_low'] == pytest.approx(a.mean() - b.mean() - half)
    assert result['ci_high'] == pytest.approx(a.mean() - b.mean() + half)
    assert result['p_value'] == pytest.approx(2 * sps.t.sf(abs(t), df))


def test_zero_spread_gives_exact_numbers_not_nan():
    same = stats.mean_difference([12.0] * 3, [12.0] * 3, paired=True)
    assert same['mean_difference'] == 0 and same['ci_low'] == same['ci_high'] == 0
    assert same['p_value'] is None  # t is 0/0: the caller uses the exact test instead
    shifted = stats.mean_difference([12.0] * 3, [13.0] * 3, paired=False)
    assert shifted['ci_low'] == shifted['ci_high'] == -1.0 and shifted['p_value'] is None
    assert stats.exact_p([12.0] * 3, [13.0] * 3, paired=False) == (pytest.approx(0.1), True)
    assert stats.exact_p([12.0] * 3, [12.0] * 3, paired=True) == (1.0, True)
    assert stats.probability_better([12.0] * 3, [12.0] * 3) == 0.5
    assert stats.probability_better_interval([12.0] * 3, [12.0] * 3) == (0.5, 0.5)


def test_one_value_a_side_has_no_interval_and_no_p():
    result = stats.mean_difference([12.0], [13.0, 14.0], paired=False)
    assert result['mean_difference'] == pytest.approx(-1.5)
    assert result['ci_low'] is None and result['p_value'] is None
    assert stats.exact_p([12.0], [13.0, 14.0], paired=False) == (None, None)
    assert stats.probability_better_interval([12.0], [13.0, 14.0]) is None
    assert stats.sample_std([3.0]) is None


def _two_sided(null, observed):
    """scipy's two-sided permutation p: 2 · min(P(T ≤ t), P(T ≥ t)), capped at 1."""
    null = np.asarray(null)
    eps = 1e-12 * max(1.0, abs(observed))
    less = np.mean(null <= observed + eps)
    greater = np.mean(null >= observed - eps)
    return min(1.0, 2 * min(less, greater))


def test_sign_flip_p_equals_enumerating_every_sign_flip():
    a = np.array([21.3, 22.8, 20.9, 23.5, 22.0, 21.1, 22.6])
    b = np.array([22.0, 23.9, 21.0, 23.2, 23.4, 22.5, 22.9])
    d = a - b
    null = [np.mean(d * signs) for signs in itertools.product((1, -1), repeat=len(d))]
    p, exact = stats.exact_p(a, b, paired=True)
    assert exact and p == pytest.approx(_two_sided(null, d.mean()))
    # the sign-flip null is symmetric, so this is also P(|T| >= |t|)
    assert p == pytest.approx(np.mean(np.abs(null) >= abs(d.mean()) - 1e-12))


def test_permutation_p_equals_enumerating_every_split():
    a, b = [20.1, 21.7, 19.4], [23.0, 21.9, 22.2, 25.5]
    pooled = np.array(a + b)
    null = []
    for chosen in itertools.combinations(range(len(pooled)), len(a)):
        mask = np.zeros(len(pooled), bool)
        mask[list(chosen)] = True
        null.append(pooled[mask].mean() - pooled[~mask].mean())
    p, exact = stats.exact_p(a, b, paired=False)
    assert exact and len(null) == 35
    assert p == pytest.approx(_two_sided(null, np.mean(a) - np.mean(b)))


@pytest.mark.parametrize('n_a,n_b,paired,expected', [
    (3, 3, True, 0.25), (5, 5, True, 2 / 32), (3, 3, False, 0.1), (2, 3, False, 0.2),
    (1, 1, True, 1.0)])
def test_smallest_exact_p_is_reached_by_the_most_extreme_result(n_a, n_b, paired, expected):
    assert stats.smallest_exact_p(n_a, n_b, paired) == pytest.approx(expected)
    if min(n_a, n_b) >= 2:  # every A far below every B: the most extreme arrangement
        a = [10.0 + 0.1 * i for i in range(n_a)]
        b = [20.0 + 0.3 * i for i in range(n_b)]
        assert stats.exact_p(a, b, paired)[0] == pytest.approx(expected)


def test_probability_better_counts_pairs_with_ties_half():
    a, b = [1.0, 2.0, 3.0, 3.0], [2.0, 3.0, 4.5]
    wins = sum((x < y) + 0.5 * (x == y) for x in a for y in b)
    assert stats.probability_better(a, b) == pytest.approx(wins / 12)
    assert stats.probability_better(b, a) == pytest.approx(1 - wins / 12)
    assert stats.probability_better([1.0, 2.0], [3.0, 4.0]) == 1.0


def test_probability_better_interval_agrees_with_a_plain_resampling_loop():
    a = np.array([20.1, 21.7, 19.4, 22.3, 20.8])
    b = np.array([21.0, 22.9, 21.2, 23.5, 20.5])
    low, high = stats.probability_better_interval(a, b)
    rng = np.random.default_rng(1)
    draws = []
    for _ in range(4000):
        x, y = rng.choice(a, len(a)), rng.choice(b, len(b))
        draws.append(np.mean((x[:, None] < y[None, :]) + 0.5 * (x[:, None] == y[None, :])))
    assert low == pytest.approx(np.percentile(draws, 2.5), abs=0.05)
    assert high == pytest.approx(np.percentile(draws, 97.5), abs=0.05)
    assert 0 <= low <= stats.probability_better(a, b) <= high <= 1
    assert stats.probability_better_interval([1.0, 2.0], [3.0, 4.0]) == (1.0, 1.0)


def test_holm_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") -> 0.03 0.06 0.06 0.02
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert stats.holm([0.004]) == [0.004]


def _exact_power(n, effect, paired):
    """Noncentral-t power of the two-sided 0.05 t-test (an independent method)."""
    df = n - 1 if paired else 2 * n - 2
    noncentrality = effect * math.sqrt(n if paired else n / 2)
    critical = sps.t.ppf(0.975, df)
    return sps.nct.sf(critical, df, noncentrality) + sps.nct.cdf(-critical, df, noncentrality)


@pytest.mark.parametrize('std,detect,paired,published', [
    # R pwr.t.test(d = ..., power = 0.8): n = 63.77, 25.52, 16.71 per group; paired d = 1: 9.94
    (2.0, 1.0, False, 64), (1.25, 1.0, False, 26), (1.0, 1.0, False, 17), (1.0, 1.0, True, 10)])
def test_seeds_needed_matches_published_power_tables(std, detect, paired, published):
    n = stats.seeds_needed(std, detect, paired)
    assert n == published
    assert _exact_power(n, detect / std, paired) >= 0.8 > _exact_power(n - 1, detect / std, paired)


def test_seeds_needed_edge_cases():
    assert stats.seeds_needed(None, 1.0, True) is None
    assert stats.seeds_needed(0.0, 1.0, False) == 2
    assert stats.seeds_needed(0.1, 1.0, True) == 2  # never fewer than a t-test needs


def test_binomial_standard_error():
    assert stats.binomial_standard_error(0.1, 10000) == pytest.approx(0.003)
    assert stats.binomial_standard_error(0.2174, 10000) == pytest.approx(
        sps.binom.std(10000, 0.2174) / 10000)
    assert stats.binomial_standard_error(0.1, None) is None


def test_pairs_by_seed():
    assert stats.pairs_by_seed([1, 2, 3], [3, 1, 2])
    assert not stats.pairs_by_seed([1, 2, 3], [1, 2])
    assert not stats.pairs_by_seed([1, 1], [1, 1])
    assert not stats.pairs_by_seed([None, 1], [None, 1])
