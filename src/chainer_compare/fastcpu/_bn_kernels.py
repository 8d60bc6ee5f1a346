"""Training-mode batch normalization (optionally fused with ReLU) through kernels.c.

For float32 channels-last input (what the fast convolutions return) with a
multiple of 8 channels: the per-channel statistics are one threaded pass of
float32 block sums added up in float64, the output one fused pass
``x * scale + shift`` (then ``max(., 0)``); backward is one reduction pass
(Σg, Σg·x, with g masked by y > 0 under ReLU) and one fused pass
``gx = a*g + b*x + d``.  Nothing of x's size is kept but x itself (the ReLU
mask is recomputed from x, exactly as the forward pass rounded it), where
Chainer keeps x̂ and several temporaries.

The math is Chainer's: biased batch variance for normalizing, running
statistics updated with the unbiased one and ``decay``.
"""
import chainer
import numpy

from chainer_compare.fastcpu import _layout as L
from chainer_compare.fastcpu import _native
from chainer_compare.fastcpu.conv import GradientNode

def applies(x, gamma):
    """Whether the kernels normalize ``x`` (float32, channels-last, C % 8 == 0)."""
    return (x.dtype == numpy.float32 and gamma.dtype == numpy.float32 and x.shape[1] % 8 == 0
            and L.is_channels_last(x) and _native.kernels_on())


def _rows(a):
    """An NCHW-shaped array as the C-contiguous (N*H*W, C) matrix of its NHWC form."""
    return numpy.ascontiguousarray(L.nhwc(a)).reshape(-1, a.shape[1])


def _sums(kernel, arrays, n_rows, c):
    """Per-channel float64 sums (2, C) of ``kernel`` over all rows, threads splitting the
    rows: one partial sum per chunk, added up in chunk order."""
    parts = numpy.empty((_native.chunks(n_rows), 2 * c), numpy.float64)
    _native.run(kernel, n_rows, *arrays, parts, c)
    return parts.sum(axis=0).reshape(2, c)


def _f32(a):
    return numpy.ascontiguousarray(a, dtype=numpy.float32)


def _affine(mean, scale, beta):
    """The float32 (scale, shift) of ``x * scale + (beta - mean * scale)``."""
    return _f32(scale), _f32(beta - mean * scale)


def _normalize(rows, scale, shift, relu):
    """``rows * scale + shift`` (then ReLU) in one threaded pass; float32 scale, shift."""
    y = numpy.empty_like(rows)
    m, c = rows.shape
    _native.run('bn_apply', m, rows, y, scale, shift, c, int(relu))
    return y


class BatchNormalizationKernels(chainer.function_node.FunctionNode):
    """y = gamma * x_hat + beta (then ReLU when ``relu``), batch statistics over N, H, W."""

    def __init__(self, eps, running_mean, running_var, decay, relu):
        self.eps, self.relu = eps, relu
        self.running_mean, self.running_var, self.decay = running_mean, running_var, decay

    def forward(self, inputs):
        self.retain_inputs((1,))
        x, gamma, beta = inputs
        self.x_rows = rows = _rows(x)
        m, c = rows.shape
        sums = _sums('bn_stats', (rows,), m, c) / m
        self.mean = sums[0]
        var = numpy.maximum(sums[1] - self.mean ** 2, 0.0)
        self.inv_std = 1.0 / numpy.sqrt(var + self.eps)
        self.scale, self.shift = _affine(self.mean, gamma * self.inv_std, beta)
        y = _normalize(rows, self.scale, self.shift, self.relu)
        if self.running_mean is not None:
            # Chainer's update (unbiased variance), in the parameters' dtype.
            adjust = m / max(m - 1., 1.)
            self.running_mean *= self.decay
            self.running_mean += ((1 - self.decay) * self.mean).astype(x.dtype)
            self.running_var *= self.decay
            self.running_var += ((1 - self.decay) * adjust * var).astype(x.dtype)
        n, _, h, w = x.shape
        return L.to_nchw_view(y.reshape(n, h, w, c)),

    def backward(self, indexes, grad_outputs):
        gamma, = self.get_retained_inputs()
        return BatchNormalizationKernelsGrad(self).apply((gamma, grad_outputs[0]))


class BatchNormalizationKernelsGrad(GradientNode):
    """(gx, ggamma, gbeta) of :class:`BatchNormalizationKernels`."""

    def __init__(self, bn):
        self.bn = bn

    def forward(self, inputs):
        gamma, gy = inputs
        bn = self.bn
        x, g = bn.x_rows, _rows(gy)
        scale, shift = (bn.scale, bn.shift) if bn.relu else (None, None)  # the ReLU mask
        m, c = x.shape
        g_sum, gx_sum = _sums('bn_grad_stats', (g, x, scale, shift), m, c)
        ggamma = bn.inv_std * (gx_sum - bn.mean * g_sum)
        a = gamma * bn.inv_std
        b = -a * bn.inv_std * ggamma / m
        d = -b * bn.mean - a * g_sum / m
        a, b, d = _f32(a), _f32(b), _f32(d)
        gx = numpy.empty_like(x)
        _native.run('bn_grad_apply', m, g, x, scale, shift, gx, a, b, d, c)
        n, _, h, w = gy.shape
        return (L.to_nchw_view(gx.reshape(n, h, w, c)), ggamma.astype(gamma.dtype),
                g_sum.astype(gamma.dtype))


def inference(x, gamma, beta, mean, var, eps, relu):
    """Evaluation-mode ``gamma * (x - mean) / sqrt(var + eps) + beta`` (then ReLU), no graph.

    For ``chainer.no_backprop_mode()`` (what Evaluator uses): one threaded pass,
    the result a Variable without a creator.  Caller checks :func:`applies`.
    """
    scale = gamma.astype(numpy.float64) / numpy.sqrt(var.astype(numpy.float64) + eps)
    y = _normalize(_rows(x), *_affine(mean, scale, beta), relu)
    n, c, h, w = x.shape
    return chainer.Variable(L.to_nchw_view(y.reshape(n, h, w, c)), requires_grad=False)
