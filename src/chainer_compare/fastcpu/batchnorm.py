"""Training-mode batch normalization on channels-last activations.

The fast convolution returns activations with 64 or more channels as NCHW
views of NHWC memory.  On such a view Chainer's ``batch_normalization``
reduces over axes (0, 2, 3) with strided inner loops and builds several
full-size temporaries; here the same view is an (M, C) matrix (M = N*H*W),
so the per-channel statistics are column reductions over contiguous rows and
the normalization runs in place on one (M, C) buffer: about 1.7x faster than
Chainer's forward + backward for cnnbn's first layer (128x64x32x32).

Semantics are ``chainer.functions.batch_normalization`` with ``axis=None``
on a 4-D input: batch mean and biased variance per channel, ``y = gamma *
(x - mean) / sqrt(var + eps) + beta``, running statistics updated in place
with Chainer's formula (unbiased variance, ``decay``).  Inputs in any other
layout, and evaluation (fixed statistics), go to Chainer.
"""
import chainer
import chainer.functions as F
import numpy

from chainer_compare.fastcpu.conv import GradientNode


def _rows(a):
    """``a`` (N, C, H, W) as an (N*H*W, C) view of its channels-last memory, or None."""
    nhwc = a.transpose(0, 2, 3, 1)
    if not nhwc.flags.c_contiguous:
        return None
    return nhwc.reshape(-1, a.shape[1])


def _as_nchw(rows, shape):
    n, c, h, w = shape
    return rows.reshape(n, h, w, c).transpose(0, 3, 1, 2)


class BatchNormalization(chainer.function_node.FunctionNode):
    """y = gamma * x_hat + beta with batch statistics over (N, H, W)."""

    def __init__(self, eps, running_mean, running_var, decay):
        self.eps = eps
        self.running_mean, self.running_var, self.decay = running_mean, running_var, decay

    def forward(self, inputs):
        self.retain_inputs((1,))
        x, gamma, beta = inputs
        rows = _rows(x)
        m = rows.shape[0]
        mean = rows.mean(axis=0)
        x_hat = rows - mean
        var = numpy.einsum('ij,ij->j', x_hat, x_hat) / x.dtype.type(m)
        inv_std = (1 / numpy.sqrt(var + x.dtype.type(self.eps))).astype(x.dtype, copy=False)
        x_hat *= inv_std
        y = x_hat * gamma
        y += beta
        if self.running_mean is not None:
            # Chainer's update, operation for operation (unbiased variance).
            adjust = m / max(m - 1., 1.)
            self.running_mean *= self.decay
            self.running_mean += (1 - self.decay) * mean
            self.running_var *= self.decay
            self.running_var += (1 - self.decay) * adjust * var
        self.x_hat, self.inv_std = x_hat, inv_std
        return _as_nchw(y, x.shape),

    def backward(self, indexes, grad_outputs):
        gamma, = self.get_retained_inputs()
        return BatchNormalizationGrad(self.x_hat, self.inv_std).apply(
            (gamma, grad_outputs[0]))


class BatchNormalizationGrad(GradientNode):
    """(gx, ggamma, gbeta) of :class:`BatchNormalization` from gy."""

    def __init__(self, x_hat, inv_std):
        self.x_hat, self.inv_std = x_hat, inv_std

    def forward(self, inputs):
        gamma, gy = inputs
        x_hat = self.x_hat
        g = numpy.ascontiguousarray(gy.transpose(0, 2, 3, 1)).reshape(x_hat.shape)
        inv_m = gy.dtype.type(1.0 / x_hat.shape[0])
        gbeta = g.sum(axis=0)
        ggamma = numpy.einsum('ij,ij->j', g, x_hat)
        # gx = gamma * inv_std * (gy - (x_hat * ggamma + gbeta) / m), in one buffer
        gx = x_hat * (ggamma * inv_m)
        gx += gbeta * inv_m
        numpy.subtract(g, gx, out=gx)
        gx *= gamma * self.inv_std
        return _as_nchw(gx, gy.shape), ggamma.astype(gamma.dtype, copy=False), \
            gbeta.astype(gamma.dtype, copy=False)


def applies(x, gamma, axis=None):
    """Whether :func:`batch_normalization` runs the fast path for these arrays."""
    return (isinstance(x, numpy.ndarray) and x.ndim == 4 and axis in (None, (0, 2, 3))
            and x.dtype == gamma.dtype and x.dtype.kind == 'f' and x.shape[0] * x.shape[2]
            * x.shape[3] > 1 and _rows(x) is not None)


def batch_normalization(x, gamma, beta, eps=2e-5, running_mean=None, running_var=None,
                        decay=0.9):
    """``F.batch_normalization`` (``axis=None``, 4-D input) on the fast path where it applies."""
    x_arr = x.array if isinstance(x, chainer.Variable) else x
    gamma_arr = gamma.array if isinstance(gamma, chainer.Variable) else gamma
    if not applies(x_arr, gamma_arr):
        return F.batch_normalization(x, gamma, beta, eps=eps, running_mean=running_mean,
                                     running_var=running_var, decay=decay)
    y, = BatchNormalization(eps, running_mean, running_var, decay).apply((x, gamma, beta))
    return y
