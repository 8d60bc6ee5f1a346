"""The residual net's parameter-free shortcut (zero channels prepended, every s-th pixel) as one node.

Stock Chainer does it as ``concat((zeros, x), axis=1)`` then a 1x1 average
pooling of stride s: a full-size concatenation (slow on channels-last views),
a pooling pass, and in backward a full-size split plus the pooling's
scatter.  Here forward is one strided copy into a channels-last output whose
first channels are zero, and backward one strided copy of the matching
gradient channels into a zeroed input-size array.  Pure copies: the result
is exactly Chainer's.
"""
import chainer
import numpy

from chainer_compare.fastcpu import _layout as L
from chainer_compare.fastcpu.conv import GradientNode


class ZeroPadSubsample(chainer.function_node.FunctionNode):

    def __init__(self, out_channels, stride):
        self.out_channels, self.stride = out_channels, stride

    def forward(self, inputs):
        x, = inputs
        c, s = x.shape[1], self.stride
        self.x_shape = x.shape
        sub = L.nhwc(x)[:, ::s, ::s]
        y = numpy.empty(sub.shape[:3] + (self.out_channels,), x.dtype)
        y[..., :self.out_channels - c] = 0
        y[..., self.out_channels - c:] = sub
        return L.to_nchw_view(y),

    def backward(self, indexes, grad_outputs):
        return ZeroPadSubsampleGrad(self).apply(grad_outputs)


class ZeroPadSubsampleGrad(GradientNode):

    def __init__(self, shortcut):
        self.shortcut = shortcut

    def forward(self, inputs):
        gy, = inputs
        n, c, h, w = self.shortcut.x_shape
        s = self.shortcut.stride
        gx = numpy.zeros((n, h, w, c), gy.dtype)
        gx[:, ::s, ::s] = L.nhwc(gy)[..., gy.shape[1] - c:]
        return L.to_nchw_view(gx),


def zero_pad_subsample(x, out_channels, stride):
    """``average_pooling_2d(concat((zeros, x), axis=1), 1, stride)`` with
    ``out_channels - C`` zero channels, on an NCHW-shaped NumPy array."""
    n, c, h, w = x.shape
    if out_channels < c or stride < 1:
        raise ValueError('fastcpu.zero_pad_subsample: cannot go from {} to {} channels '
                         'with stride {}'.format(c, out_channels, stride))
    if out_channels == c and stride == 1:
        return chainer.as_variable(x)
    y, = ZeroPadSubsample(out_channels, stride).apply((x,))
    return y

