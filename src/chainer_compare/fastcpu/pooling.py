"""Max and average pooling as two separable 1-D passes over channels-last arrays.

A kh x kw window reduces as "along W over kw offsets, then along H over kh
offsets"; each offset is one strided slice of the NHWC array, so a pooling
layer is kw + kh vectorized passes instead of kh*kw, and the second pass runs
over whole contiguous rows.  Without padding nothing is copied: an offset
whose windows would run past the edge (``cover_all``) covers fewer outputs,
which is what Chainer's -inf padding amounts to.

Max pooling keeps, per pass, which offset won.  Taking the first maximum along
W, then the first row whose maximum is the window's, gives the first maximum
in row-major window order, i.e. Chainer's argmax; so gradients go exactly
where Chainer sends them.
"""
import chainer
import numpy

from chainer_compare.fastcpu import _layout as L
from chainer_compare.fastcpu import _pool_kernels
from chainer_compare.fastcpu.conv import GradientNode

#: Largest max-pooling window side done here (the winner index is uint8).
MAX_WINDOW = 255


def _along(a, axis, start, count, step):
    """``count`` elements of ``a`` along ``axis`` from ``start`` every ``step``."""
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, start + step * (count - 1) + 1, step)
    return a[tuple(index)]


def _reach(length, offset, step, out_len):
    """How many outputs kernel offset ``offset`` reaches inside ``length`` inputs."""
    return max(0, min(out_len, (length - 1 - offset) // step + 1))


def _max_along(src, axis, k, step, out_len):
    """Running max over the k offsets along ``axis``, and the (first) winning offset."""
    best = _along(src, axis, 0, out_len, step).copy()
    winner = numpy.zeros(best.shape, numpy.uint8)
    raised = numpy.empty(best.shape, numpy.bool_)
    scratch = numpy.empty(best.shape, numpy.uint8)
    for offset in range(1, k):
        count = _reach(src.shape[axis], offset, step, out_len)
        if count == 0:
            continue
        cand = _along(src, axis, offset, count, step)
        b, up, tmp, win = (_along(a, axis, 0, count, 1) for a in (best, raised, scratch, winner))
        # Strictly greater keeps the first maximum.  winner = max(winner,
        # offset * raised): uint8 arithmetic, ~2x faster than a masked write.
        numpy.greater(cand, b, out=up)
        numpy.maximum(b, cand, out=b)
        numpy.multiply(up.view(numpy.uint8), numpy.uint8(offset), out=tmp)
        numpy.maximum(win, tmp, out=win)
    return best, winner


def _sum_along(src, axis, k, step, out_len):
    total = _along(src, axis, 0, out_len, step).copy()
    for offset in range(1, k):
        count = _reach(src.shape[axis], offset, step, out_len)
        if count:
            _along(total, axis, 0, count, 1)[...] += _along(src, axis, offset, count, step)
    return total


def _spread_along(g, axis, k, step, length, winner=None):
    """Transpose of a pass: each offset's outputs send ``g`` (max: where it won) back."""
    shape = list(g.shape)
    shape[axis] = length
    out = numpy.zeros(shape, g.dtype)
    disjoint = step >= k
    mask = numpy.empty(g.shape, numpy.bool_) if winner is not None else None
    routed = numpy.empty(g.shape, g.dtype)
    for offset in range(k):
        count = _reach(length, offset, step, g.shape[axis])
        if count == 0:
            continue
        dst = _along(out, axis, offset, count, step)
        piece = _along(g, axis, 0, count, 1)
        if winner is not None:
            # g * (winner == offset): a multiply beats a masked copy (it differs
            # only for inf/NaN gradients, which end training anyway).
            m = _along(mask, axis, 0, count, 1)
            numpy.equal(_along(winner, axis, 0, count, 1), offset, out=m)
            target = dst if disjoint else _along(routed, axis, 0, count, 1)
            numpy.multiply(piece, m, out=target)
            piece = target
            if disjoint:
                continue
        if disjoint:
            dst[...] = piece
        else:
            dst += piece
    return out


class _Pooling2D(chainer.function_node.FunctionNode):
    cover_all = False
    pad_value = 0

    def __init__(self, ksize, stride, pad):
        self.kh, self.kw = L.pair(ksize)
        self.sy, self.sx = L.pair((self.kh, self.kw) if stride is None else stride)
        self.ph, self.pw = L.pair(pad)

    def _sizes(self, x):
        n, c, h, w = x.shape
        self.x_shape = x.shape
        self.out_h = L.outsize(h, self.kh, self.sy, self.ph, self.cover_all)
        self.out_w = L.outsize(w, self.kw, self.sx, self.pw, self.cover_all)
        if self.out_h <= 0 or self.out_w <= 0:
            raise ValueError('fastcpu pooling: window {}x{} with pad {} does not fit input '
                             '{}x{}'.format(self.kh, self.kw, (self.ph, self.pw), h, w))

    def _source(self, x):
        """The NHWC array the windows are cut from (padded only when needed)."""
        self._sizes(x)
        n, c, h, w = x.shape
        # Offset 0 must reach every output for the clipped, copy-free form.
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

    def _crop(self, gx_src):
        n, c, h, w = self.x_shape
        if not self.clipped:
            gx_src = numpy.ascontiguousarray(gx_src[:, self.ph:self.ph + h, self.pw:self.pw + w])
        return L.to_nchw_view(gx_src)


class MaxPooling2D(_Pooling2D):

    def __init__(self, ksize, stride, pad, cover_all):
        super().__init__(ksize, stride, pad)
        self.cover_all = cover_all
        self.pad_value = -numpy.inf

    def forward(self, inputs):
        x = inputs[0]
        self.kernel_winner = None
        if _pool_kernels.applies(x, self.kh, self.kw):
            self._sizes(x)
            y, self.kernel_winner = _pool_kernels.forward(self, x)
            return y,
        src = self._source(x)
        rows, self.col_winner = _max_along(src, 2, self.kw, self.sx, self.out_w)
        y, self.row_winner = _max_along(rows, 1, self.kh, self.sy, self.out_h)
        return L.to_nchw_view(y),

    def backward(self, indexes, grad_outputs):
        return MaxPooling2DGrad(self).apply(grad_outputs)


class _PoolingGrad(GradientNode):

    def __init__(self, pool):
        self.pool = pool


class MaxPooling2DGrad(_PoolingGrad):

    def forward(self, inputs):
        p = self.pool
        if p.kernel_winner is not None:
            return _pool_kernels.backward(p, inputs[0], p.kernel_winner),
        g_rows = _spread_along(L.nhwc(inputs[0]), 1, p.kh, p.sy, p.src_hw[0], p.row_winner)
        g_src = _spread_along(g_rows, 2, p.kw, p.sx, p.src_hw[1], p.col_winner)
        return p._crop(g_src),


class AveragePooling2D(_Pooling2D):
    """Chainer's semantics: zero padding, always divided by the full kh*kw."""

    def forward(self, inputs):
        x = inputs[0]
        src = self._source(x)
        y = _sum_along(_sum_along(src, 2, self.kw, self.sx, self.out_w),
                       1, self.kh, self.sy, self.out_h)
        if self.kh * self.kw != 1:
            y *= x.dtype.type(1.0 / (self.kh * self.kw))
        return L.to_nchw_view(y),

    def backward(self, indexes, grad_outputs):
        return AveragePooling2DGrad(self).apply(grad_outputs)


class AveragePooling2DGrad(_PoolingGrad):

    def forward(self, inputs):
        p = self.pool
        gy = L.nhwc(inputs[0])
        if p.kh * p.kw != 1:
            gy = gy * gy.dtype.type(1.0 / (p.kh * p.kw))
        g_rows = _spread_along(gy, 1, p.kh, p.sy, p.src_hw[0])
        return p._crop(_spread_along(g_rows, 2, p.kw, p.sx, p.src_hw[1])),


def max_pooling_2d(x, ksize, stride=None, pad=0, cover_all=True):
    """Same as ``chainer.functions.max_pooling_2d`` (without return_indices)."""
    _check_4d(x, 'max_pooling_2d')
    if max(L.pair(ksize)) > MAX_WINDOW:
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
