"""Tiny source files in the real published formats, for the data-stage tests.

CIFAR archives hold Python-2-style protocol-2 pickles with bytes keys, exactly
as ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` do; MNIST-style
datasets are four gzipped IDX files.
"""
import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile

import numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR10_NAMES = [b'airplane', b'automobile', b'bird', b'cat', b'deer', b'dog', b'frog',
                 b'horse', b'ship', b'truck']


def md5(path):
    with open(path, 'rb') as f:
        return hashlib.md5(f.read()).hexdigest()


def images(n, seed, channels=3, size=32):
    """Smooth-ish random images so that whitening has structure to remove."""
    rng = numpy.random.RandomState(seed)
    base = rng.randint(0, 256, (n, channels, size, size)).astype(numpy.float32)
    base = (base + numpy.roll(base, 1, axis=3) + numpy.roll(base, 1, axis=2)) / 3
    return base.astype(numpy.uint8)


class _Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's ``cPickle`` wrote the CIFAR batches: a bytes
    object (Python 2's ``str``, e.g. an array's raw data) is a ``BINSTRING``
    opcode, not Python 3's ``_codecs.encode(<latin-1 text>)`` call, which
    would make the data 1.5x larger and slow to read."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes_as_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(obj)) + obj)
        self.memoize(obj)

    def save_str_as_str(self, obj):  # Python 2 text was bytes too ('u1', '|' in dtypes)
        self.save_bytes_as_str(obj.encode('latin-1'))

    def save_global(self, obj, name=None):  # the module names of NumPy 1
        module = getattr(obj, '__module__', '')
        if module.startswith('numpy._core'):
            name = name or obj.__qualname__
            self.write(pickle.GLOBAL + bytes('numpy.core{}\n{}\n'.format(
                module[len('numpy._core'):], name), 'ascii'))
            self.memoize(obj)
        else:
            super().save_global(obj, name)

    dispatch[bytes] = save_bytes_as_str
    dispatch[str] = save_str_as_str


def python2_dumps(obj):
    """``obj`` pickled byte-for-byte the way a CIFAR archive's members are."""
    out = io.BytesIO()
    _Python2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_tar(path, members, extra=None):
    """``members``: {name: bytes}; ``extra(tar)`` may add hostile members."""
    with tarfile.open(path, 'w:gz') as tar:
        for name, data in members.items():
            _add(tar, name, data)
        if extra is not None:
            extra(tar)
    return path


def cifar10_members(n_per_batch=20, n_test=30, seed=0, overrides=None):
    """{member name: pickle bytes} of a CIFAR-10 archive; ``overrides`` replaces some."""
    members = {}
    for i in range(1, 6):
        x = images(n_per_batch, seed + i)
        batch = {b'batch_label': 'training batch {} of 5'.format(i).encode(),
                 b'labels': [int(v) for v in numpy.arange(n_per_batch) % 10],
                 b'data': x.reshape(n_per_batch, -1), b'filenames': [b'x.png'] * n_per_batch}
        members['cifar-10-batches-py/data_batch_{}'.format(i)] = python2_dumps(batch)
    test = {b'batch_label': b'testing batch 1 of 1',
            b'labels': [int(v) for v in numpy.arange(n_test) % 10],
            b'data': images(n_test, seed + 99).reshape(n_test, -1)}
    members['cifar-10-batches-py/test_batch'] = python2_dumps(test)
    meta = {b'label_names': CIFAR10_NAMES, b'num_cases_per_batch': n_per_batch,
            b'num_vis': 3072}
    members['cifar-10-batches-py/batches.meta'] = python2_dumps(meta)
    members.update(overrides or {})
    return members


def cifar10_archive(directory, **kwargs):
    extra = kwargs.pop('extra', None)
    os.makedirs(directory, exist_ok=True)
    return write_tar(os.path.join(directory, 'cifar-10-python.tar.gz'),
                     cifar10_members(**kwargs), extra)


def cifar100_archive(directory, n_train=60, n_test=20, seed=0):
    members = {}
    for split, n in (('train', n_train), ('test', n_test)):
        fine = numpy.arange(n) % 100
        members['cifar-100-python/' + split] = python2_dumps(
            {b'filenames': [b'x.png'] * n, b'batch_label': split.encode(),
             b'fine_labels': [int(v) for v in fine], b'coarse_labels': [int(v) for v in fine // 5],
             b'data': images(n, seed + len(split)).reshape(n, -1)})
    members['cifar-100-python/meta'] = python2_dumps(
        {b'fine_label_names': [b'fine%d' % i for i in range(100)],
         b'coarse_label_names': [b'coarse%d' % i for i in range(20)]})
    return write_tar(os.path.join(directory, 'cifar-100-python.tar.gz'), members)


def idx_bytes(array):
    header = struct.pack('>BBBB', 0, 0, 0x08, array.ndim) + struct.pack(
        '>{}I'.format(array.ndim), *array.shape)
    return gzip.compress(header + array.astype(numpy.uint8).tobytes())


def idx_files(directory, n_train=80, n_test=20, seed=0):
    """The four MNIST-style .gz files in ``directory``."""
    os.makedirs(directory, exist_ok=True)
    arrays = {'train-images-idx3-ubyte.gz': images(n_train, seed, 1, 28)[:, 0],
              'train-labels-idx1-ubyte.gz': numpy.arange(n_train) % 10,
              't10k-images-idx3-ubyte.gz': images(n_test, seed + 1, 1, 28)[:, 0],
              't10k-labels-idx1-ubyte.gz': numpy.arange(n_test) % 10}
    for name, array in arrays.items():
        with open(os.path.join(directory, name), 'wb') as f:
            f.write(idx_bytes(array))
    return directory


def run_dataset_cli(*args, cwd=None):
    """Run ``python src/dataset.py ARGS`` as a user would; return CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, 'src'))
    return subprocess.run([sys.executable, os.path.join(ROOT, 'src', 'dataset.py')]
                          + [str(a) for a in args],
                          cwd=cwd or ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


class Evil:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, ('touch ' + self.marker,)
