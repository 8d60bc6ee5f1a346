"""Every dtype combination Chainer accepts trains the same with the fast CPU path on and off.

Where the fast path's NumPy products would promote a mixed-dtype convolution
(float64 images into a float32 model, float16 weights), it hands the call to
Chainer, so the outcome is Chainer's: the same values, or the same
type-check error at the forward pass, never a crash in backward.
"""
import itertools

import chainer
import chainer.functions as F
import numpy
import pytest

from chainer_compare.models import create_model, ops
from fastcpu_support import assert_close

DTYPES = [numpy.float16, numpy.float32, numpy.float64]
TOLERANCE = {numpy.float16: 3e-2, numpy.float32: 1e-4, numpy.float64: 1e-4}


def _train_step(fast, x_dtype, param_dtype, layer):
    numpy.random.seed(0)
    x = numpy.random.RandomState(1).standard_normal((4, 16, 6, 6)).astype(x_dtype)
    with chainer.using_config('train', True), chainer.using_config('fast_cpu', fast):
        link = layer().copy(mode='copy')
        link.to_device('@numpy')
        for param in link.params():
            if param.array is not None:
                param.array = param.array.astype(param_dtype)
        if isinstance(link, ops.BatchNormalization):
            link.avg_mean = link.avg_mean.astype(param_dtype)
            link.avg_var = link.avg_var.astype(param_dtype)
        link.cleargrads()  # gradients of the old dtype would be accumulated into
        x_var = chainer.Variable(x)
        try:
            y = link(x_var)
        except chainer.utils.type_check.InvalidType as error:
            return type(error)
        F.sum(y * y).backward()
        return y.array, x_var.grad, [p.grad for p in link.params()]


LAYERS = {
    'conv16': lambda: ops.Convolution2D(16, 16, 3, 1, 1, initialW=chainer.initializers.HeNormal()),
    'conv8': lambda: ops.Convolution2D(16, 8, 3, 1, 1),
    'batchnorm': lambda: ops.BatchNormalization(16),
}


@pytest.mark.parametrize('layer', sorted(LAYERS))
@pytest.mark.parametrize('x_dtype,param_dtype', list(itertools.product(DTYPES, DTYPES)),
                         ids=lambda d: numpy.dtype(d).name)
def test_every_dtype_pair_matches_chainer(layer, x_dtype, param_dtype, fastcpu_backend):
    fast = _train_step(True, x_dtype, param_dtype, LAYERS[layer])
    stock = _train_step(False, x_dtype, param_dtype, LAYERS[layer])
    if isinstance(stock, type):  # Chainer refuses the pair at forward: so must we
        assert fast is stock
        return
    rtol = max(TOLERANCE[x_dtype], TOLERANCE[param_dtype])
    for got, want in zip(fast[:2] + tuple(fast[2]), stock[:2] + tuple(stock[2])):
        assert got.dtype == want.dtype
        assert_close(got.astype(numpy.float64), want.astype(numpy.float64), rtol=rtol)


@pytest.mark.parametrize('dtype', DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_models_train_in_every_float_dtype(dtype, fastcpu_backend):
    """A whole model (conv, BN, ReLU, pooling, residual sum) in one dtype, fast on vs off."""
    results = []
    for fast in (True, False):
        numpy.random.seed(0)
        model = create_model('residual', in_channels=3, image_size=16, n_classes=10, res_depth=1)
        model.to_device('@numpy')
        for link in model.links():
            for name, value in list(link.__dict__.items()):
                if name in ('avg_mean', 'avg_var') and value is not None:
                    setattr(link, name, value.astype(dtype))
        for param in model.params():
            param.array = param.array.astype(dtype)
        model.cleargrads()
        x = numpy.random.RandomState(2).standard_normal((4, 3, 16, 16)).astype(dtype)
        t = numpy.arange(4, dtype=numpy.int32)
        with chainer.using_config('train', True), chainer.using_config('fast_cpu', fast):
            loss = F.softmax_cross_entropy(model(x), t)
            loss.backward()
        results.append([loss.array] + [p.grad for _, p in sorted(model.namedparams())])
    rtol = 5e-2 if dtype == numpy.float16 else 1e-3
    for got, want in zip(*results):
        assert got.dtype == want.dtype
        assert_close(got.astype(numpy.float64), want.astype(numpy.float64), rtol=rtol)
