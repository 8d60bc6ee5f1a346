"""Dropout masks drawn from NumPy's global RNG by the compiled kernels, bit for bit.

:func:`chainer_compare.models.blocks.dropout` draws ``random_sample(shape) >=
ratio`` from NumPy's global MT19937 stream: 14 ms for vgg's first 2.1M-element
mask, one C call per 32-bit word, on one core while the other waits.
kernels.c's ``dropout_mask`` reads the stream's state from
``numpy.random.get_state()``, produces the same doubles' comparison from the
same words (in the mask's own memory layout) and hands the advanced state
back with ``set_state``, so every seeded run, resumed run and test sees the
numbers NumPy would have drawn.
"""
import ctypes
import math

import numpy

from chainer_compare.fastcpu import _native


def dropout_mask(like, ratio):
    """``(numpy.random.random_sample(like.shape) >= ratio) * scale`` laid out as the
    float32 4-D (or fewer dims) array ``like``, or None where the kernels are
    unavailable (the caller draws with NumPy)."""
    lib = _native.library()
    if lib is None or like.dtype != numpy.float32 or like.ndim > 4:
        return None
    mask = numpy.empty_like(like)  # keeps like's memory layout (channels-last too)
    shape = (1,) * (4 - like.ndim) + like.shape
    strides = (0,) * (4 - like.ndim) + tuple(s // mask.itemsize for s in mask.strides)
    name, key, pos, has_gauss, gauss = numpy.random.get_state()
    if name != 'MT19937':
        return None
    key = numpy.array(key, numpy.uint32)  # a copy the kernel advances
    threshold = math.ceil(ratio * 2.0 ** 53)  # exact: u >= ratio <=> 2^53 u >= this
    scale = like.dtype.type(1.0 / (1.0 - ratio))
    pos = lib.dropout_mask(key.ctypes.data, pos, mask.ctypes.data, *shape, *strides,
                           ctypes.c_uint64(threshold), ctypes.c_float(scale))
    numpy.random.set_state((name, key, pos, has_gauss, gauss))
    return mask
