"""The compiled kernels (conv_kernels.c, kernels.c): built once per machine, loaded with ctypes.

The C sources are compiled with the system C compiler (``cc -O3 -march=native``)
into one library the first time a process needs it, into a cache directory
keyed by the hash of the sources, the compiler and this CPU's model and flags (a home directory
shared by cluster nodes with different CPUs gets one library per CPU kind, so
``-march=native`` code never runs where it cannot).  The library is written
to a temporary name and renamed, so processes building at once never load a
half-written file.

Without a compiler, or with ``CHAINER_COMPARE_NATIVE=0``, :func:`library`
returns None and the fast path uses NumPy + BLAS (im2col + GEMM) instead,
with one warning saying why.  :func:`run` runs a kernel over a batch on all
cores through the library's own thread pool (pool.c; ctypes releases the GIL
for the call), and :func:`split_batch` runs Python work (NumPy copies and
GEMMs, which release the GIL too) on the same threads.
"""
import ctypes
import hashlib
import os
import platform
import shutil
import struct
import subprocess
import tempfile
import threading
import warnings

import chainer
import numpy

from chainer_compare.fastcpu import _process, _threads
from chainer_compare.fastcpu._threads import threads

HERE = os.path.dirname(os.path.abspath(__file__))
#: The library's sources: the header the .c files include, then the .c files.
SOURCES = tuple(os.path.join(HERE, name)
                for name in ('kernels.h', 'conv_kernels.c', 'winograd.c', 'kernels.c', 'weights.c',
                             'pool.c', 'chunks.c'))
CFLAGS = ('-O3', '-march=native', '-fPIC', '-shared', '-fno-math-errno', '-pthread')
ENV_SWITCH = 'CHAINER_COMPARE_NATIVE'
ENV_CACHE = 'CHAINER_COMPARE_CACHE'
#: Extra compiler flags, e.g. ``-mno-avx512f`` or ``-DVC=8`` to build (and
#: test) the AVX2 or the 8-float tiles on an AVX-512 machine.
ENV_CFLAGS = 'CHAINER_COMPARE_CFLAGS'
#: How long (microseconds) the pool's idle workers spin for the next kernel
#: call before they sleep.
ENV_SPIN = 'CHAINER_COMPARE_SPIN_US'
SPIN_US_DEFAULT = 300

_P, _I, _L = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
_SIGNATURES = {  # name: (argument types, result type)
    'pool_run': ([_P, _P, _I, _L, _L, _I, _I], _I),
    'conv_wide_tiles': ([], _I),
    'pool_stats': ([_P], None),
    'dropout_mask': ([_P, _I, _P] + [_I] * 4 + [_L] * 4 + [ctypes.c_uint64, ctypes.c_float], _I),
    # Called directly (one thread) by bench/bench_kernels.py.
    'conv_forward': ([_P, _P, _P, _P] + [_I] * 12 + [_L] * 3, None),
}
#: The kernels :func:`run` knows: chunks.c's chunk_<name> functions.
KERNELS = ('python', 'conv_forward', 'conv_backward_weights', 'bn_stats', 'bn_apply',
           'bn_grad_stats', 'bn_grad_apply', 'add_relu', 'relu_grad', 'relu_forward',
           'pad_nhwc', 'max_pool_forward', 'max_pool_backward', 'sum_parts_to_oihw',
           'oihw_to_kernel_layout', 'winograd_forward', 'winograd_weights',
           'winograd_backward_weights', 'winograd_weights_gradient')
_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_long, ctypes.c_long, ctypes.c_long)

_lock = threading.Lock()
_state = {}

# Default for the switch; ``chainer.using_config('fast_cpu_kernels', False)``
# keeps the fast path but on NumPy + BLAS only (im2col + GEMM convolutions).
chainer.global_config.fast_cpu_kernels = True


def kernels_on():
    """The kernels are built and switched on (``chainer.config.fast_cpu_kernels``)."""
    return getattr(chainer.config, 'fast_cpu_kernels', True) and library() is not None


def cache_dir():
    base = os.environ.get(ENV_CACHE) or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'chainer_compare')
    return base


def _cpu_signature():
    """CPU model and feature flags (what ``-march=native`` compiles for)."""
    try:
        with open('/proc/cpuinfo') as f:
            lines = [ln for ln in f if ln.startswith(('model name', 'flags'))]
        return ''.join(sorted(set(lines)))
    except OSError:
        return platform.processor() + platform.machine()


def _compiler():
    return os.environ.get('CC') or shutil.which('cc') or shutil.which('gcc')


