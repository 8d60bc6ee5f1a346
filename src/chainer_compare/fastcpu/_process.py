"""Process-wide settings the fast CPU path makes once, on first use.

Both are about sharing the machine with the rest of the process, and each
has an environment switch that leaves it alone:

* ``CHAINER_COMPARE_MALLOC=0``: glibc's malloc keeps large freed blocks for
  reuse (:func:`keep_freed_memory`).
* ``CHAINER_COMPARE_BLAS_THREADS=keep``: NumPy's BLAS keeps its own threads
  instead of running single-threaded inside the fast path's thread pool
  (:func:`single_threaded_blas`).
"""
import contextlib
import ctypes
import os
import platform
import threading
import warnings

ENV_MALLOC = 'CHAINER_COMPARE_MALLOC'
ENV_BLAS = 'CHAINER_COMPARE_BLAS_THREADS'
#: glibc's mallopt parameters (malloc.h) and the value set for both: freed
#: blocks up to this size stay in malloc's heap for the next allocation.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
HEAP_KEEP_BYTES = 2 ** 30

_lock = threading.RLock()
_state = {}


def configure():
    """Apply both settings (once per process; later calls return at once)."""
    with _lock:
        if 'configured' not in _state:
            _state['configured'] = True
            _state['malloc'] = _set_malloc_thresholds()
            _state['blas'] = _limit_blas()


def keep_freed_memory():
    """Whether glibc's malloc reuses large freed blocks instead of unmapping them.

    A training step allocates the same activation-sized arrays every
    iteration.  glibc serves blocks above its mmap threshold (adaptive, at
    most 32 MiB) with a fresh mmap and returns freed memory above its trim
    threshold to the OS, so the kernel zero-fills and page-faults every such
    array again on first touch: on a ResNet-20 step of batch 128 that was
    about a third of the time outside the convolutions.  Both thresholds at
    1 GiB keep the pages mapped; the price is that the process keeps its peak
    memory, which a training loop reaches every step anyway.
    """
    configure()
    return _state['malloc']


def single_threaded_blas():
    """Whether NumPy's BLAS runs on one thread (the fast path then splits GEMMs itself).

    OpenBLAS's worker threads keep spinning for about 0.1 s (2^28 cycles)
    after each multi-threaded call before they sleep.  A training step calls
    BLAS every few milliseconds, so the kernels' threads shared their cores
    with spinning BLAS threads almost all the time: on 2 cores a ResNet-20
    step took 0.56-0.62 s with both threads and 0.56-0.58 s with one, and
    0.44-0.47 s once BLAS ran single-threaded (2026-12-03).  So the fast path
    runs every GEMM as row blocks on its own threads (:func:`.conv.gemm`),
    each a single-threaded BLAS call (NumPy releases the GIL), and limits
    the BLAS libraries loaded in the process to one thread.  Other NumPy
    code in the same process then runs BLAS on one thread too;
    ``CHAINER_COMPARE_BLAS_THREADS=keep`` leaves BLAS as it is.
    """
    configure()
    return _state['blas'] is not None


@contextlib.contextmanager
def blas_threads_restored():
    """BLAS on its original thread count inside the block (e.g. to time stock Chainer)."""
    configure()
    controller = _state['blas']
    if controller is None:
        yield
        return
    controller.limit(limits=_state['blas_threads'])
    try:
        yield
    finally:
        controller.limit(limits=1)


def _switched_off(name, off, default):
    """Whether environment variable ``name`` is ``off``.  Another value than
    ``off`` and ``default`` (or unset) gets a warning naming both, so that a typo
    does not silently keep the default."""
    value = os.environ.get(name, default)
    if value not in (off, default):
        warnings.warn('{}={!r} not understood (use {}={} to switch this off); keeping the '
                      'default'.format(name, value, name, off), RuntimeWarning)
    return value == off


def _set_malloc_thresholds():
    if _switched_off(ENV_MALLOC, '0', '1') or platform.system() != 'Linux':
        return False
    try:
        libc = ctypes.CDLL('libc.so.6')
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, HEAP_KEEP_BYTES)
                    and libc.mallopt(_M_TRIM_THRESHOLD, HEAP_KEEP_BYTES))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False


def _limit_blas():
    """Limit the process's BLAS libraries to one thread; their controller, or None."""
    if _switched_off(ENV_BLAS, 'keep', ''):
        return None
    try:
        import threadpoolctl
    except ImportError:
        return None
    blas = threadpoolctl.ThreadpoolController().select(user_api='blas')
    # Only OpenBLAS on pthreads (NumPy's wheels) has one process-wide pool that
    # this limit and the kernel threads' single-threaded calls can rely on.
    if not blas.lib_controllers or any(
            (lib.internal_api, getattr(lib, 'threading_layer', '')) != ('openblas', 'pthreads')
            for lib in blas.lib_controllers):
        return None
    _state['blas_threads'] = max(lib.num_threads for lib in blas.lib_controllers)
    blas.limit(limits=1)
    return blas
