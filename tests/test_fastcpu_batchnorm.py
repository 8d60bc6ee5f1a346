"""The fast CPU batch normalization against ``chainer.functions.batch_normalization``.

Outputs, all three gradients and the running statistics match Chainer in
float32 on channels-last and NCHW-contiguous inputs (the two layouts the fast
convolution returns); the gradients pass ``check_backward`` in float64; other
layouts, evaluation and the switch off go to Chainer unchanged.
"""
import chainer
import chainer.functions as F
import numpy
import pytest
from chainer import gradient_check

from chainer_compare import fastcpu
from chainer_compare.fastcpu import _bn_kernels, batchnorm
from chainer_compare.models import ops
from fastcpu_support import assert_close, compare_with_chainer

# (name, N, C, H, W): cnnbn's three layers, vgg's last stages, residual's
# 16/32-channel stages, odd shapes
CASES = [
    ('residual-16', 8, 16, 32, 32),
    ('residual-32', 8, 32, 16, 16),
    ('cnnbn-1', 8, 64, 32, 32),
    ('cnnbn-2', 8, 64, 16, 16),
    ('cnnbn-3', 8, 128, 8, 8),
    ('vgg-4x4', 8, 256, 4, 4),
    ('vgg-2x2', 4, 256, 2, 2),
    ('odd', 3, 65, 7, 5),
    ('batch-1', 1, 64, 3, 3),
]


def channels_last(shape, dtype, seed=0, scale=3.0, shift=2.0):
    """An NCHW-shaped view of NHWC memory, away from zero mean and unit variance."""
    n, c, h, w = shape
    rng = numpy.random.RandomState(seed)
    nhwc = (rng.standard_normal((n, h, w, c)) * scale + shift).astype(dtype)
    return nhwc.transpose(0, 3, 1, 2)


def in_layout(layout, shape, dtype, **kwargs):
    x = channels_last(shape, dtype, **kwargs)
    return x if layout == 'channels-last' else numpy.ascontiguousarray(x)


LAYOUTS = ['channels-last', 'nchw']


def params(c, dtype, seed=1):
    rng = numpy.random.RandomState(seed)
    return (rng.uniform(0.5, 1.5, c).astype(dtype), rng.standard_normal(c).astype(dtype))


@pytest.mark.parametrize('relu', [False, True], ids=['bn', 'bn+relu'])
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_matches_chainer_outputs_gradients_and_running_statistics(case, layout, relu,
                                                                  fastcpu_backend):
    _, n, c, h, w = case
    x = in_layout(layout, (n, c, h, w), numpy.float32)
    gamma, beta = params(c, numpy.float32)
    assert batchnorm.applies(x, gamma)
    stats = {}
    for name in ('fast', 'stock'):
        stats[name] = (numpy.full(c, 0.5, numpy.float32), numpy.full(c, 2.0, numpy.float32))
    compare_with_chainer(
        lambda *v: fastcpu.batch_normalization(*v, eps=2e-5, running_mean=stats['fast'][0],
                                               running_var=stats['fast'][1], decay=0.9,
                                               relu=relu),
        lambda *v: (F.relu if relu else F.identity)(F.batch_normalization(
            *v, eps=2e-5, running_mean=stats['stock'][0], running_var=stats['stock'][1],
            decay=0.9)),
        (x, gamma, beta))
    assert_close(stats['fast'][0], stats['stock'][0], rtol=1e-5)
    assert_close(stats['fast'][1], stats['stock'][1], rtol=1e-5)


@pytest.mark.parametrize('layout', LAYOUTS)
def test_output_is_normalized_per_channel(layout, fastcpu_backend):
    x = in_layout(layout, (4, 64, 6, 6), numpy.float32)
    gamma, beta = numpy.ones(64, numpy.float32), numpy.zeros(64, numpy.float32)
    y = fastcpu.batch_normalization(x, gamma, beta).array
    assert y.shape == x.shape
    numpy.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    numpy.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-3)


@pytest.mark.parametrize('layout', LAYOUTS)
def test_gradient_check_float64(layout):
    x = in_layout(layout, (2, 64, 3, 4), numpy.float64)
    gamma, beta = params(64, numpy.float64)
    gy = numpy.random.RandomState(2).standard_normal(x.shape)
    gradient_check.check_backward(
        lambda *v: fastcpu.batch_normalization(*v, eps=1e-5), (x, gamma, beta), gy,
        dtype=numpy.float64, atol=1e-6, rtol=1e-5)


def test_other_layouts_fall_back_to_chainer():
    gamma, beta = params(16, numpy.float32)
    strided = numpy.ascontiguousarray(channels_last((2, 16, 4, 8), numpy.float32))[..., ::2]
    assert not batchnorm.applies(strided, gamma)
    y = fastcpu.batch_normalization(strided, gamma, beta)
    assert type(y.creator).__module__.startswith('chainer.')
    assert not batchnorm.applies(numpy.zeros((4, 16), numpy.float32), gamma)
    assert not batchnorm.applies(numpy.zeros((2, 16, 4, 4), numpy.float32),
                                 numpy.zeros(16, numpy.float64))


