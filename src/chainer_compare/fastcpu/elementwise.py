"""ReLU and ``relu(a + b)`` (the residual block's output) in one threaded pass, through kernels.c.

Inputs are read in channels-last order (the fast convolutions' and batch
normalization's layout; another layout is copied once), the output is
channels-last, and backward is one masked copy (shared by both inputs of the
sum).  Chainer's ``F.relu`` runs single-threaded and keeps its own copies.
"""
import chainer
import chainer.functions as F
import numpy

from chainer_compare.fastcpu import _layout as L
from chainer_compare.fastcpu import _native
from chainer_compare.fastcpu.conv import GradientNode


def _nhwc_flat(a):
    return numpy.ascontiguousarray(L.nhwc(a)).reshape(-1)


def _run(kernel, *arrays):
    out = numpy.empty_like(arrays[0])
    _native.run(kernel, out.size, *arrays, out)
    return out


class AddReLU(chainer.function_node.FunctionNode):

    def forward(self, inputs):
        a, b = inputs
        self.y = _run('add_relu', _nhwc_flat(a), _nhwc_flat(b))
        n, c, h, w = a.shape
        return L.to_nchw_view(self.y.reshape(n, h, w, c)),

    def backward(self, indexes, grad_outputs):
        g, = ReLUGrad(self.y).apply(grad_outputs)
        return g, g


class ReLUGrad(GradientNode):
    """``gy`` where the output ``y`` > 0: the gradient of :class:`ReLU`, and of
    :class:`AddReLU` for both of its inputs."""

    def __init__(self, y):
        self.y = y

    def forward(self, inputs):
        gy, = inputs
        n, c, h, w = gy.shape
        gx = _run('relu_grad', self.y, _nhwc_flat(gy))
        return L.to_nchw_view(gx.reshape(n, h, w, c)),


class ReLU(chainer.function_node.FunctionNode):

    def forward(self, inputs):
        x, = inputs
        self.y = _run('relu_forward', _nhwc_flat(x))
        n, c, h, w = x.shape
        return L.to_nchw_view(self.y.reshape(n, h, w, c)),

    def backward(self, indexes, grad_outputs):
        return ReLUGrad(self.y).apply(grad_outputs)


def _applies(arrays):
    arrays = [v.array if isinstance(v, chainer.Variable) else v for v in arrays]
    return (all(isinstance(v, numpy.ndarray) and v.dtype == numpy.float32 and v.ndim == 4
                and v.shape == arrays[0].shape for v in arrays)
            and _native.kernels_on())


def relu(x):
    """``F.relu(x)`` for an NCHW-shaped float32 NumPy array, else Chainer's."""
    if _applies((x,)):
        y, = ReLU().apply((x,))
        return y
    return F.relu(x)


def add_relu(a, b):
    """``F.relu(a + b)`` for NCHW-shaped float32 NumPy arrays of one shape, else Chainer's."""
    if _applies((a, b)):
        y, = AddReLU().apply((a, b))
        return y
    return F.relu(a + b)
