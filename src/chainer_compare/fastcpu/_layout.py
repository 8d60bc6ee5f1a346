"""Channels-last helpers shared by the convolution and pooling nodes.

Arrays here are NCHW-*shaped* (what Chainer sees) but usually NHWC in memory:
``nhwc(a)`` is then a free view, and a result computed as an (N, H, W, C)
block is handed back with :func:`to_nchw_view`, so consecutive fast layers
never pay for a layout conversion.
"""
import numpy
from numpy.lib.stride_tricks import as_strided

from chainer_compare.fastcpu import _native, _workspace


def pair(v):
    return (v, v) if isinstance(v, int) or numpy.isscalar(v) else tuple(v)


def outsize(size, k, s, p, cover_all=False):
    """Chainer's ``get_conv_outsize`` (dilation 1)."""
    if cover_all:
        return (size + 2 * p - k + s - 1) // s + 1
    return (size + 2 * p - k) // s + 1


def nhwc(a):
    """The (N, H, W, C) view of an NCHW-shaped array (no copy)."""
    return a.transpose(0, 2, 3, 1)


def to_nchw_view(a):
    """The NCHW-shaped view of an (N, H, W, C) array (no copy)."""
    return a.transpose(0, 3, 1, 2)


def is_channels_last(a):
    """True when the NCHW-shaped ``a`` is C-contiguous as NHWC."""
    return nhwc(a).flags.c_contiguous


def padded_nhwc(x, pad_lo, pad_hi, value=0):
    """``x`` (NCHW-shaped) as a C-contiguous NHWC array padded spatially.

    ``pad_lo``/``pad_hi`` are (rows, cols) added before/after.  Without
    padding an already channels-last input is returned as a view.
    """
    n, c, h, w = x.shape
    xh = nhwc(x)
    if not any(pad_lo) and not any(pad_hi):
        return numpy.ascontiguousarray(xh)
    (top, left), (bottom, right) = pad_lo, pad_hi
    out = numpy.empty((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    if xh.flags.c_contiguous and x.dtype == numpy.float32 and _native.kernels_on():
        # One threaded pass writing each output row once (border and interior).
        _native.run('pad_nhwc', n, xh, out, h, w, c, top, left, bottom, right, float(value))
        return out
    # Fill only the border: numpy.zeros of the whole array costs a full extra pass.
    for border in (out[:, :top], out[:, top + h:], out[:, top:top + h, :left],
                   out[:, top:top + h, left + w:]):
        border.fill(value)
    out[:, top:top + h, left:left + w] = xh
    return out


def window(xp, i, j, out_h, out_w, sy, sx):
    """The (N, out_h, out_w, C) slice of NHWC ``xp`` seen by kernel offset (i, j)."""
    return xp[:, i:i + sy * (out_h - 1) + 1:sy, j:j + sx * (out_w - 1) + 1:sx]


def patch_matrix(xp, kh, kw, sy, sx, out_h, out_w):
    """im2col on a padded NHWC array: (N*out_h*out_w, kh*kw*C), one copy.

    Row order (n, y, x) and column order (ky, kx, c) make the result a plain
    GEMM operand; (kx, c) are adjacent in memory so the gather copies runs of
    kw*C contiguous elements.  The result comes from :mod:`._workspace`: hand
    it back with ``_workspace.give`` once it is no longer needed.
    """
    n, _, _, c = xp.shape
    sn, sh, sw, sc = xp.strides
    view = as_strided(xp, (n, out_h, out_w, kh, kw, c),
                      (sn, sh * sy, sw * sx, sh, sw, sc), writeable=False)
    matrix = _workspace.take((n * out_h * out_w, kh * kw * c), xp.dtype)
    blocks = matrix.reshape(view.shape)
    def gather(lo, hi):  # images split over the kernel threads (the copy releases the GIL)
        numpy.copyto(blocks[lo:hi], view[lo:hi])
    _native.split_batch(n, gather)
    return matrix
