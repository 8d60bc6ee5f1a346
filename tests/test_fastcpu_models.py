"""The registered models on the fast CPU path against stock Chainer, and make bench.

A registry-wide test records every conv/pool call each model actually makes
and replays it against ``chainer.functions``; gradients of whole models agree
with the fast path on and off; the bench script runs end to end.
"""
import chainer
import chainer.functions as F
import numpy
import pytest

from chainer_compare import fastcpu
from chainer_compare.fastcpu import conv as fast_conv
from chainer_compare.models import create_model, list_models, ops
from fastcpu_support import assert_close, compare_with_chainer, conv_arrays


def test_ops_dispatch_follows_fast_cpu_switch():
    x, W, b = conv_arrays(3, 4, 8, 3, numpy.float32)
    with chainer.using_config('fast_cpu', True):
        assert isinstance(ops.convolution_2d(x, W, b, pad=1).creator, fast_conv.Convolution2D)
        assert type(ops.max_pooling_2d(x, 2).creator).__module__.startswith('chainer_compare')
    with chainer.using_config('fast_cpu', False):
        assert not isinstance(ops.convolution_2d(x, W, b, pad=1).creator,
                              fast_conv.Convolution2D)
        assert type(ops.max_pooling_2d(x, 2).creator).__module__.startswith('chainer.')


def record_model_calls(monkeypatch, name, in_channels, size):
    """Every (function, input shape, args) the model sends to fastcpu in one training step."""
    calls = {}
    for fn_name in ('convolution_2d', 'max_pooling_2d', 'average_pooling_2d', 'linear'):
        original = getattr(fastcpu, fn_name)

        def recorder(x, *args, _fn_name=fn_name, _original=original, **kwargs):
            extra = tuple(a.shape if hasattr(a, 'shape') else a for a in args)
            key = (_fn_name, x.shape[1:], repr(extra), repr(sorted(kwargs.items())))
            calls.setdefault(key, (_fn_name, x.shape[1:], args, kwargs))
            return _original(x, *args, **kwargs)
        monkeypatch.setattr(fastcpu, fn_name, recorder)
    numpy.random.seed(0)
    model = create_model(name, in_channels=in_channels, image_size=size, n_classes=10,
                         res_depth=1)
    x = numpy.random.standard_normal((2, in_channels, size, size)).astype(numpy.float32)
    with chainer.using_config('train', True), chainer.using_config('fast_cpu', True):
        F.sum(model(x)).backward()
    monkeypatch.undo()
    return list(calls.values())


@pytest.mark.parametrize('name', list_models())
@pytest.mark.parametrize('in_channels,size', [(3, 32), (1, 28)], ids=['cifar', 'mnist'])
def test_every_call_of_registered_models_matches_chainer(monkeypatch, name, in_channels, size):
    calls = record_model_calls(monkeypatch, name, in_channels, size)
    assert any(fn == 'convolution_2d' for fn, _, _, _ in calls), 'model did not use ops'
    rng = numpy.random.RandomState(0)
    for fn_name, in_shape, args, kwargs in calls:
        x = rng.standard_normal((1,) + tuple(in_shape)).astype(numpy.float32)
        if fn_name == 'convolution_2d':
            W = args[0]
            W = W.array if isinstance(W, chainer.Variable) else W
            b = args[1] if len(args) > 1 else kwargs.get('b')
            arrays = (x, W.copy()) if b is None else (x, W.copy(), numpy.asarray(
                b.array if isinstance(b, chainer.Variable) else b).copy())
            compare_with_chainer(lambda *v: fastcpu.convolution_2d(*v, **kwargs),
                                 lambda *v: F.convolution_2d(*v, **kwargs), arrays)
        else:
            compare_with_chainer(
                lambda v: getattr(fastcpu, fn_name)(v, *args, **kwargs),
                lambda v: getattr(F, fn_name)(v, *args, **kwargs), (x,))


