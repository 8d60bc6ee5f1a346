"""Properties of the preprocessing math, on small synthetic data."""
import numpy
import pytest

from chainer_compare.data import preprocess as P


def _correlated(n, shape, seed):
    """Images with strongly correlated pixels (like real ones), as float32 0..255."""
    rng = numpy.random.RandomState(seed)
    d = int(numpy.prod(shape))
    mix = rng.randn(d, d).astype(numpy.float32) * rng.rand(d).astype(numpy.float32) ** 3
    x = rng.randn(n, d).astype(numpy.float32) @ mix * 10 + rng.randn(n, d) * 10 + 128
    return numpy.clip(x, 0, 255).astype(numpy.uint8).reshape((n,) + shape)


def test_scalar_mean_is_over_all_training_pixels():
    x = _correlated(50, (3, 4, 4), 0)
    assert P.scalar_mean(x).dtype == numpy.float32
    assert P.scalar_mean(x) == pytest.approx(x.astype(numpy.float64).mean(), rel=1e-6)
    out = P.subtract_mean(x, P.scalar_mean(x))
    assert out.dtype == numpy.float32 and abs(out.mean()) < 1e-3


def test_contrast_normalization_unit_std_per_image():
    x = _correlated(300, (3, 5, 5), 1)
    x[7] = 42  # a flat image must not become NaN
    out = P.contrast_normalize(x)
    flat = out.reshape(len(out), -1).astype(numpy.float64)
    assert out.dtype == numpy.float32 and out.shape == x.shape
    numpy.testing.assert_allclose(flat.mean(axis=1), 0, atol=1e-5)
    std = flat.std(axis=1)
    numpy.testing.assert_allclose(numpy.delete(std, 7), 1, atol=1e-5)
    assert numpy.all(flat[7] == 0)


@pytest.mark.parametrize('base', ['image', 'image_norm'])
def test_zca_whitens_training_data(base):
    x = _correlated(2000, (3, 4, 4), 2)
    stats = {'mean': P.scalar_mean(x), 'contrast_eps': P.CONTRAST_EPS}
    train = P.base_transform(x, stats, base)
    zca = P.zca_fit(train, zca_eps=1e-5)
    assert zca['W'].dtype == numpy.float32 and zca['mean'].shape == (48,)
    numpy.testing.assert_allclose(zca['W'], zca['W'].T, atol=1e-4)  # ZCA: symmetric W
    white = P.zca_apply(train.copy(), zca).reshape(len(x), -1).astype(numpy.float64)
    cov = numpy.cov(white, rowvar=False, bias=True)
    if base == 'image_norm':  # contrast norm removes one dimension (per-image mean)
        eig = numpy.linalg.eigvalsh(cov)
        assert eig[0] < 1e-2
        numpy.testing.assert_allclose(eig[1:], 1, atol=2e-2)
    else:
        numpy.testing.assert_allclose(cov, numpy.eye(48), atol=2e-2)
    numpy.testing.assert_allclose(white.mean(axis=0), 0, atol=1e-3)


def test_zca_eps_is_relative_to_mean_variance():
    x = P.subtract_mean(_correlated(500, (1, 4, 4), 3), 128)
    a = P.zca_fit(x, 0.1)
    b = P.zca_fit(x * 10, 0.1)  # scale-free: same whitening of the scaled data
    assert b['eps'] == pytest.approx(a['eps'] * 100, rel=1e-4)
    numpy.testing.assert_allclose(b['W'] * 10, a['W'], rtol=1e-3, atol=1e-4)


def test_gram_path_equals_covariance_path_when_n_below_d():
    x = P.subtract_mean(_correlated(30, (2, 5, 5), 4), 128)
    cov = P.zca_fit(x, 0.01, method='covariance')
    gram = P.zca_fit(x, 0.01)  # N=30 < D=50 picks the N x N Gram matrix
    assert gram['eps'] == pytest.approx(cov['eps'], rel=1e-4)
    numpy.testing.assert_allclose(gram['W'], cov['W'], atol=2e-4 * abs(cov['W']).max())


