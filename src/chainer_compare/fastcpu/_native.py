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
with one warning saying why.  ctypes releases the GIL during a call, so
:func:`split_batch` (fastcpu/_threads.py) runs the kernels on all cores.
"""
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings

import chainer

from chainer_compare.fastcpu import _process
from chainer_compare.fastcpu._threads import split_batch, threads  # noqa: F401  (used as _native.*)

HERE = os.path.dirname(os.path.abspath(__file__))
#: The library's sources: the header the .c files include, then the .c files.
SOURCES = tuple(os.path.join(HERE, name) for name in ('kernels.h', 'conv_kernels.c', 'kernels.c'))
CFLAGS = ('-O3', '-march=native', '-fPIC', '-shared', '-fno-math-errno')
ENV_SWITCH = 'CHAINER_COMPARE_NATIVE'
ENV_CACHE = 'CHAINER_COMPARE_CACHE'
#: Extra compiler flags, e.g. ``-mno-avx512f`` or ``-DVC=8`` to build (and
#: test) the AVX2 or the 8-float tiles on an AVX-512 machine.
ENV_CFLAGS = 'CHAINER_COMPARE_CFLAGS'

_P, _I, _L = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
_SIGNATURES = {
    'conv_forward': [_P, _P, _P, _P] + [_I] * 12 + [_L] * 3,
    'conv_backward_weights': [_P, _P, _P, _P] + [_I] * 12,
    'bn_stats': [_P, _P, _L, _L, _I],
    'bn_apply': [_P, _P, _P, _P, _L, _L, _I, _I],
    'bn_grad_stats': [_P, _P, _P, _P, _P, _L, _L, _I],
    'bn_grad_apply': [_P] * 8 + [_L, _L, _I],
    'add_relu': [_P, _P, _P, _L, _L],
    'relu_grad': [_P, _P, _P, _L, _L],
    'relu_forward': [_P, _P, _L, _L],
    'conv_wide_tiles': [],
    'pad_nhwc': [_P, _P] + [_I] * 9 + [ctypes.c_float],
    'max_pool_forward': [_P, _P, _P] + [_I] * 13,
    'max_pool_backward': [_P, _P, _P] + [_I] * 13,
}

_lock = threading.Lock()
_state = {}

# Default for the switch; ``chainer.using_config('fast_cpu_kernels', False)``
# keeps the fast path but on NumPy + BLAS only (im2col + GEMM convolutions).
chainer.global_config.fast_cpu_kernels = True


def kernels_on():
    """The kernels are built and switched on (``chainer.config.fast_cpu_kernels``)."""
    return getattr(chainer.config, 'fast_cpu_kernels', True) and library() is not None


def ptr(a):
    """The data address of a C-contiguous array for a kernel argument (None: NULL)."""
    return None if a is None else a.ctypes.data


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
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, (_I if not argtypes else None)  # queries return int
    return lib, ''