@pytest.mark.parametrize('layout', LAYOUTS)
def test_double_backward_raises_clear_error(layout, fastcpu_backend):
    x = chainer.Variable(in_layout(layout, (2, 64, 3, 3), numpy.float32))
    gamma, beta = params(64, numpy.float32)
    y = F.sum(fastcpu.batch_normalization(x, gamma, beta) ** 2)
    gx, = chainer.grad([y], [x], enable_double_backprop=True)
    with pytest.raises(NotImplementedError, match='double backward.*fast_cpu'):
        F.sum(gx).backward()


def test_link_takes_fast_path_only_when_training_on_cpu_with_the_switch_on(fastcpu_backend):
    fast_nodes = (batchnorm.BatchNormalization, _bn_kernels.BatchNormalizationKernels)
    link = ops.BatchNormalization(64)
    x = channels_last((2, 64, 4, 4), numpy.float32)
    with chainer.using_config('train', True), chainer.using_config('fast_cpu', True):
        node = link(x).creator
        assert isinstance(node, fast_nodes[fastcpu_backend == 'kernels'])
        assert link.avg_mean.any()  # running statistics were updated
        relu_node = ops.batch_normalization_relu(link, x).creator
        # The kernels fuse the ReLU into the node; without them it is Chainer's ReLU.
        assert isinstance(relu_node, fast_nodes[1]) == (fastcpu_backend == 'kernels')
    with chainer.using_config('train', True), chainer.using_config('fast_cpu', False):
        assert not isinstance(link(x).creator, fast_nodes)
    with chainer.using_config('train', False), chainer.using_config('fast_cpu', True):
        assert not isinstance(link(x).creator, fast_nodes)
    # The same persistent values and parameters as Chainer's link.
    assert sorted(n for n, _ in link.namedparams()) == ['/beta', '/gamma']
    assert set(link._persistent) == {'N', 'avg_mean', 'avg_var'}


@pytest.mark.requires('kernels')
def test_relu_mask_recomputed_in_backward_is_exactly_the_forward_one():
    """Backward masks g with x * scale + shift > 0 recomputed from x; it must
    agree with y > 0 of the forward pass on every element, borderline ones too."""
    from chainer_compare.fastcpu import _native
    rng = numpy.random.RandomState(0)
    c, rows = 16, 4096
    scale = rng.uniform(0.1, 3, c).astype(numpy.float32)
    shift = rng.standard_normal(c).astype(numpy.float32)
    # Inputs within a few ulps of the ReLU's threshold -shift / scale.
    threshold = -shift / scale
    x = (threshold * (1 + rng.randint(-8, 9, (rows, c)) * numpy.float32(2 ** -23))
         ).astype(numpy.float32)
    y = numpy.empty_like(x)
    _native.run('bn_apply', rows, x, y, scale, shift, c, 1)
    gy = rng.standard_normal((rows, c)).astype(numpy.float32)
    one, zero = numpy.ones(c, numpy.float32), numpy.zeros(c, numpy.float32)
    gx = numpy.empty_like(x)  # a*g + b*x + d with a = 1, b = d = 0: the masked g itself
    _native.run('bn_grad_apply', rows, gy, x, scale, shift, gx, one, zero, zero, c)
    assert 0.2 < (y > 0).mean() < 0.8  # the borderline cases are there
    numpy.testing.assert_array_equal(gx, numpy.where(y > 0, gy, 0))


@pytest.mark.requires('kernels')
@pytest.mark.parametrize('case', [(16, 16, 32, 3, 1, 1), (16, 32, 32, 3, 2, 1), (64, 128, 8, 5, 1, 2),
                                  (3, 64, 32, 3, 1, 1), (256, 256, 7, 3, 1, 1)],
                         ids=lambda c: 'x'.join(map(str, c)))
@pytest.mark.parametrize('relu', [True, False], ids=['relu', 'linear'])
@pytest.mark.parametrize('with_bias', [True, False], ids=['bias', 'nobias'])
def test_convolution_with_folded_normalization_matches_the_two_functions(case, relu, with_bias):
    """Evaluation: BN folded into the convolution's weights and bias, ReLU in its
    store, equals Chainer's convolution then fixed BN (then ReLU)."""
    from fastcpu_support import conv_arrays
    c_in, c_out, size, k, stride, pad = case
    x, W, b = conv_arrays(c_in, c_out, size, k, numpy.float32, n=3)
    b = b if with_bias else None
    rng = numpy.random.RandomState(5)
    gamma, beta, mean = (rng.standard_normal(c_out).astype(numpy.float32) for _ in range(3))
    var = rng.uniform(0.2, 2, c_out).astype(numpy.float32)
    expected = F.fixed_batch_normalization(F.convolution_2d(x, W, b, stride, pad),
                                           gamma, beta, mean, var, eps=2e-5)
    expected = (F.relu(expected) if relu else expected).array
    with chainer.no_backprop_mode():
        y = fastcpu.convolution_inference(x, W, b, gamma, beta, mean, var, 2e-5, stride, pad,
                                          relu)
    assert y.creator is None and y.shape == expected.shape
    assert_close(y.array, expected)
    # With backprop on there is no graph to build here: the caller runs the two nodes.
    assert fastcpu.convolution_inference(x, W, b, gamma, beta, mean, var, 2e-5, stride, pad,
                                         relu) is None
