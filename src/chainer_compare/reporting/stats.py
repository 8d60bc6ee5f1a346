"""The statistics behind "does configuration A beat B?", as pure functions.

Inputs are plain sequences of one metric per run, in one unit (reporting passes
the test error at the best-validation epoch in percentage points); differences
are always A − B, so a negative difference means A has the lower error.  The
tests are scipy.stats' (``ttest_rel``, ``ttest_ind(equal_var=False)``,
``permutation_test``, ``mannwhitneyu``, ``bootstrap``); only Holm's step-down
correction and the seed-count estimate are spelled out here, because scipy has
neither.  docs/reporting.md explains every number and when to trust it.
"""
import math
import warnings

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
POWER = 0.8  # the conventional target for "would need about N seeds"
# Exact permutation tests enumerate every arrangement up to this many; above it
# (e.g. 20 seeds a side) a seeded Monte Carlo sample is as good and stays fast.
EXACT_LIMIT = 200000
MONTE_CARLO_RESAMPLES = 9999
BOOTSTRAP_RESAMPLES = 2000
# Fixed generator seed: the same runs always give the same report.
RNG_SEED = 20240901


def _array(values):
    return np.asarray([float(v) for v in values], dtype=np.float64)


def sample_std(values):
    """Sample standard deviation (ddof = 1); None with fewer than two values."""
    values = _array(values)
    return float(values.std(ddof=1)) if len(values) > 1 else None


def pairs_by_seed(seeds_a, seeds_b):
    """True when both sides ran exactly the same (distinct, known) seeds."""
    if None in seeds_a or None in seeds_b:
        return False
    return (len(set(seeds_a)) == len(seeds_a) and len(set(seeds_b)) == len(seeds_b)
            and set(seeds_a) == set(seeds_b))


def mean_difference(a, b, paired):
    """Mean of A − B, its 95 % confidence interval, the t-test p-value and the test's name.

    ``paired``: ``a[i]`` and ``b[i]`` share a seed; the interval is the one-sample
    t interval of the per-seed differences (``ttest_rel``).  Otherwise Welch's
    interval (``ttest_ind(equal_var=False)``).  With fewer than two values on a
    side there is no interval or p-value (None).  Zero spread (every per-seed
    difference equal, or both sides constant) makes t undefined (0/0 or x/0):
    the interval is then the point and the p-value None; the caller falls back
    to the exact test.
    """
    a, b = _array(a), _array(b)
    result = {'test': 'paired t' if paired else 'Welch t', 'mean_difference': None,
              'ci_low': None, 'ci_high': None, 'p_value': None, 'df': None}
    if len(a) == 0 or len(b) == 0:
        return result
    diff = float(np.mean(a - b)) if paired else float(a.mean() - b.mean())
    result['mean_difference'] = diff
    if min(len(a), len(b)) < 2:
        return result
    spread = (a - b).std() if paired else max(a.std(), b.std())
    if spread == 0 or spread <= 1e-12 * max(1.0, abs(diff)):
        result.update(ci_low=diff, ci_high=diff,
                      df=len(a) - 1 if paired else len(a) + len(b) - 2)
        return result
    with warnings.catch_warnings():  # one constant side: scipy warns, the result is right
        warnings.simplefilter('ignore', RuntimeWarning)
        test = stats.ttest_rel(a, b) if paired else stats.ttest_ind(a, b, equal_var=False)
    low, high = test.confidence_interval(CONFIDENCE)
    result.update(ci_low=float(low), ci_high=float(high), p_value=float(test.pvalue),
                  df=float(test.df))
    return result


def smallest_exact_p(n_a, n_b, paired):
    """The smallest two-sided p-value the exact test can reach with these n.

    Sign flips of n paired differences: 2 of the 2^n arrangements are as extreme
    as the most extreme one, so 2 / 2^n (0.25 with 3 seeds).  Permutations of
    n + m values into groups of n and m: 2 / C(n + m, n) (0.1 with 3 and 3).
    """
    if min(n_a, n_b) < 1:
        return None
    count = 2 ** n_a if paired else math.comb(n_a + n_b, n_a)
    return min(1.0, 2.0 / count)


