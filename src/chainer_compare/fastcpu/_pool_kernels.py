"""Max pooling through kernels.c: one threaded pass each way on channels-last float32.

Forward keeps the winner of every output element (one byte: its row-major
index in the window); backward zeroes the input gradient and adds each
output's gradient at its winner.  Semantics are :mod:`.pooling`'s (Chainer's).
"""
import numpy

from chainer_compare.fastcpu import _layout as L
from chainer_compare.fastcpu import _native


def applies(x, kh, kw):
    """Whether the kernels pool ``x`` (float32, C % 8 == 0, window of at most 256)."""
    return (x.dtype == numpy.float32 and x.shape[1] % 8 == 0 and kh * kw <= 256
            and _native.kernels_on())


def _geometry(pool):
    n, c, h, w = pool.x_shape
    return (h, w, c, pool.kh, pool.kw, pool.sy, pool.sx, pool.ph, pool.pw,
            pool.out_h, pool.out_w)


def forward(pool, x):
    """(y as an NCHW view of NHWC memory, winner bytes) for ``pool``'s geometry."""
    src = numpy.ascontiguousarray(L.nhwc(x))
    n, c = x.shape[:2]
    y = numpy.empty((n, pool.out_h, pool.out_w, c), numpy.float32)
    win = numpy.empty(y.shape, numpy.uint8)
    geometry = _geometry(pool)
    _native.run('max_pool_forward', n, src, y, win, *geometry)
    return L.to_nchw_view(y), win


def backward(pool, gy, win):
    """The input gradient (NCHW view of NHWC memory) from ``gy`` and the winners."""
    g = numpy.ascontiguousarray(L.nhwc(gy))
    n, c, h, w = pool.x_shape
    gx = numpy.empty((n, h, w, c), numpy.float32)
    geometry = _geometry(pool)
    _native.run('max_pool_backward', n, g, win, gx, *geometry)
    return L.to_nchw_view(gx)