def _build(cc):
    source = b''
    for path in SOURCES:
        with open(path, 'rb') as f:
            source += f.read()
    version = subprocess.run([cc, '--version'], capture_output=True, text=True).stdout
    flags = CFLAGS + tuple(os.environ.get(ENV_CFLAGS, '').split())
    key = hashlib.sha256(source + version.encode() + _cpu_signature().encode()
                         + ' '.join(flags).encode()).hexdigest()[:16]
    target = os.path.join(cache_dir(), 'kernels-{}.so'.format(key))
    if os.path.exists(target):
        return target
    os.makedirs(cache_dir(), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.so', dir=cache_dir())
    os.close(fd)
    try:
        c_files = [path for path in SOURCES if path.endswith('.c')]
        result = subprocess.run([cc, *flags, '-o', tmp, *c_files], capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise RuntimeError('{} failed on {}: {}'.format(
                cc, ', '.join(c_files), result.stderr.strip()))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def library():
    """The loaded kernels (ctypes.CDLL with typed entry points), or None."""
    _process.configure()
    with _lock:
        if 'lib' not in _state:
            _state['lib'], _state['why'] = _load()
            if _state['lib'] is None and _state['why']:
                warnings.warn('chainer_compare.fastcpu: compiled kernels unavailable ({}); '
                              'using NumPy + BLAS'.format(_state['why']), RuntimeWarning)
        return _state['lib']


def unavailable_reason():
    """Why :func:`library` is None ('' when it is not, or when switched off)."""
    library()
    return _state.get('why') or ''


def _load():
    if os.environ.get(ENV_SWITCH, '1') == '0':
        return None, ''
    cc = _compiler()
    if cc is None:
        return None, 'no C compiler (cc) found; apt-get install gcc'
    try:
        lib = ctypes.CDLL(_build(cc))
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        return None, str(error)
    for name, (argtypes, restype) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, restype
    lib.chunk_functions = {name: ctypes.cast(getattr(lib, 'chunk_' + name), _P).value
                           for name in KERNELS}
    return lib, ''


def chunks(n):
    """How many chunks :func:`run` and :func:`split_batch` cut a batch of ``n`` into
    (so callers can size per-chunk partial results)."""
    return _threads.chunks(n, threads())


def _spin_us():
    try:
        return max(0, int(os.environ.get(ENV_SPIN, SPIN_US_DEFAULT)))
    except ValueError:
        return SPIN_US_DEFAULT


def _word(value):
    """One kernel argument as a C long: an array's address, NULL, an int or a double's bits."""
    if value is None:
        return 0
    if isinstance(value, float):
        return struct.unpack('<q', struct.pack('<d', value))[0]
    if isinstance(value, numpy.ndarray):
        return value.ctypes.data
    return int(value)


def run(kernel, n, *args, parts=None):
    """Run pool.c's ``chunk_<kernel>`` over [0, n) on all threads: chunk i of
    ``parts`` (default :func:`chunks`) gets its share of [0, n) and i; ``args``
    (arrays, None, ints, floats) in the order that chunk function reads them."""
    lib = _state.get('lib') or library()
    workers = threads()
    parts = _threads.chunks(n, workers) if parts is None else max(1, min(parts, n))
    words = (ctypes.c_long * len(args))(*[_word(a) for a in args])
    lib.pool_run(lib.chunk_functions[kernel], words, len(args), n, parts, workers,
                 _spin_us())


def pool_stats():
    """pool.c's counters since the library was loaded: {'jobs', 'in_pool_s' (callers'
    time inside jobs), 'caller_wait_s' (of which waiting for workers' chunks),
    'worker_busy_s' (workers' time running chunks)}."""
    out = (ctypes.c_long * 4)()
    library().pool_stats(out)
    return {'jobs': out[0], 'in_pool_s': out[1] * 1e-9, 'caller_wait_s': out[2] * 1e-9,
            'worker_busy_s': out[3] * 1e-9}


def split_batch(n, work, parts=None):
    """Run ``work(lo, hi)`` over [0, n) in contiguous chunks on all threads; wait for all.

    ``parts``: how many chunks (default :func:`chunks`; as many as threads
    gives equal ones, e.g. for GEMMs, whose speed grows with their size).
    Returns the chunks' results in order; an exception in any chunk is raised
    here.  With the compiled library the chunks run on its pool (each a
    ctypes callback, which takes the GIL; NumPy releases it inside copies and
    GEMMs), else on :mod:`._threads`' Python threads.
    """
    workers = threads()
    parts = chunks(n) if parts is None else max(1, min(parts, n))
    lib = library() if workers > 1 and parts > 1 else None
    if lib is None:
        return _threads.split_batch(n, work)
    results, errors = [None] * parts, []

    def chunk(lo, hi, i):
        try:
            results[i] = work(lo, hi)
        except BaseException as error:  # raised below: ctypes would only print it
            errors.append(error)
    callback = _CALLBACK(chunk)
    run('python', n, ctypes.cast(callback, _P).value, parts=parts)
    if errors:
        raise errors[0]
    return results
