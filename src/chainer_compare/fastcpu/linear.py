"""Fully connected layers with their GEMMs split over the kernel threads.

``chainer.functions.linear`` calls NumPy's dot, i.e. BLAS, which the fast
path runs single-threaded (fastcpu/_process.py); here the same three
products (forward, data gradient, weight gradient) go through
:func:`.conv.gemm`, so the fully connected layers of cnn and vgg use every
core again.  Same values as Chainer up to float32 rounding.
"""
import chainer
import chainer.functions as F
import numpy

from chainer_compare.fastcpu.conv import GradientNode, column_sums, gemm


class Linear(chainer.function_node.FunctionNode):
    """y = x W^T + b for a 2-D x."""

    def forward(self, inputs):
        self.retain_inputs((0, 1))
        x, W = inputs[:2]
        y = gemm(numpy.ascontiguousarray(x), W.T)
        if len(inputs) == 3:
            y += inputs[2]
        return y,

    def backward(self, indexes, grad_outputs):
        x, W = self.get_retained_inputs()
        return LinearGrad(indexes).apply((x, W, grad_outputs[0]))


class LinearGrad(GradientNode):
    """The gradients of :class:`Linear` w.r.t. the inputs in ``indexes``."""

    def __init__(self, indexes):
        self.indexes = tuple(indexes)

    def forward(self, inputs):
        x, W, gy = inputs
        gy = numpy.ascontiguousarray(gy)
        grads = []
        for i in self.indexes:
            if i == 0:
                grads.append(gemm(gy, W))
            elif i == 1:
                grads.append(gemm(gy.T, numpy.ascontiguousarray(x)))
            else:
                grads.append(column_sums(gy))
        return tuple(grads)


def linear(x, W, b=None):
    """``chainer.functions.linear(x, W, b)`` for 2-D NumPy arrays of one dtype, else Chainer's."""
    inputs = (x, W) if b is None else (x, W, b)
    if x.ndim != 2 or W.ndim != 2 or len({a.dtype for a in inputs}) > 1:
        return F.linear(x, W, b)
    y, = Linear().apply(inputs)
    return y