# The models whose BN layers take the fast path (cnnbn, elu_cnn, residual's
# 64-channel stage) and plain cnn.  vgg is left to the per-layer tests: the
# batch statistics of its 2x2 maps over 4 images amplify float32 rounding past
# any fixed elementwise tolerance, in stock Chainer as on the fast path.
WHOLE_MODEL_CASES = ['cnn', 'cnnbn', 'elu_cnn', 'residual']
BATCH = 4


@pytest.mark.parametrize('name', WHOLE_MODEL_CASES)
def test_model_gradients_and_bn_statistics_equal_with_fast_path_on_and_off(name):
    """One training step per model: loss, every gradient and every BN running statistic."""
    numpy.random.seed(0)
    model = create_model(name, in_channels=3, image_size=32, n_classes=10, res_depth=1)
    initial = {path: value.copy() for path, value in _persistents(model)}
    rng = numpy.random.RandomState(1)
    x = rng.standard_normal((BATCH, 3, 32, 32)).astype(numpy.float32)
    t = rng.randint(0, 10, size=BATCH).astype(numpy.int32)
    results = []
    for fast in (True, False):
        model.cleargrads()
        for path, value in _persistents(model):
            value[...] = initial[path]
        numpy.random.seed(2)  # same dropout masks and stochastic-depth draws
        with chainer.using_config('train', True), chainer.using_config('fast_cpu', fast):
            loss = F.softmax_cross_entropy(model(x), t)
            loss.backward()
        results.append((float(loss.array),
                        {path: p.grad.copy() for path, p in model.namedparams()},
                        {path: value.copy() for path, value in _persistents(model)}))
    (loss_fast, grads_fast, stats_fast), (loss_stock, grads_stock, stats_stock) = results
    assert loss_fast == pytest.approx(loss_stock, rel=1e-4)
    for path, grad in grads_stock.items():
        assert_close(grads_fast[path], grad, rtol=2e-3)
    for path, value in stats_stock.items():
        assert_close(stats_fast[path], value, rtol=1e-4)
    if any(isinstance(link, ops.BatchNormalization) for link in model.links()):
        assert any(not numpy.array_equal(stats_fast[path], initial[path]) for path in initial)


def _persistents(model):
    """(path, array) of every float running statistic (BN avg_mean/avg_var)."""
    for path, link in model.namedlinks():
        for name in sorted(link._persistent):
            value = getattr(link, name)
            if isinstance(value, numpy.ndarray) and value.dtype.kind == 'f':
                yield path + '/' + name, value


def test_max_pooling_with_huge_window_falls_back_to_chainer():
    # The winner index per axis is uint8: a window side over 255 goes to Chainer.
    x = numpy.random.RandomState(0).standard_normal((1, 2, 2, 300)).astype(numpy.float32)
    y = fastcpu.max_pooling_2d(x, (1, 280), 1)
    assert not type(y.creator).__module__.startswith('chainer_compare')
    assert_close(y.array, F.max_pooling_2d(x, (1, 280), 1).array)
    y = fastcpu.max_pooling_2d(x, (2, 255), 1)
    assert type(y.creator).__module__.startswith('chainer_compare')


@pytest.mark.parametrize('name', list_models())
def test_evaluation_outputs_equal_with_fast_path_on_and_off(name, fastcpu_backend):
    """Test-mode forward under no_backprop_mode (the Evaluator's), every registered model."""
    numpy.random.seed(0)
    model = create_model(name, in_channels=3, image_size=32, n_classes=10, res_depth=1)
    rng = numpy.random.RandomState(3)
    for _, value in _persistents(model):  # running statistics away from 0 / 1
        value[...] = rng.uniform(0.5, 1.5, value.shape) if value.min() > 0 else \
            rng.standard_normal(value.shape)
    x = rng.standard_normal((BATCH, 3, 32, 32)).astype(numpy.float32)
    outputs = []
    for fast in (True, False):
        with chainer.using_config('train', False), chainer.using_config('fast_cpu', fast), \
                chainer.no_backprop_mode():
            outputs.append(model(x).array)
    assert_close(outputs[0], outputs[1], rtol=1e-4)
