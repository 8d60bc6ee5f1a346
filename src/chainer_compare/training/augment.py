"""Training-time augmentation, batched over a whole NCHW minibatch.

Every transform is a pure function ``f(x, rng, ..., return_params=False)`` on
a float32 NCHW array of NumPy or CuPy (``xp`` follows the input).  Random
parameters are always drawn on the host from the ``numpy.random.RandomState``
passed in (a few numbers per image) and then applied on the device with
``xp`` indexing and masks, with no per-image Python loop.  So the RNG state is a
plain NumPy state that snapshots save for exact resume, and CPU and GPU draw
the same parameters.  With ``return_params=True`` a transform returns
``(y, params)`` (a dict of NumPy arrays) and ``APPLY[name](x, params)``
recomputes ``y`` from them, which is how the tests check what was done.

The input is never modified; the result is a new array of the input's dtype.
Augmentation is for training only; the trainer never applies it at evaluation.
"""
import math

import numpy

import chainer_compare.compat  # noqa: F401  (before chainer)
import chainer

from chainer_compare.errors import UserError
from chainer_compare.training.rotation import apply_rotation


def _check_batch(x):
    if x.ndim != 4:
        raise ValueError('augmentation expects an NCHW batch, got shape {}'
                         .format(x.shape))
    return chainer.backend.get_array_module(x)


def apply_crop(x, params):
    """Shift image i by (-dy[i], -dx[i]): ``y[.., r, c] = x[.., r+dy, c+dx]``.

    Zero-pads by ``p = max |offset|`` and takes the crop at ``(p+dy, p+dx)``
    from a strided view of every possible crop: one advanced-indexing copy of
    whole rows, far faster than a per-pixel gather.
    """
    xp = _check_batch(x)
    n, c, h, w = x.shape
    dy = numpy.asarray(params['dy'], dtype=numpy.int64)
    dx = numpy.asarray(params['dx'], dtype=numpy.int64)
    p = int(max(numpy.abs(dy).max(initial=0), numpy.abs(dx).max(initial=0)))
    padded = xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    s = padded.strides
    crops = xp.lib.stride_tricks.as_strided(
        padded, shape=(n, c, 2 * p + 1, 2 * p + 1, h, w),
        strides=(s[0], s[1], s[2], s[3], s[2], s[3]))
    return crops[xp.arange(n), :, xp.asarray(dy + p), xp.asarray(dx + p)]


def random_crop(x, rng, pad=4, return_params=False):
    """Random shift by up to ``pad`` pixels each way, zero fill (seed 004).

    Seed 004's loop clamps negative offsets to 0 (shifting one way only); here
    both ways: the usual "pad by 4, random 32x32 crop" of ResNet training.
    """
    _check_batch(x)
    n = x.shape[0]
    params = {'dy': rng.randint(-pad, pad + 1, size=n),
              'dx': rng.randint(-pad, pad + 1, size=n)}
    return _result(apply_crop(x, params), params, return_params)


def apply_flip(x, params):
    """Mirror left-right the images whose ``params['flip']`` is true."""
    xp = _check_batch(x)
    flip = xp.asarray(params['flip'], dtype=bool)[:, None, None, None]
    return xp.where(flip, x[..., ::-1], x)


def random_flip(x, rng, return_params=False):
    """Horizontal mirror of each image with probability 0.5 (seed 004)."""
    _check_batch(x)
    params = {'flip': rng.randint(0, 2, size=x.shape[0]).astype(bool)}
    return _result(apply_flip(x, params), params, return_params)


def apply_boxes(x, params):
    """Fill the box ``top, left, height, width`` of each image with 0 (the
    dataset mean: stored data are mean-subtracted) or ``params['noise']``
    (N,C,H,W) where present.  A zero-height box leaves its image unchanged.
    """
    xp = _check_batch(x)
    _, _, h, w = x.shape
    top, left, height, width = (xp.asarray(params[k], dtype=numpy.int64)
                                for k in ('top', 'left', 'height', 'width'))
    r = xp.arange(h)[None, :]
    c = xp.arange(w)[None, :]
    in_rows = (r >= top[:, None]) & (r < (top + height)[:, None])
    in_cols = (c >= left[:, None]) & (c < (left + width)[:, None])
    mask = in_rows[:, None, :, None] & in_cols[:, None, None, :]
    fill = x.dtype.type(0)
    if params.get('noise') is not None:
        fill = xp.asarray(params['noise'], dtype=x.dtype)
    return xp.where(mask, fill, x)


def _noise(x, rng, fill):
    """Host-drawn random fill on the data's own scale (batch std), or None."""
    if fill == 'zero':
        return None
    if fill != 'random':
        raise ValueError("fill must be 'zero' or 'random', got {!r}".format(fill))
    std = float(x.std()) or 1.0
    return (rng.standard_normal(x.shape) * std).astype(x.dtype)


