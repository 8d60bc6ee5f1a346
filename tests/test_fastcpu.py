"""The fast CPU convolution/pooling path against stock Chainer.

Every variant passes ``chainer.gradient_check.check_backward`` in float64 and
matches ``chainer.functions`` (outputs and all gradients) in float32, over the
shapes the registered models use.  test_fastcpu_models.py checks the models
themselves against Chainer.
"""
import chainer
import chainer.functions as F
import numpy
import pytest
from chainer import gradient_check

from chainer_compare import fastcpu
from chainer_compare.fastcpu import _workspace, conv as fast_conv
from fastcpu_support import (assert_close, compare_with_chainer, conv_arrays, distinct_values,
                             ids)

# (name, in_channels, out_channels, size, ksize, stride, pad)
CONV_CASES = [
    ('cnn-conv1', 3, 64, 32, 5, 1, 2),
    ('cnn-conv2', 64, 64, 16, 5, 1, 2),
    ('cnn-conv3', 64, 128, 8, 5, 1, 2),
    ('mnist-conv1', 1, 64, 28, 5, 1, 2),
    ('vgg-3x3', 64, 64, 16, 3, 1, 1),
    ('vgg-3x3-odd', 128, 256, 7, 3, 1, 1),
    ('residual-s1', 16, 16, 32, 3, 1, 1),
    ('residual-s2', 16, 32, 32, 3, 2, 1),
    ('residual-s2-odd', 32, 64, 13, 3, 2, 1),
    ('allconv-1x1', 192, 10, 8, 1, 1, 0),
    ('allconv-s2', 96, 96, 16, 3, 2, 1),
    ('keras-valid', 32, 64, 26, 3, 1, 0),
    ('1x1-stride2', 8, 16, 9, 1, 2, 0),
    # Data-gradient phases (16k input channels, so the kernels run them): a
    # kernel smaller than the stride, stride 3, even kernels, pad >= kernel.
    ('phases-1x1-s2', 16, 16, 9, 1, 2, 0),
    ('phases-4x4-s2', 16, 16, 10, 4, 2, 0),
    ('phases-5x5-s2', 16, 32, 12, 5, 2, 2),
    ('phases-3x3-s3', 32, 16, 11, 3, 3, 2),
    ('phases-pad-over-k', 16, 16, 6, 3, 1, 3),
]
# (name, size, ksize, stride, pad, cover_all)
MAX_POOL_CASES = [
    ('cnn-3x3s2-32', 32, 3, 2, 0, True),
    ('cnn-3x3s2-16', 16, 3, 2, 0, True),
    ('cnn-3x3s2-8', 8, 3, 2, 0, True),
    ('cnn-3x3s2-7', 7, 3, 2, 0, True),
    ('2x2-cover', 7, 2, 2, 0, True),
    ('2x2-floor', 7, 2, 2, 0, False),
    ('2x2-even', 16, 2, None, 0, True),
    ('3x3s2-pad', 9, 3, 2, 1, False),
    ('3x3s2-pad-cover', 8, 3, 2, 1, True),
    ('3x3s3-pad', 9, 3, 3, 1, True),
]
# (name, size, ksize, stride, pad)
AVG_POOL_CASES = [
    ('global-8', 8, 8, None, 0),
    ('global-7', 7, 7, None, 0),
    ('shortcut-1x1s2', 32, 1, 2, 0),
    ('shortcut-1x1s2-odd', 7, 1, 2, 0),
    ('3x3s2-pad', 9, 3, 2, 1),
    ('2x2', 8, 2, None, 0),
]


@pytest.mark.parametrize('case', CONV_CASES, ids=ids(CONV_CASES))
@pytest.mark.parametrize('with_bias', [True, False], ids=['bias', 'nobias'])
def test_convolution_matches_chainer(case, with_bias, fastcpu_backend):
    _, c_in, c_out, size, ksize, stride, pad = case
    x, W, b = conv_arrays(c_in, c_out, size, ksize, numpy.float32)
    arrays = (x, W, b) if with_bias else (x, W)
    compare_with_chainer(
        lambda *v: fastcpu.convolution_2d(*v, stride=stride, pad=pad),
        lambda *v: F.convolution_2d(*v, stride=stride, pad=pad), arrays)


