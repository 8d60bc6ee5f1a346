"""A small pool of large scratch arrays (patch matrices) reused across iterations.

Arrays above glibc's mmap threshold (at most 32 MiB) are mapped fresh on every
allocation and page-faulted in on first touch; on this project's VMs that made
building a 200 MB patch matrix take about twice as long as the copy itself.
Training allocates the same shapes every iteration, so a per-shape free list
removes that cost.  Only scratch arrays that never leave this package are
pooled (never arrays handed to Chainer).
"""
import collections
import threading

import numpy

#: Arrays smaller than this come from malloc's heap cheaply; do not pool them.
MIN_POOLED_BYTES = 4 * 2 ** 20
#: Upper bound on the bytes kept idle in the pool.
MAX_IDLE_BYTES = 3 * 2 ** 30

_free = collections.defaultdict(list)
_idle_bytes = 0
_lock = threading.Lock()


def take(shape, dtype):
    """An uninitialized array of ``shape``/``dtype``, reused when one is idle."""
    global _idle_bytes
    key = (tuple(shape), numpy.dtype(dtype).str)
    with _lock:
        if _free[key]:
            array = _free[key].pop()
            _idle_bytes -= array.nbytes
            return array
    return numpy.empty(shape, dtype)


def give(array):
    """Return an array obtained from :func:`take` (callers must not use it after)."""
    global _idle_bytes
    if array is None or array.nbytes < MIN_POOLED_BYTES or not array.flags.c_contiguous:
        return
    key = (array.shape, array.dtype.str)
    with _lock:
        if _idle_bytes + array.nbytes > MAX_IDLE_BYTES:
            return
        _free[key].append(array)
        _idle_bytes += array.nbytes


def clear():
    """Drop every idle array (frees their memory)."""
    global _idle_bytes
    with _lock:
        _free.clear()
        _idle_bytes = 0


def idle_bytes():
    return _idle_bytes
