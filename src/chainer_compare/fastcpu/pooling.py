"""Max and average pooling over channels-last strided windows.

Each of the kh*kw kernel offsets is one strided (N, out_h, out_w, C) slice of
the padded NHWC input, so pooling is kh*kw vectorized passes with no im2col.
Max pooling records which offset won (first maximum, as Chainer's argmax) and
routes gradients with one masked pass per offset; non-overlapping windows
write disjoint slices, overlapping ones accumulate.
"""
import chainer
import numpy

from chainer_compare.fastcpu import _layout as L
from chainer_compare.fastcpu.conv import DOUBLE_BACKWARD_MESSAGE


class _Pooling2D(chainer.function_node.FunctionNode):
    cover_all = False
    pad_value = 0

    def __init__(self, ksize, stride, pad):
        self.kh, self.kw = L.pair(ksize)
        self.sy, self.sx = L.pair(self.kh_kw() if stride is None else stride)
        self.ph, self.pw = L.pair(pad)

    def kh_kw(self):
        return (self.kh, self.kw)

    def offsets(self):
        return [(i, j) for i in range(self.kh) for j in range(self.kw)]

    def _padded_input(self, x):
        n, c, h, w = x.shape
        self.x_shape = x.shape
        self.out_h = L.outsize(h, self.kh, self.sy, self.ph, self.cover_all)
        self.out_w = L.outsize(w, self.kw, self.sx, self.pw, self.cover_all)
        if self.out_h <= 0 or self.out_w <= 0:
            raise ValueError('fastcpu pooling: window {}x{} with pad {} does not fit input '
                             '{}x{}'.format(self.kh, self.kw, (self.ph, self.pw), h, w))
        # Rows/cols the last window reaches beyond the input (cover_all adds up to s-1).
        hi_h = max(0, (self.out_h - 1) * self.sy + self.kh - h - self.ph)
        hi_w = max(0, (self.out_w - 1) * self.sx + self.kw - w - self.pw)
        xp = L.padded_nhwc(x, (self.ph, self.pw), (hi_h, hi_w), self.pad_value)
        self.padded_hw = xp.shape[1:3]
        return xp

    def _window(self, a, i, j):
        return L.window(a, i, j, self.out_h, self.out_w, self.sy, self.sx)

    def _scatter(self, pieces, dtype):
        """gx from per-offset gradient pieces: sum of each piece at its window."""
        n, c, h, w = self.x_shape
        hp, wp = self.padded_hw
        disjoint = self.sy >= self.kh and self.sx >= self.kw
        gx_pad = numpy.zeros((n, hp, wp, c), dtype)
        for (i, j), piece in pieces:
            dst = self._window(gx_pad, i, j)
            if disjoint:
                piece(dst)
            else:
                dst += piece(None)
        gx = gx_pad[:, self.ph:self.ph + h, self.pw:self.pw + w]
        if gx.shape[1:3] != gx_pad.shape[1:3]:
            gx = numpy.ascontiguousarray(gx)
        return L.to_nchw_view(gx)


class MaxPooling2D(_Pooling2D):

    def __init__(self, ksize, stride, pad, cover_all):
        super().__init__(ksize, stride, pad)
        self.cover_all = cover_all
        self.pad_value = -numpy.inf

    def forward(self, inputs):
        xp = self._padded_input(inputs[0])
        offsets = self.offsets()
        y = self._window(xp, 0, 0).copy()
        self.winner = numpy.zeros(y.shape, numpy.uint8 if len(offsets) < 256 else numpy.intp)
        for k, (i, j) in enumerate(offsets[1:], 1):
            candidate = self._window(xp, i, j)
            # Strictly greater keeps the first maximum, as Chainer's argmax does.
            numpy.putmask(self.winner, candidate > y, k)
            numpy.maximum(y, candidate, out=y)
        return L.to_nchw_view(y),

    def backward(self, indexes, grad_outputs):
        return MaxPooling2DGrad(self).apply(grad_outputs)


class MaxPooling2DGrad(chainer.function_node.FunctionNode):

    def __init__(self, pool):
        self.pool = pool

    def forward(self, inputs):
        gy = L.nhwc(inputs[0])
        winner = self.pool.winner

        def piece_for(k):
            def piece(dst):
                mask = winner == k
                if dst is None:
                    return numpy.where(mask, gy, 0)
                numpy.copyto(dst, gy, where=mask)
            return piece
        pieces = [(ij, piece_for(k)) for k, ij in enumerate(self.pool.offsets())]
        return self.pool._scatter(pieces, gy.dtype),

    def backward(self, indexes, grad_outputs):
        raise NotImplementedError(DOUBLE_BACKWARD_MESSAGE)


class AveragePooling2D(_Pooling2D):
    """Chainer's semantics: zero padding, always divided by the full kh*kw."""

    def forward(self, inputs):
        x = inputs[0]
        xp = self._padded_input(x)
        y = self._window(xp, 0, 0).copy()
        for i, j in self.offsets()[1:]:
            y += self._window(xp, i, j)
        if self.kh * self.kw != 1:
            y *= x.dtype.type(1.0 / (self.kh * self.kw))
        return L.to_nchw_view(y),

    def backward(self, indexes, grad_outputs):
        return AveragePooling2DGrad(self).apply(grad_outputs)


class AveragePooling2DGrad(chainer.function_node.FunctionNode):

    def __init__(self, pool):
        self.pool = pool

    def forward(self, inputs):
        gy = L.nhwc(inputs[0])
        area = self.pool.kh * self.pool.kw
        g = gy if area == 1 else gy * gy.dtype.type(1.0 / area)

        def piece(dst):
            if dst is None:
                return g
            dst[...] = g
        return self.pool._scatter([(ij, piece) for ij in self.pool.offsets()], gy.dtype),

    def backward(self, indexes, grad_outputs):
        raise NotImplementedError(DOUBLE_BACKWARD_MESSAGE)


def max_pooling_2d(x, ksize, stride=None, pad=0, cover_all=True):
    """Same as ``chainer.functions.max_pooling_2d`` (without return_indices)."""
    _check_4d(x, 'max_pooling_2d')
    y, = MaxPooling2D(ksize, stride, pad, cover_all).apply((x,))
    return y


def average_pooling_2d(x, ksize, stride=None, pad=0):
    """Same as ``chainer.functions.average_pooling_2d``."""
    _check_4d(x, 'average_pooling_2d')
    y, = AveragePooling2D(ksize, stride, pad).apply((x,))
    return y


def _check_4d(x, name):
    if len(x.shape) != 4:
        raise ValueError('fastcpu.{}: expected an (N, C, H, W) input, got shape {}'.format(
            name, tuple(x.shape)))
