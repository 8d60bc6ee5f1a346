"""The files of a prepared dataset directory, written atomically, read safely.

Write order makes interruption harmless: the old ``manifest.json`` is removed
first, every output is written to a temp file and renamed, and the new
manifest (with the sha256 of every output) is written last.  Readers trust a
file only when the manifest exists and lists its exact sha256, so a directory
left by a killed run is never read as valid: it is recomputed, or
:func:`load_prepared` says to recompute it.
"""
import collections
import glob
import hashlib
import json
import os
import pickle

import numpy

from chainer_compare.data.direct_io import DirectWriter
from chainer_compare.data.preprocess import PREPROCESSINGS, transform
from chainer_compare.errors import UserError
from chainer_compare.safeio import atomic_write, atomic_write_text, safe_loads

MANIFEST = 'manifest.json'
STATS = 'preprocess.pkl'
FORMAT = 1

PreparedData = collections.namedtuple(
    'PreparedData', 'train_x train_y test_x test_y class_names dataset preprocessing '
                    'directory manifest')


class _HashingWriter:
    """File wrapper that hashes what pickle writes, so no re-read is needed.
    ``ready(piece)``, when given, is called before each piece (at most
    ``_PIECE`` bytes) of memory is read: it may block until that memory is final."""

    _PIECE = 8 << 20

    def __init__(self, f, ready=None):
        self.f, self.sha256, self.size, self.ready = f, hashlib.sha256(), 0, ready

    def write(self, data):
        view = memoryview(data).cast('B')  # pickle hands over PickleBuffers for big arrays
        step = self._PIECE if self.ready else max(len(view), 1)
        for start in range(0, len(view), step):
            piece = view[start:start + step]
            if self.ready is not None:
                self.ready(piece)
            self.sha256.update(piece)
            self.f.write(piece)
        self.size += len(view)
        return len(view)


def write_file(directory, name, dump, direct=False, ready=None):
    """Atomically write ``directory/name`` via ``dump(fileobj)``; return its record.
    ``direct``: around the page cache (:mod:`~chainer_compare.data.direct_io`);
    ``ready``: see :class:`_HashingWriter`."""
    with atomic_write(os.path.join(directory, name)) as f:
        if direct:
            with DirectWriter(f.fileno()) as raw:
                writer = _HashingWriter(raw, ready)
                dump(writer)
        else:
            writer = _HashingWriter(f, ready)
            dump(writer)
    return {'sha256': writer.sha256.hexdigest(), 'bytes': writer.size}


def write_pickle(directory, name, obj, ready=None):
    """Protocol 5 with in-band buffers: array bytes go to the file straight from
    the array's memory (protocol 4 would first copy each array with tobytes()),
    and from there to the disk without the page cache.  ``ready`` lets the
    writing follow a computation still filling the arrays (:class:`_HashingWriter`)."""
    return write_file(directory, name, lambda f: pickle.dump(obj, f, protocol=5),
                      direct=True, ready=ready)


def sha256_of_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 22), b''):
            digest.update(block)
    return digest.hexdigest()


def check_writable(directory):
    """Fail early (before any download) when ``directory`` cannot be written."""
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, '.write-test')
        with open(probe, 'wb'):
            pass
        os.unlink(probe)
    except OSError as e:
        raise UserError('{}: output directory is not writable ({}); choose another --out'
                        .format(directory, e.strerror))


def start_rewrite(directory):
    """Invalidate the directory before rewriting it; drop temp files of killed runs."""
    check_writable(directory)
    for stale in glob.glob(os.path.join(directory, '.*.tmp')):
        os.unlink(stale)
    if os.path.exists(os.path.join(directory, MANIFEST)):
        os.unlink(os.path.join(directory, MANIFEST))


def write_manifest(directory, manifest):
    atomic_write_text(os.path.join(directory, MANIFEST),
                      json.dumps(manifest, indent=2, sort_keys=True) + '\n')


