"""Max and average pooling over channels-last strided windows.

Each of the kh*kw kernel offsets is one strided (N, out_h, out_w, C) slice of
the NHWC input, so pooling is kh*kw vectorized passes with no im2col.  Without
padding, nothing is copied: an offset whose windows would run past the edge
(``cover_all``) just covers fewer output rows/columns, which is what Chainer's
-inf padding amounts to.  Max pooling records which offset won (the first
maximum, as Chainer's argmax) and routes gradients with one masked pass per
offset; non-overlapping windows write disjoint slices, overlapping ones add.
"""
import chainer
import numpy

from chainer_compare.fastcpu import _layout as L
from chainer_compare.fastcpu.conv import DOUBLE_BACKWARD_MESSAGE

#: Largest max-pooling window (pixels) done here; larger ones go to Chainer.
MAX_WINDOW = 255


class _Pooling2D(chainer.function_node.FunctionNode):
    cover_all = False
    pad_value = 0

    def __init__(self, ksize, stride, pad):
        self.kh, self.kw = L.pair(ksize)
        self.sy, self.sx = L.pair((self.kh, self.kw) if stride is None else stride)
        self.ph, self.pw = L.pair(pad)

    def _source(self, x):
        """The NHWC array windows are cut from (padded only when needed); sets geometry."""
        n, c, h, w = x.shape
        self.x_shape = x.shape
        self.out_h = L.outsize(h, self.kh, self.sy, self.ph, self.cover_all)
        self.out_w = L.outsize(w, self.kw, self.sx, self.pw, self.cover_all)
        if self.out_h <= 0 or self.out_w <= 0:
            raise ValueError('fastcpu pooling: window {}x{} with pad {} does not fit input '
                             '{}x{}'.format(self.kh, self.kw, (self.ph, self.pw), h, w))
        # Offset (0, 0) must reach every output for the clipped, copy-free form.
        self.clipped = (self.ph == self.pw == 0 and (self.out_h - 1) * self.sy < h
                        and (self.out_w - 1) * self.sx < w)
        if self.clipped:
            src = numpy.ascontiguousarray(L.nhwc(x))
        else:
            hi_h = max(0, (self.out_h - 1) * self.sy + self.kh - h - self.ph)
            hi_w = max(0, (self.out_w - 1) * self.sx + self.kw - w - self.pw)
            src = L.padded_nhwc(x, (self.ph, self.pw), (hi_h, hi_w), self.pad_value)
        self.src_hw = src.shape[1:3]
        return src

    def windows(self):
        """(k, (i, j), rows, cols): each kernel offset and the output block it reaches."""
        hs, ws = self.src_hw
        for i in range(self.kh):
            rows = min(self.out_h, (hs - 1 - i) // self.sy + 1)
            for j in range(self.kw):
                cols = min(self.out_w, (ws - 1 - j) // self.sx + 1)
                yield i * self.kw + j, (i, j), rows, cols

    def _cut(self, a, i, j, rows, cols):
        return L.window(a, i, j, rows, cols, self.sy, self.sx)

    def _scatter(self, piece, dtype):
        """gx = sum over offsets of ``piece(k, rows, cols)`` placed at that offset's windows.

        ``piece(k, rows, cols, dst)`` writes into ``dst`` (disjoint windows) or,
        with ``dst=None``, returns the block to add.
        """
        n, c, h, w = self.x_shape
        disjoint = self.sy >= self.kh and self.sx >= self.kw
        gx_src = numpy.zeros((n,) + self.src_hw + (c,), dtype)
        for k, (i, j), rows, cols in self.windows():
            dst = self._cut(gx_src, i, j, rows, cols)
            if disjoint:
                piece(k, rows, cols, dst)
            else:
                dst += piece(k, rows, cols, None)
        if not self.clipped:
            gx_src = numpy.ascontiguousarray(
                gx_src[:, self.ph:self.ph + h, self.pw:self.pw + w])
        return L.to_nchw_view(gx_src)


class MaxPooling2D(_Pooling2D):

    def __init__(self, ksize, stride, pad, cover_all):
        super().__init__(ksize, stride, pad)
        self.cover_all = cover_all
        self.pad_value = -numpy.inf

    def forward(self, inputs):
        src = self._source(inputs[0])
        y = self._cut(src, 0, 0, self.out_h, self.out_w).copy()
        # winner = the last offset that strictly raised the running maximum, i.e.
        # the first maximum in window order (Chainer's argmax).  Kept as
        # max(winner, k * raised) with uint8 arithmetic: masked writes are ~2x slower.
        self.winner = numpy.zeros(y.shape, numpy.uint8)
        raised = numpy.empty(y.shape, numpy.bool_)
        scratch = numpy.empty(y.shape, numpy.uint8)
        for k, (i, j), rows, cols in self.windows():
            if k == 0:
                continue
            candidate = self._cut(src, i, j, rows, cols)
            best, up, tmp = (a[:, :rows, :cols] for a in (y, raised, scratch))
            numpy.greater(candidate, best, out=up)
            numpy.maximum(best, candidate, out=best)
            numpy.multiply(up.view(numpy.uint8), numpy.uint8(k), out=tmp)
            win = self.winner[:, :rows, :cols]
            numpy.maximum(win, tmp, out=win)
        return L.to_nchw_view(y),

    def backward(self, indexes, grad_outputs):
        return MaxPooling2DGrad(self).apply(grad_outputs)


class MaxPooling2DGrad(chainer.function_node.FunctionNode):

    def __init__(self, pool):
        self.pool = pool

    def forward(self, inputs):
        gy = L.nhwc(inputs[0])
        winner = self.pool.winner
        mask = numpy.empty(gy.shape, numpy.bool_)
        routed = numpy.empty(gy.shape, gy.dtype)

        def piece(k, rows, cols, dst):
            # gy * (winner == k): a multiply is faster than a masked copy
            # (it only differs for inf/NaN gradients, which end training anyway).
            m = mask[:, :rows, :cols]
            numpy.equal(winner[:, :rows, :cols], k, out=m)
            out = routed[:, :rows, :cols] if dst is None else dst
            numpy.multiply(gy[:, :rows, :cols], m, out=out)
            return out
        return self.pool._scatter(piece, gy.dtype),

    def backward(self, indexes, grad_outputs):
        raise NotImplementedError(DOUBLE_BACKWARD_MESSAGE)


class AveragePooling2D(_Pooling2D):
    """Chainer's semantics: zero padding, always divided by the full kh*kw."""

    def forward(self, inputs):
        x = inputs[0]
        src = self._source(x)
        y = self._cut(src, 0, 0, self.out_h, self.out_w).copy()
        for k, (i, j), rows, cols in self.windows():
            if k:
                y[:, :rows, :cols] += self._cut(src, i, j, rows, cols)
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

        def piece(k, rows, cols, dst):
            if dst is None:
                return g[:, :rows, :cols]
            dst[...] = g[:, :rows, :cols]
        return self.pool._scatter(piece, gy.dtype),

    def backward(self, indexes, grad_outputs):
        raise NotImplementedError(DOUBLE_BACKWARD_MESSAGE)


def max_pooling_2d(x, ksize, stride=None, pad=0, cover_all=True):
    """Same as ``chainer.functions.max_pooling_2d`` (without return_indices)."""
    _check_4d(x, 'max_pooling_2d')
    kh, kw = L.pair(ksize)
    if kh * kw > MAX_WINDOW:  # the uint8 winner index cannot hold it
        return chainer.functions.max_pooling_2d(x, ksize, stride, pad, cover_all=cover_all)
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
