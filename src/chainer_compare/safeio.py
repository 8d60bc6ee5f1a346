"""Atomic file writes and a restricted unpickler.

Every file this project writes goes through :func:`atomic_write` (write a temp
file in the same directory, fsync, rename), so a kill at any moment leaves
either the old file or the new one, never a half-written file that a later run
would read as valid.

Pickles (CIFAR's archives and our own dataset files) are read only through
:func:`safe_load_pickle`, which admits NumPy arrays, dtypes and plain
containers and refuses every other global: a malicious pickle cannot execute
anything.
"""
import contextlib
import io
import os
import pickle
import tempfile

from chainer_compare.errors import UserError

# (module, name) pairs a pickle may reference.  Everything needed to rebuild a
# numpy array/scalar/dtype under NumPy 1.x and 2.x, plus builtin containers.
_ALLOWED_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'),  # protocol 5 arrays
    ('numpy._core.numeric', '_frombuffer'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('builtins', 'dict'),
    ('builtins', 'list'),
    ('builtins', 'tuple'),
    ('builtins', 'set'),
    ('builtins', 'frozenset'),
    ('builtins', 'bytearray'),
    ('__builtin__', 'set'),  # Python 2 pickles
    ('copy_reg', '_reconstructor'),
    ('copyreg', '_reconstructor'),
    ('__builtin__', 'object'),
    ('builtins', 'object'),
    # Protocol-2 pickles written by Python 3 encode bytes as
    # _codecs.encode(str, 'latin1'); it only builds a bytes object.
    ('_codecs', 'encode'),
}


class UnsafePickleError(UserError):
    """A pickle referenced a global outside the allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source, **kwargs):
        super().__init__(file, **kwargs)
        self._source = source

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS or (
                module in ('numpy', 'numpy.dtypes') and name.endswith('DType')):
            return super().find_class(module, name)
        raise UnsafePickleError(
            '{}: refused to unpickle: it references {}.{}, and only numpy arrays '
            'and plain containers are allowed; the file is corrupt or malicious, '
            'delete it and recreate it'.format(self._source, module, name))

    def persistent_load(self, pid):
        raise UnsafePickleError('{}: refused to unpickle: persistent ids are not '
                                'allowed'.format(self._source))


def safe_loads(data, source='<bytes>', encoding='bytes'):
    """Unpickle ``data`` admitting only numpy arrays and plain containers.

    ``encoding='bytes'`` keeps Python 2 str keys as bytes (CIFAR's b'data').
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source,
                                    encoding=encoding).load()
    except UserError:
        raise
    except Exception as e:  # truncated or garbled stream
        raise UserError('{}: not a readable pickle ({}: {}); delete it and '
                        'recreate it'.format(source, type(e).__name__, e))


def safe_load_pickle(path, encoding='bytes'):
    """Read and safely unpickle the file at ``path``."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        raise UserError('{}: file not found'.format(path))
    except OSError as e:
        raise UserError('{}: cannot read ({})'.format(path, e.strerror))
    return safe_loads(data, source=str(path), encoding=encoding)


# Read once at import: os.umask can only be read by setting it, which would race
# with the data stage's writer threads.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path, mode='wb'):
    """Open a temp file next to ``path``; rename it over ``path`` on success.

    On any exception the temp file is removed and ``path`` is left untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.',
                                   suffix='.tmp', dir=directory)
    except OSError as e:
        raise UserError('{}: cannot write there ({}); choose a writable '
                        'directory'.format(directory, e.strerror))
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the result the usual umask mode so
        # datasets and runs can be shared like any other file.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    with atomic_write(path, 'w') as f:
        f.write(text)