def random_erasing(x, rng, p=0.5, area=(0.02, 0.4), aspect=(0.3, 3.3),
                   fill='zero', return_params=False, attempts=10):
    """Random erasing (Zhong et al., 2017), one box per image with prob ``p``.

    The box covers a fraction ``U(area)`` of the image with aspect ratio
    (height/width) drawn log-uniformly from ``aspect``, at a uniform position
    where it fits; up to ``attempts`` draws per image (vectorized on the
    host), none fitting means no erasing, as in the paper.  ``fill='zero'``
    writes the dataset mean (0 after preprocessing); ``fill='random'`` writes
    normal noise scaled by the batch's standard deviation (the paper's random
    values, on the preprocessed data's scale).
    """
    _check_batch(x)
    n, _, h, w = x.shape
    applied = rng.random_sample(n) < p
    target = rng.uniform(area[0], area[1], size=(n, attempts)) * (h * w)
    ratio = numpy.exp(rng.uniform(math.log(aspect[0]), math.log(aspect[1]),
                                  size=(n, attempts)))
    hs = numpy.rint(numpy.sqrt(target * ratio)).astype(numpy.int64)
    ws = numpy.rint(numpy.sqrt(target / ratio)).astype(numpy.int64)
    fits = (hs >= 1) & (ws >= 1) & (hs < h) & (ws < w)
    first = fits.argmax(axis=1)
    applied &= fits.any(axis=1)
    idx = numpy.arange(n)
    height = numpy.where(applied, hs[idx, first], 0)
    width = numpy.where(applied, ws[idx, first], 0)
    # Uniform top-left among the positions where the box fits.
    top = (rng.random_sample(n) * (h - height + 1)).astype(numpy.int64)
    left = (rng.random_sample(n) * (w - width + 1)).astype(numpy.int64)
    params = {'top': top, 'left': left, 'height': height, 'width': width,
              'applied': applied}
    noise = _noise(x, rng, fill)
    if noise is not None:
        params['noise'] = noise
    return _result(apply_boxes(x, params), params, return_params)


def cutout(x, rng, size=None, return_params=False):
    """Cutout (DeVries & Taylor, 2017): zero a ``size`` square in every image.

    The square's centre is uniform over the image, so it may be clipped by
    the border; the params hold the clipped box.  ``size=None`` means 8 for
    32-pixel images, scaled with the image (7 for 28 pixels).
    """
    _check_batch(x)
    n, _, h, w = x.shape
    if size is None:
        size = max(1, int(round(8 * h / 32.0)))
    cy = rng.randint(0, h, size=n)
    cx = rng.randint(0, w, size=n)
    top = numpy.clip(cy - size // 2, 0, h)
    left = numpy.clip(cx - size // 2, 0, w)
    params = {'top': top, 'left': left,
              'height': numpy.clip(cy - size // 2 + size, 0, h) - top,
              'width': numpy.clip(cx - size // 2 + size, 0, w) - left}
    return _result(apply_boxes(x, params), params, return_params)


def random_rotation(x, rng, max_degrees=15, interpolation='bilinear',
                    return_params=False):
    """Rotation by an angle uniform in +-``max_degrees`` (seed 001: 15)."""
    _check_batch(x)
    params = {'angle': rng.uniform(-max_degrees, max_degrees, size=x.shape[0]),
              'interpolation': interpolation}
    y = apply_rotation(x, params, interpolation)
    return _result(y, params, return_params)


def identity(x, rng, return_params=False):
    """No augmentation (a copy, so callers may always own the result)."""
    return _result(x.copy(), {}, return_params)


def _result(y, params, return_params):
    return (y, params) if return_params else y


AUGMENTATIONS = {
    'crop': random_crop,
    'flip': random_flip,
    'erasing': random_erasing,
    'cutout': cutout,
    'rotate': random_rotation,
    'none': identity,
}

APPLY = {
    'crop': apply_crop,
    'flip': apply_flip,
    'erasing': apply_boxes,
    'cutout': apply_boxes,
    'rotate': lambda x, params: apply_rotation(
        x, params, params.get('interpolation', 'bilinear')),
    'none': lambda x, params: x.copy(),
}


def parse_augment(spec):
    """``'crop,flip'`` -> ``['crop', 'flip']``; ``'none'``/empty/None -> ``[]``.

    Raises UserError naming ``--augment`` for unknown or repeated names, or
    'none' combined with others.
    """
    if spec is None:
        return []
    names = [part.strip().lower() for part in str(spec).split(',')]
    names = [name for name in names if name]
    valid = ', '.join(sorted(AUGMENTATIONS))
    for name in names:
        if name not in AUGMENTATIONS:
            raise UserError('--augment: unknown augmentation {!r}; valid names '
                            'are {} (comma-separated, e.g. crop,flip)'
                            .format(name, valid))
    if len(set(names)) != len(names):
        raise UserError('--augment {!r}: a name is repeated'.format(spec))
    if 'none' in names and len(names) > 1:
        raise UserError("--augment {!r}: 'none' cannot be combined with other "
                        "augmentations".format(spec))
    return [name for name in names if name != 'none']


class Augmentation(object):
    """The named transforms applied in order: ``aug(x, rng) -> new array``."""

    def __init__(self, names):
        self.names = tuple(names)
        self._functions = [AUGMENTATIONS[name] for name in self.names]

    def __call__(self, x, rng):
        # An empty pipeline hands back ``x`` itself: nothing to copy for.
        for function in self._functions:
            x = function(x, rng)
        return x

    def __repr__(self):
        return 'Augmentation({})'.format(','.join(self.names) or 'none')


def build_augmentation(names):
    """An :class:`Augmentation` from names (a list, or a comma string).

    Names are checked as :func:`parse_augment` checks ``--augment``.
    """
    if not isinstance(names, str):
        names = ','.join(names)
    return Augmentation(parse_augment(names))