def _mean_of_differences(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def _difference_of_means(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def exact_p(a, b, paired):
    """Two-sided permutation p-value of the mean difference, and whether it is exact.

    Paired: the sign of every per-seed difference is flipped (swapping A and B
    within a seed); unpaired: the n + m values are re-split into groups of n and
    m.  Every arrangement is enumerated up to EXACT_LIMIT of them, else a seeded
    Monte Carlo sample.  Two-sided p = 2 · min(one-sided p's), capped at 1
    (scipy's definition).  (None, None) with fewer than two values on a side: one
    value can only give p = 1.
    """
    a, b = _array(a), _array(b)
    if min(len(a), len(b)) < 2:
        return None, None
    count = 2 ** len(a) if paired else math.comb(len(a) + len(b), len(a))
    exact = count <= EXACT_LIMIT
    result = stats.permutation_test(
        (a, b), _mean_of_differences if paired else _difference_of_means,
        permutation_type='samples' if paired else 'independent', vectorized=True,
        n_resamples=np.inf if exact else MONTE_CARLO_RESAMPLES, alternative='two-sided',
        rng=np.random.default_rng(RNG_SEED))
    return float(min(1.0, result.pvalue)), exact


def _share_a_better(x, y, axis=-1):
    """Share of (x_i, y_j) pairs with x_i < y_j, ties counted half (vectorized)."""
    x = np.moveaxis(np.asarray(x), axis, -1)[..., :, None]
    y = np.moveaxis(np.asarray(y), axis, -1)[..., None, :]
    return np.mean((x < y) + 0.5 * (x == y), axis=(-2, -1))


def probability_better(a, b):
    """P(a run of A has a lower value than a run of B): the Mann–Whitney U of B / (n·m).

    ``mannwhitneyu(b, a).statistic`` counts the (b_j, a_i) pairs with b_j > a_i,
    ties counted half.  None when a side is empty.
    """
    a, b = _array(a), _array(b)
    if len(a) == 0 or len(b) == 0:
        return None
    return float(stats.mannwhitneyu(b, a).statistic / (len(a) * len(b)))


def probability_better_interval(a, b):
    """95 % percentile-bootstrap interval of :func:`probability_better`.

    Each side is resampled on its own (the statistic compares every run of A with
    every run of B, pairing or not).  None with fewer than two runs on a side.
    Percentile, not BCa: BCa needs a jackknife that degenerates with 2–3 seeds.
    """
    a, b = _array(a), _array(b)
    if min(len(a), len(b)) < 2:
        return None
    result = stats.bootstrap((a, b), _share_a_better, n_resamples=BOOTSTRAP_RESAMPLES,
                             vectorized=True, paired=False, confidence_level=CONFIDENCE,
                             method='percentile', rng=np.random.default_rng(RNG_SEED))
    low, high = result.confidence_interval
    return float(low), float(high)


def holm(p_values):
    """Holm's step-down adjusted p-values (Holm 1979); None entries stay None.

    Sorted ascending, the i-th smallest of k p-values is multiplied by k − i,
    then made non-decreasing and capped at 1.
    """
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[index] = running
    return adjusted


def seeds_needed(std, detect, paired, alpha=ALPHA, power=POWER):
    """About how many seeds per side a t-test needs to detect a true difference ``detect``.

    ``std``: the per-seed std of the differences (paired) or of one side's values
    (unpaired, the two sides' pooled std).  The usual sample-size formula
    n = k · σ² (t_{1−α/2, df} + t_{power, df})² / δ², k = 1 paired and 2 per side
    unpaired, iterated from the normal approximation until the t quantiles'
    degrees of freedom (n − 1, or 2n − 2) agree with n; it is within one seed of
    the exact noncentral-t answer.  At least 2; None when std is unknown.
    """
    if std is None or detect is None or detect <= 0:
        return None
    if std == 0:
        return 2
    k = 1.0 if paired else 2.0
    effect = (std / detect) ** 2

    def estimate(z_alpha, z_power):
        return max(2, math.ceil(k * effect * (z_alpha + z_power) ** 2))

    n = estimate(stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power))
    for _ in range(100):
        df = n - 1 if paired else 2 * n - 2
        updated = estimate(stats.t.ppf(1 - alpha / 2, df), stats.t.ppf(power, df))
        if updated == n:
            break
        n = updated
    return n


def binomial_standard_error(error, n_images):
    """Test-set sampling error of an error rate: sqrt(p (1 − p) / N), same unit as ``error``.

    ``error`` is a fraction (0.1 for 10 %); the spread a different draw of N test
    images would give the same model (Jordan 2024).  None if N is unknown.
    """
    if error is None or not n_images:
        return None
    return math.sqrt(max(error * (1 - error), 0.0) / n_images)