@pytest.mark.parametrize('case', CONV_CASES, ids=ids(CONV_CASES))
def test_convolution_gradient_check(case):
    _, c_in, c_out, size, ksize, stride, pad = case
    # Fewer channels than the model layer: the numerical check is O(size of input).
    c_in, c_out = min(c_in, 6), min(c_out, 5)
    x, W, b = conv_arrays(c_in, c_out, size, ksize, numpy.float64)
    out_size = (size + 2 * pad - ksize) // stride + 1
    gy = numpy.random.RandomState(1).standard_normal((2, c_out, out_size, out_size))
    gradient_check.check_backward(
        lambda *v: fastcpu.convolution_2d(*v, stride=stride, pad=pad),
        (x, W, b), gy, eps=1e-3, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('case', CONV_CASES, ids=ids(CONV_CASES))
def test_convolution_adds_the_input_gradient_accumulated_so_far(case, fastcpu_backend,
                                                                monkeypatch):
    """x also feeds a node that backward reaches first (as a residual block's input
    feeds its shortcut): the kernels add that gradient in their data-gradient pass
    (``backward_accumulate``), and every gradient still matches Chainer's."""
    _, c_in, c_out, size, ksize, stride, pad = case
    x, W, b = conv_arrays(c_in, c_out, size, ksize, numpy.float32)
    accumulated = []
    data_gradient = fast_conv._direct.data_gradient

    def spy(gy, W, stride, pad, in_hw, acc=None):
        accumulated.append(acc is not None)
        return data_gradient(gy, W, stride, pad, in_hw, acc)
    monkeypatch.setattr(fast_conv._direct, 'data_gradient', spy)

    def net(convolution):
        def forward(x, W, b):
            y = convolution(x, W, b, stride=stride, pad=pad)
            return x * F.broadcast_to(F.tanh(F.mean(y)), x.shape)  # ranked after the conv
        return forward
    compare_with_chainer(net(fastcpu.convolution_2d), net(F.convolution_2d), (x, W, b))
    assert all(accumulated)  # whenever the kernels computed the data gradient
    if fastcpu_backend == 'kernels' and fast_conv._direct.data_gradient_applies(W, W):
        assert accumulated  # (W stands in for gy: float32 is all that is asked of it)


@pytest.mark.parametrize('c_out', [8, 64])
def test_convolution_accepts_any_input_layout(c_out, fastcpu_backend):
    x, W, b = conv_arrays(4, c_out, 9, 3, numpy.float32)
    expected = F.convolution_2d(x, W, b, pad=1).array
    channels_last = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    strided = numpy.repeat(x, 2, axis=3)[:, :, :, ::2]
    for variant in (x, channels_last, strided):
        y = fastcpu.convolution_2d(variant, W, b, pad=1).array
        assert_close(y, expected)
        if c_out > fast_conv.NCHW_OUTPUT_MAX_CHANNELS or fastcpu_backend == 'kernels':
            # NHWC memory behind an NCHW view: the next fast layer needs no conversion.
            assert y.transpose(0, 2, 3, 1).flags.c_contiguous
        else:
            assert y.flags.c_contiguous  # few channels: NCHW for Chainer's BN


def test_scratch_buffers_are_reused_not_leaked():
    x, W, b = conv_arrays(64, 64, 16, 5, numpy.float32, n=8)
    _workspace.clear()
    # The im2col + GEMM path; patches go straight back to the pool.
    with chainer.no_backprop_mode(), chainer.using_config('fast_cpu_kernels', False):
        first = fastcpu.convolution_2d(x, W, b, pad=2).array
        idle = _workspace.idle_bytes()
        for _ in range(3):
            again = fastcpu.convolution_2d(x, W, b, pad=2).array
    assert idle >= 8 * 16 * 16 * 25 * 64 * 4 and _workspace.idle_bytes() == idle
    numpy.testing.assert_array_equal(first, again)
    _workspace.clear()
    assert _workspace.idle_bytes() == 0


def test_convolution_without_input_gradient_skips_it(fastcpu_backend):
    x, W, b = conv_arrays(3, 16, 8, 3, numpy.float32)
    x_var = chainer.Variable(x, requires_grad=False)
    W_var, b_var = chainer.Variable(W), chainer.Variable(b)
    y = fastcpu.convolution_2d(x_var, W_var, b_var, pad=1)
    F.sum(y * y).backward()
    assert x_var.grad is None
    stock = F.convolution_2d(x, chainer.Variable(W), b, pad=1)
    assert_close(y.array, stock.array)
    assert W_var.grad.shape == W.shape and b_var.grad.shape == b.shape


def test_convolution_rebuilds_patches_when_not_kept(monkeypatch):
    monkeypatch.setattr(fast_conv, 'KEEP_PATCHES_MAX_BYTES', 0)
    x, W, b = conv_arrays(4, 6, 9, 3, numpy.float32)
    compare_with_chainer(lambda *v: fastcpu.convolution_2d(*v, pad=1),
                         lambda *v: F.convolution_2d(*v, pad=1), (x, W, b))


def test_convolution_backward_twice_gives_same_gradient(fastcpu_backend):
    x, W, b = conv_arrays(16, 32, 8, 3, numpy.float32)
    W_var = chainer.Variable(W)
    y = F.sum(fastcpu.convolution_2d(x, W_var, b, pad=1) ** 2)
    y.backward()
    first = W_var.grad.copy()
    W_var.cleargrad()
    y.backward()
    assert_close(W_var.grad, first)


def test_convolution_bad_shapes_are_a_clear_error():
    x, W, _ = conv_arrays(3, 4, 8, 3, numpy.float32)
    with pytest.raises(ValueError, match='expected x'):
        fastcpu.convolution_2d(x[:, :2], W)
    with pytest.raises(ValueError, match='does not fit'):
        fastcpu.convolution_2d(x[:, :, :2, :2], W)


# --- pooling --------------------------------------------------------------

@pytest.mark.parametrize('channels', [5, 16, 'channels-last-16'])
@pytest.mark.parametrize('case', MAX_POOL_CASES, ids=ids(MAX_POOL_CASES))
def test_max_pooling_matches_chainer(case, channels, fastcpu_backend):
    _, size, ksize, stride, pad, cover_all = case
    c = 16 if channels != 5 else 5  # the kernels need a multiple of 8 channels
    x = numpy.random.RandomState(0).standard_normal((2, c, size, size)).astype(numpy.float32)
    x[0, 0, :3, :3] = 1.0  # ties: the first maximum in the window gets the gradient
    x[1, 3, :, :] = -2.0  # ties everywhere in one channel
    if channels == 'channels-last-16':
        x = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    compare_with_chainer(
        lambda v: fastcpu.max_pooling_2d(v, ksize, stride, pad, cover_all=cover_all),
        lambda v: F.max_pooling_2d(v, ksize, stride, pad, cover_all=cover_all), (x,))


@pytest.mark.parametrize('case', MAX_POOL_CASES, ids=ids(MAX_POOL_CASES))
def test_max_pooling_gradient_check(case):
    _, size, ksize, stride, pad, cover_all = case
    rng = numpy.random.RandomState(0)
    x = distinct_values((2, 3, size, size), rng, numpy.float64)
    y = F.max_pooling_2d(x, ksize, stride, pad, cover_all=cover_all)
    gy = rng.standard_normal(y.shape)
    gradient_check.check_backward(
        lambda v: fastcpu.max_pooling_2d(v, ksize, stride, pad, cover_all=cover_all),
        x, gy, eps=1e-3, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('case', AVG_POOL_CASES, ids=ids(AVG_POOL_CASES))
def test_average_pooling_matches_chainer(case):
    _, size, ksize, stride, pad = case
    x = numpy.random.RandomState(0).standard_normal((2, 5, size, size)).astype(numpy.float32)
    compare_with_chainer(lambda v: fastcpu.average_pooling_2d(v, ksize, stride, pad),
                         lambda v: F.average_pooling_2d(v, ksize, stride, pad), (x,))


@pytest.mark.parametrize('case', AVG_POOL_CASES, ids=ids(AVG_POOL_CASES))
def test_average_pooling_gradient_check(case):
    _, size, ksize, stride, pad = case
    rng = numpy.random.RandomState(0)
    x = rng.standard_normal((2, 3, size, size))
    gy = rng.standard_normal(F.average_pooling_2d(x, ksize, stride, pad).shape)
    gradient_check.check_backward(
        lambda v: fastcpu.average_pooling_2d(v, ksize, stride, pad),
        x, gy, eps=1e-3, atol=1e-6, rtol=1e-5)


def test_average_pooling_divides_by_full_window_including_padding():
    x = numpy.ones((1, 1, 3, 3), numpy.float32)
    y = fastcpu.average_pooling_2d(x, 3, 1, 1).array
    assert y[0, 0, 0, 0] == pytest.approx(4 / 9)  # corner: 4 real pixels of 9
    assert y[0, 0, 1, 1] == pytest.approx(1.0)


def test_max_pooling_cover_all_shape_matches_seed_cnn():
    # Seed 004's CNN: 32 -> 16 -> 8 -> 4 with 3x3 stride-2 pooling and cover_all.
    h = numpy.zeros((1, 2, 32, 32), numpy.float32)
    for expected in (16, 8, 4):
        h = fastcpu.max_pooling_2d(h, 3, 2).array
        assert h.shape[2:] == (expected, expected)


# --- double backward, dispatch, registered models --------------------------

@pytest.mark.parametrize('fn', [
    lambda x, W: fastcpu.convolution_2d(x, W, pad=1),
    lambda x, W: fastcpu.max_pooling_2d(x, 3, 2),
    lambda x, W: fastcpu.average_pooling_2d(x, 2),
], ids=['conv', 'max', 'avg'])
def test_double_backward_raises_clear_error(fn):
    x, W, _ = conv_arrays(3, 3, 6, 3, numpy.float32)
    x_var = chainer.Variable(x)
    y = F.sum(fn(x_var, W) ** 2)
    gx, = chainer.grad([y], [x_var], enable_double_backprop=True)
    with pytest.raises(NotImplementedError, match='double backward.*fast_cpu'):
        F.sum(gx).backward()


def test_an_empty_batch_passes_through(fastcpu_backend):
    x = chainer.Variable(numpy.zeros((0, 16, 8, 8), numpy.float32))
    W = chainer.Variable(numpy.ones((16, 16, 3, 3), numpy.float32))
    y = fastcpu.max_pooling_2d(fastcpu.convolution_2d(x, W, None, pad=1), 2)
    assert y.shape == (0, 16, 4, 4)
    y.grad = numpy.zeros(y.shape, numpy.float32)
    y.backward()
    assert x.grad.shape == x.shape and not W.grad.any()


@pytest.mark.parametrize('pads', [((1, 1), (1, 1)), ((0, 2), (3, 0)), ((2, 0), (0, 1))])
@pytest.mark.parametrize('value', [0, -numpy.inf])
def test_padding_writes_border_and_interior(pads, value, fastcpu_backend):
    from chainer_compare.fastcpu import _layout
    x = numpy.random.RandomState(0).standard_normal((3, 8, 5, 6)).astype(numpy.float32)
    channels_last = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    (top, left), (bottom, right) = pads
    expected = numpy.pad(x.transpose(0, 2, 3, 1), ((0, 0), (top, bottom), (left, right), (0, 0)),
                         constant_values=value)
    for variant in (x, channels_last):
        out = _layout.padded_nhwc(variant, *pads, value=value)
        assert out.flags.c_contiguous
        numpy.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize('rows', [7, 513, 2000])
def test_split_gemms_equal_one_matmul(rows):
    rng = numpy.random.RandomState(0)
    a = rng.standard_normal((rows, 40)).astype(numpy.float32)
    b = rng.standard_normal((40, 24)).astype(numpy.float32)
    g = rng.standard_normal((rows, 24)).astype(numpy.float32)
    assert_close(fast_conv.gemm(a, b), a @ b)
    out = numpy.empty((rows, 24), numpy.float32)
    assert fast_conv.gemm(a, b, out=out) is out
    assert_close(out, a @ b)
    assert_close(fast_conv.gemm_reduce(a.T, g), a.T @ g)
    assert_close(fast_conv.gemm_reduce(numpy.ones(rows, numpy.float32), g), g.sum(axis=0))
    wide = rng.standard_normal((40, 1500)).astype(numpy.float32)  # split along columns
    assert_close(fast_conv.gemm(a, wide), a @ wide)


@pytest.mark.parametrize('n,n_in,n_out', [(3, 20, 7), (600, 64, 530)])
@pytest.mark.parametrize('with_bias', [True, False], ids=['bias', 'nobias'])
def test_linear_matches_chainer(n, n_in, n_out, with_bias):
    rng = numpy.random.RandomState(0)
    x = rng.standard_normal((n, n_in)).astype(numpy.float32)
    W = rng.standard_normal((n_out, n_in)).astype(numpy.float32)
    b = rng.standard_normal(n_out).astype(numpy.float32)
    compare_with_chainer(fastcpu.linear, F.linear, (x, W, b) if with_bias else (x, W))


def test_linear_gradient_check_and_fallbacks():
    rng = numpy.random.RandomState(0)
    x, W, b = (rng.standard_normal(shape) for shape in ((4, 6), (5, 6), (5,)))
    gradient_check.check_backward(fastcpu.linear, (x, W, b), rng.standard_normal((4, 5)),
                                  eps=1e-3, atol=1e-6, rtol=1e-5)
    # Mixed dtypes go to Chainer, whose type check names the mismatch.
    with pytest.raises(chainer.utils.type_check.InvalidType):
        fastcpu.linear(x.astype(numpy.float32), W, b)


@pytest.mark.parametrize('splitter', ['python threads', 'kernel pool'])
def test_split_batch_returns_chunks_in_order_and_raises_their_errors(splitter):
    from chainer_compare.fastcpu import _native, _threads
    if splitter == 'kernel pool' and _native.library() is None:
        pytest.skip('compiled kernels unavailable')
    split_batch = _threads.split_batch if splitter == 'python threads' else _native.split_batch
    for n in (0, 1, 5, 1000):
        chunks = split_batch(n, lambda lo, hi: (lo, hi))
        assert chunks[0][0] == 0 and chunks[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))

    def failing(lo, hi):  # the last chunk fails (the only one on one thread)
        if hi == 1000:
            raise ValueError('chunk {}'.format(lo))
        return lo
    with pytest.raises(ValueError, match='chunk'):
        split_batch(1000, failing)
    assert sum(hi - lo for lo, hi in split_batch(77, lambda lo, hi: (lo, hi))) == 77
