"""Read and write ``.npz`` files (models, snapshots) without pickles.

Chainer's ``serializers.load_npz`` opens files with ``allow_pickle=True``: an
object array in a crafted ``model_best.npz`` or ``snapshot`` is a pickle that
runs whatever it names.  Every ``.npz`` this project reads goes through
:func:`read_npz` instead: ``numpy.load(..., allow_pickle=False)`` with every
array read at once, so an object array, a broken zip or a truncated member is
one :class:`UserError` naming the file before anything is restored from it.
:func:`load_into` then hands the plain arrays to Chainer's own
``NpzDeserializer`` (which accepts any mapping).

Chainer writes a ``None`` value (e.g. an iterator attribute not set yet) as a
pickled object array; :func:`write_npz` lists such keys under
:data:`NONE_KEY` instead and :func:`read_npz` gives them back as ``None``
arrays, so every file we write reads back with ``allow_pickle=False``.
"""
import io
import zipfile

import numpy

from chainer_compare.errors import UserError

NONE_KEY = 'ranks/none_keys'  # the name the multi-rank snapshot has always used


def write_npz(f, arrays):
    """``numpy.savez`` of ``arrays`` (a dict) to the open binary file ``f``, pickle-free."""
    arrays = dict(arrays)
    none_keys = sorted(key for key, value in arrays.items()
                       if value is None or getattr(value, 'dtype', None) == object)
    for key in none_keys:
        if arrays[key] is not None and arrays[key].item() is not None:
            raise TypeError('{}: only None may be stored as an object; got {!r}'.format(
                key, arrays[key]))
        del arrays[key]
    if none_keys:
        arrays[NONE_KEY] = numpy.array(none_keys, dtype=str)
    numpy.savez(f, **arrays)


def read_npz(source, name=None):
    """{key: array} of the npz at ``source`` (a path, or bytes with ``name`` for messages).

    Raises UserError naming the file for an object array (a pickle: crafted or
    written by an older version of Chainer code) or an unreadable file.
    """
    name = name or str(source)
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    arrays = {}
    try:
        npz = numpy.load(stream, allow_pickle=False)
        if not isinstance(npz, numpy.lib.npyio.NpzFile):
            raise ValueError('a single .npy array, not an .npz archive')
        with npz:
            for key in npz.files:
                try:
                    arrays[key] = npz[key]
                except ValueError as e:
                    if 'allow_pickle' not in str(e):
                        raise
                    raise UserError(
                        '{}: refused: {!r} is a pickled object array, which could run code '
                        'when read; only plain numeric arrays are loaded (the file is '
                        'crafted or corrupt): delete it'.format(name, key)) from None
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError('{}: file not found'.format(name)) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise UserError('{}: not a readable .npz file ({}: {}); delete it'.format(
            name, type(e).__name__, e)) from None
    for key in arrays.pop(NONE_KEY, ()):
        arrays[str(key)] = numpy.asarray(None)
    return arrays


def load_into(target, arrays, name, path='', strict=True):
    """Restore ``target`` (a Link or Trainer) from ``arrays`` with Chainer's NpzDeserializer.

    A missing key or a shape mismatch means "not this object's file": UserError naming ``name``.
    """
    from chainer.serializers import NpzDeserializer
    try:
        NpzDeserializer(arrays, path=path, strict=strict).load(target)
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise UserError('{}: does not match what it is loaded into ({}: {})'.format(
            name, type(e).__name__, e)) from None


def load_npz(path, target):
    """Safe replacement for ``chainer.serializers.load_npz(path, target)``."""
    load_into(target, read_npz(path), path)