def test_statistics_come_from_training_split_only():
    train = _correlated(400, (3, 4, 4), 5)
    stats = {'mean': P.scalar_mean(train), 'contrast_eps': P.CONTRAST_EPS, 'zca': {}}
    for base in ('image', 'image_norm'):
        stats['zca'][base + '_zca'] = P.zca_fit(P.base_transform(train, stats, base))
    test = _correlated(7, (3, 4, 4), 6)
    for name in P.PREPROCESSINGS:  # each test image is transformed independently
        whole = P.transform(test, stats, name)
        one = P.transform(test[3:4], stats, name)
        numpy.testing.assert_allclose(whole[3:4], one, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('fit_all', [True, False])
def test_pooled_pieces_equal_one_pass(monkeypatch, fit_all):
    # The data stage runs every row-wise step in pieces on a thread pool; the
    # pieces (small here, so there are many, ending mid-way) must add up to
    # the one-pass result, and the whitening must report every row once.
    monkeypatch.setattr(P, '_CHUNK', 37)
    x_u8 = _correlated(300, (3, 4, 4), 7)
    rows = None if fit_all else numpy.random.RandomState(0).permutation(300)[:250]
    stats = {'mean': P.scalar_mean(x_u8), 'contrast_eps': P.CONTRAST_EPS}
    with P.Workers(3) as pool:
        for base in ('image', 'image_norm'):
            one = P.base_transform(x_u8, stats, base)
            pooled = P.base_transform(x_u8, stats, base, out=numpy.full_like(one, numpy.nan),
                                      pool=pool)
            numpy.testing.assert_array_equal(pooled, one)
            m_one, m_pooled = P.zca_moments(one, rows=rows), P.zca_moments(one, rows=rows, pool=pool)
            again = P.zca_moments(one, rows=rows, pool=pool)  # sums in row order: no timing noise
            numpy.testing.assert_array_equal(again['cov'], m_pooled['cov'])
            numpy.testing.assert_allclose(m_pooled['mean'], m_one['mean'], rtol=1e-6, atol=1e-6)
            numpy.testing.assert_allclose(m_pooled['cov'], m_one['cov'], rtol=1e-4,
                                          atol=1e-5 * abs(m_one['cov']).max())
            zca = P.zca_from_moments(m_one, 0.05)
            finished = []
            P.zca_apply(pooled, zca, pool=pool, done=lambda lo, hi: finished.append((lo, hi)))
            numpy.testing.assert_allclose(pooled, P.zca_apply(one, zca), rtol=1e-5, atol=1e-5)
            assert sorted(r for lo, hi in finished for r in range(lo, hi)) == list(range(300))


def test_transform_of_a_non_contiguous_view_equals_that_of_a_copy():
    # A transposed/strided view (e.g. an NHWC image batch transposed to NCHW)
    # must be normalized like a contiguous array, not silently left unchanged.
    from chainer_compare.data.preprocess import contrast_normalize, subtract_mean
    rng = numpy.random.RandomState(3)
    nhwc = rng.randint(0, 256, size=(4, 8, 8, 3)).astype(numpy.uint8)
    view = nhwc.transpose(0, 3, 1, 2)
    assert not view.flags.c_contiguous
    copy = numpy.ascontiguousarray(view)
    numpy.testing.assert_array_equal(contrast_normalize(view), contrast_normalize(copy))
    numpy.testing.assert_array_equal(subtract_mean(view, 100.0), subtract_mean(copy, 100.0))


def _float64_reference(x_u8, rows, base, zca_eps):
    """The four-step recipe in float64, written independently of preprocess.py."""
    x = x_u8.reshape(len(x_u8), -1).astype(numpy.float64)
    if base == 'image':
        x = x - x[rows].mean()
    else:
        x = x - x.mean(axis=1, keepdims=True)
        x /= numpy.maximum(numpy.sqrt((x ** 2).mean(axis=1, keepdims=True)), P.CONTRAST_EPS)
    mu = x[rows].mean(axis=0)
    lam, u = numpy.linalg.eigh(numpy.cov(x[rows], rowvar=False, bias=True))
    lam = numpy.clip(lam, 0, None)
    w = (u / numpy.sqrt(lam + zca_eps * lam.mean())) @ u.T
    return x, (x - mu) @ w


@pytest.mark.parametrize('base', ['image', 'image_norm'])
def test_float32_pipeline_matches_a_float64_reference(base):
    # The stage's steps (uint8 -> float32 base, moments of the fitted rows with
    # float32 SYRK, float32 eigh, in-place GEMM whitening) agree with float64
    # to float32 rounding, amplified at most by the whitening's conditioning.
    from chainer_compare.data import split as data_split
    x = _correlated(900, (3, 6, 6), 8)  # N > D: the covariance path
    rows = data_split.fit_indices(len(x), data_split.FIT_TRAIN_MINUS_VALIDATION)
    stats = {'mean': P.scalar_mean(x, rows), 'contrast_eps': P.CONTRAST_EPS}
    out = P.base_transform(x, stats, base)
    ref_base, ref_white = _float64_reference(x, rows, base, 0.01)
    numpy.testing.assert_allclose(out.reshape(len(x), -1), ref_base, rtol=0,
                                  atol=1e-6 * abs(ref_base).max())
    zca = P.zca_from_moments(P.zca_moments(out, rows=rows), 0.01)
    white = P.zca_apply(out, zca).reshape(len(x), -1)
    assert white.dtype == numpy.float32
    numpy.testing.assert_allclose(white, ref_white, rtol=0, atol=2e-5 * abs(ref_white).max())
