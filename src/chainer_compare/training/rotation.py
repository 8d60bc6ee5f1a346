"""Batched rotation of NCHW images by per-image angles (NumPy or CuPy).

The geometry behind ``--augment rotate`` (see :mod:`augment`, which draws the
angles): one inverse-mapped sampling grid for the whole batch, bilinear or
nearest, zero outside the image.  Kept apart because it is the one transform
that resamples rather than indexes.
"""
import numpy

import chainer_compare.compat  # noqa: F401  (before chainer)
import chainer


def apply_rotation(x, params, interpolation='bilinear'):
    """Rotate image i by ``params['angle'][i]`` degrees about its centre.

    Positive angles turn the picture counter-clockwise as displayed (row 0 at
    the top), so 90 degrees equals ``numpy.rot90(img, 1, axes=(-2, -1))``.
    Each output pixel samples the inverse-rotated source position (one grid for
    the whole batch); outside the image is zero (the dataset mean).
    """
    if x.ndim != 4:
        raise ValueError('rotation expects an NCHW batch, got shape {}'.format(x.shape))
    xp = chainer.backend.get_array_module(x)
    _, _, h, w = x.shape
    theta = numpy.deg2rad(numpy.asarray(params['angle'], dtype=numpy.float64))
    cos = xp.asarray(numpy.cos(theta), dtype=numpy.float32)[:, None, None]
    sin = xp.asarray(numpy.sin(theta), dtype=numpy.float32)[:, None, None]
    yy = (xp.arange(h, dtype=numpy.float32) - (h - 1) / 2.0)[None, :, None]
    xx = (xp.arange(w, dtype=numpy.float32) - (w - 1) / 2.0)[None, None, :]
    src_x = cos * xx - sin * yy + (w - 1) / 2.0
    src_y = sin * xx + cos * yy + (h - 1) / 2.0
    if interpolation == 'nearest':
        return _sample(x, xp.floor(src_y + 0.5), xp.floor(src_x + 0.5), True)
    if interpolation != 'bilinear':
        raise ValueError("interpolation must be 'nearest' or 'bilinear'")
    return _sample(x, src_y, src_x)


def _sample(x, src_y, src_x, nearest=False):
    """Sample each image at (N, H, W) float positions (bilinear), zero fill.

    With a one-pixel zero border, every corner of a sample whose top-left
    corner lies in [-1, H-1] x [-1, W-1] is inside the padded image, and any
    other sample has all four corners outside (value 0).  So one flat index
    serves the four corners (+1, +row, +row+1) and one mask the border.
    ``nearest``: the positions are integers; take the top-left corner only.
    """
    xp = chainer.backend.get_array_module(x)
    n, c, h, w = x.shape
    y0 = xp.floor(src_y)
    x0 = xp.floor(src_x)
    valid = ((y0 >= -1) & (y0 <= h - 1) & (x0 >= -1) & (x0 <= w - 1))[:, None]
    row = w + 2
    index = numpy.int32 if n * c * (h + 2) * row < 2 ** 31 else numpy.int64
    corner = ((xp.clip(y0, -1, h - 1) + 1).astype(index) * row
              + (xp.clip(x0, -1, w - 1) + 1).astype(index))
    plane = xp.arange(n * c, dtype=index).reshape(n, c, 1, 1) * ((h + 2) * row)
    base = plane + corner[:, None]
    flat = xp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).ravel()
    zero = x.dtype.type(0)
    if nearest:
        return xp.where(valid, xp.take(flat, base), zero)
    fy = (src_y - y0)[:, None].astype(x.dtype)
    fx = (src_x - x0)[:, None].astype(x.dtype)
    top = xp.take(flat, base) * (1 - fx) + xp.take(flat, base + 1) * fx
    bottom = (xp.take(flat, base + row) * (1 - fx)
              + xp.take(flat, base + row + 1) * fx)
    return xp.where(valid, top * (1 - fy) + bottom * fy, zero)