def read_manifest(directory):
    path = os.path.join(directory, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise UserError('{}: missing, so the dataset there was never completely prepared; '
                        'run: python src/dataset.py --out {}'.format(path, directory))
    except (OSError, ValueError) as e:
        raise UserError('{}: unreadable ({}); rerun python src/dataset.py --force'
                        .format(path, e))
    if not isinstance(manifest, dict) or not isinstance(manifest.get('outputs'), dict):
        raise UserError('{}: not a dataset manifest; rerun python src/dataset.py --force'
                        .format(path))
    return manifest


def stale_reason(directory, expected):
    """None when ``directory`` holds valid outputs matching ``expected``, else why not."""
    if not os.path.exists(os.path.join(directory, MANIFEST)):
        return 'no {} there yet'.format(MANIFEST)
    try:
        manifest = read_manifest(directory)
    except UserError as e:
        return str(e).split(';')[0]
    for key, value in expected.items():
        if manifest.get(key) != value:
            return '{} changed ({!r} -> {!r})'.format(key, manifest.get(key), value)
    for name, record in sorted(manifest['outputs'].items()):
        path = os.path.join(directory, name)
        if not os.path.exists(path) or os.path.getsize(path) != record.get('bytes'):
            return '{} is missing or has the wrong size'.format(name)
        if sha256_of_file(path) != record.get('sha256'):
            return '{} does not match its checksum'.format(name)
    return None


def _read_verified(directory, name, manifest):
    path = os.path.join(directory, name)
    record = manifest['outputs'].get(name)
    if record is None:
        raise UserError('{}: not listed in {}; rerun python src/dataset.py --force'
                        .format(path, MANIFEST))
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise UserError('{}: cannot read ({}); rerun python src/dataset.py'.format(
            path, e.strerror))
    if hashlib.sha256(data).hexdigest() != record.get('sha256'):
        raise UserError('{}: content does not match {} (modified or partly written); '
                        'rerun python src/dataset.py --force'.format(path, MANIFEST))
    return safe_loads(data, source=path)


def _split_arrays(obj, path, dtype, ndim, shape=None):
    if not isinstance(obj, dict) or set(obj) != {'train', 'test'}:
        raise UserError("{}: expected a dict with keys 'train' and 'test'".format(path))
    for split, a in obj.items():
        if (not isinstance(a, numpy.ndarray) or a.dtype != dtype or a.ndim != ndim
                or (shape is not None and tuple(a.shape[1:]) != tuple(shape))):
            raise UserError('{}: {!r} must be a {} array with {} dimensions{}'.format(
                path, split, numpy.dtype(dtype).name, ndim,
                '' if shape is None else ' and shape (N, {})'.format(
                    ', '.join(map(str, shape)))))
    return obj['train'], obj['test']


def load_prepared(path, coarse=False):
    """Read a prepared pickle (or a dataset directory: ``image.pkl``) with its labels.

    ``coarse=True`` reads CIFAR-100's coarse labels (``label_coarse.pkl``).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError('{}: not found; prepare the dataset first: python src/dataset.py '
                        '(see --help for --dataset and --out)'.format(path))
    if os.path.isdir(path):
        directory, name = path, 'image'
    else:
        directory, base = os.path.split(path)
        name = base[:-4] if base.endswith('.pkl') else base
        if name not in PREPROCESSINGS:
            raise UserError('{}: not a prepared dataset file; use one of {} in a directory '
                            'written by src/dataset.py'.format(
                                path, ', '.join(p + '.pkl' for p in PREPROCESSINGS)))
    directory = directory or '.'
    manifest = read_manifest(directory)
    shape = manifest.get('shape')
    images = _read_verified(directory, name + '.pkl', manifest)
    train_x, test_x = _split_arrays(images, os.path.join(directory, name + '.pkl'),
                                    numpy.float32, 4, shape)
    label_name = 'label_coarse.pkl' if coarse else 'label.pkl'
    labels = _read_verified(directory, label_name, manifest)
    label_path = os.path.join(directory, label_name)
    train_y, test_y = _split_arrays(labels, label_path, numpy.int32, 1)
    if len(train_y) != len(train_x) or len(test_y) != len(test_x):
        raise UserError('{}: label counts do not match the images; rerun python '
                        'src/dataset.py --force'.format(label_path))
    class_names = manifest.get('coarse_class_names' if coarse else 'class_names')
    return PreparedData(train_x, train_y, test_x, test_y, class_names,
                        manifest.get('dataset'), name, directory, manifest)


def preprocess_images(images, directory, preprocessing):
    """Transform uint8 NCHW ``images`` exactly as the stored training data was."""
    if preprocessing not in PREPROCESSINGS:
        raise UserError('unknown preprocessing {!r}; choose one of {}'.format(
            preprocessing, ', '.join(PREPROCESSINGS)))
    manifest = read_manifest(directory)
    shape = tuple(manifest.get('shape') or ())
    images = numpy.asarray(images)
    if images.dtype != numpy.uint8 or images.ndim != 4 or images.shape[1:] != shape:
        raise UserError('images must be uint8 of shape (N, {}) for the dataset in {}, got '
                        '{} {}'.format(', '.join(map(str, shape)), directory, images.dtype,
                                       images.shape))
    stats = _read_verified(directory, STATS, manifest)
    if not isinstance(stats, dict) or not {'mean', 'contrast_eps', 'zca'} <= set(stats):
        raise UserError('{}: not preprocessing statistics; rerun python src/dataset.py '
                        '--force'.format(os.path.join(directory, STATS)))
    return transform(images, stats, preprocessing)
