"""Read the published archives without trusting them.

CIFAR: a tar.gz of Python-2 pickles.  Members are read into memory, never
extracted, and the whole archive is refused if any member has an absolute
path, a ``..`` component, or is a link or device.  A copy the user already
extracted (``cifar-10-batches-py/``) is read file by file the same way.  Pickles go through
:func:`chainer_compare.safeio.safe_loads` (numpy arrays and containers only);
keys arrive as bytes (b'data', b'labels', b'fine_labels').

MNIST / Fashion-MNIST: gzipped IDX files (big-endian header, uint8 payload).
"""
import gzip
import hashlib
import io
import os
import posixpath
import struct
import tarfile
import zlib

import numpy

from chainer_compare.errors import UserError
from chainer_compare.safeio import safe_loads

_MAX_MEMBER_BYTES = 1 << 30  # far above any real member; stops a decompression bomb

_CIFAR_LAYOUT = {
    'cifar10': ('cifar-10-batches-py/',
                ['data_batch_{}'.format(i) for i in range(1, 6)], ['test_batch'],
                'batches.meta'),
    'cifar100': ('cifar-100-python/', ['train'], ['test'], 'meta'),
}


def _corrupt(path, e):
    return UserError('{}: archive is truncated or corrupt ({}: {}); delete it and '
                     'download it again, or pass a good copy with --archive'
                     .format(path, type(e).__name__, e))


def _check_member(path, member):
    name = member.name
    parts = name.split('/')
    if name.startswith('/') or '..' in parts or ':' in parts[0]:
        raise UserError('{}: refused: member {!r} points outside the archive; this is '
                        'not an original archive, get a clean copy'.format(path, name))
    if not (member.isreg() or member.isdir()):
        raise UserError('{}: refused: member {!r} is a link or device, which the original '
                        'archive does not contain; get a clean copy'.format(path, name))
    if member.size > _MAX_MEMBER_BYTES:
        raise UserError('{}: refused: member {!r} is implausibly large ({} bytes)'
                        .format(path, name, member.size))


def read_tar_members(path, wanted):
    """Return ``{name: bytes}`` for the regular members named in ``wanted``."""
    found = {}
    try:
        with tarfile.open(path, 'r:gz') as tar:
            for member in tar:
                _check_member(path, member)
                name = posixpath.normpath(member.name)
                if member.isreg() and name in wanted:
                    found[name] = tar.extractfile(member).read()
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError('{}: archive not found; check the path given to --archive'.format(path))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise _corrupt(path, e)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise UserError('{}: not the expected archive: member(s) {} missing'.format(
            path, ', '.join(missing)))
    return found


def _field(batch, key, source):
    for k in (key, key.decode('ascii')):  # Python-2 bytes keys, or str if re-pickled
        if k in batch:
            return batch[k]
    raise UserError('{}: missing key {!r}; not a CIFAR pickle, use the original '
                    'archive'.format(source, key))


def _labels(batch, key, n, n_classes, source):
    labels = numpy.asarray(_field(batch, key, source))
    if (labels.shape != (n,) or not numpy.issubdtype(labels.dtype, numpy.integer)
            or (n and (labels.min() < 0 or labels.max() >= n_classes))):
        raise UserError('{}: {!r} must be {} integers in [0, {}), got {} {}'.format(
            source, key, n, n_classes, labels.dtype, labels.shape))
    return labels.astype(numpy.int32)


def _names(meta, key, source):
    names = _field(meta, key, source)
    if not isinstance(names, list) or not all(isinstance(x, (bytes, str)) for x in names):
        raise UserError('{}: {!r} must be a list of strings'.format(source, key))
    return [x.decode('utf-8') if isinstance(x, bytes) else x for x in names]


def _batch(data, source, label_keys, n_classes):
    batch = safe_loads(data, source=source)
    if not isinstance(batch, dict):
        raise UserError('{}: expected a dict, got {}; not a CIFAR pickle'.format(
            source, type(batch).__name__))
    x = _field(batch, b'data', source)
    if (not isinstance(x, numpy.ndarray) or x.dtype != numpy.uint8 or x.ndim != 2
            or x.shape[1] != 3 * 32 * 32):
        raise UserError("{}: b'data' must be a uint8 array of shape (N, 3072), got {}".format(
            source, getattr(x, 'dtype', type(x).__name__) if not isinstance(x, numpy.ndarray)
            else '{} {}'.format(x.dtype, x.shape)))
    ys = [_labels(batch, k, len(x), c, source) for k, c in zip(label_keys, n_classes)]
    return x.reshape(-1, 3, 32, 32), ys


def cifar_member_names(kind):
    """The files of an extracted CIFAR archive (training batches, test, meta)."""
    _, train_names, test_names, meta_name = _CIFAR_LAYOUT[kind]
    return train_names + test_names + [meta_name]


def cifar_folder_name(kind):
    """``cifar-10-batches-py`` / ``cifar-100-python``: what the tar.gz extracts to."""
    return _CIFAR_LAYOUT[kind][0].rstrip('/')


def find_extracted_cifar(directory, kind):
    """The folder holding an extracted CIFAR archive's files: ``directory``
    itself or its ``cifar-10-batches-py/`` (``cifar-100-python/``); else None."""
    for folder in (directory, os.path.join(directory, cifar_folder_name(kind))):
        if all(os.path.isfile(os.path.join(folder, n)) for n in cifar_member_names(kind)):
            return folder
    return None


def read_extracted_members(folder, names):
    """Return ``{name: bytes}`` for the files ``names`` in ``folder``."""
    found = {}
    for name in names:
        path = os.path.join(folder, name)
        if os.path.getsize(path) > _MAX_MEMBER_BYTES:
            raise UserError('{}: refused: implausibly large ({} bytes) for a CIFAR file'
                            .format(path, os.path.getsize(path)))
        with open(path, 'rb') as f:
            found[name] = f.read()
    return found


def load_cifar(path, kind):
    """Parse a CIFAR-10/100 archive, or the folder it was extracted to:
    ``{'train_x', 'train_y', 'test_x', 'test_y', 'class_names'}``
    (+ ``'train_coarse', 'test_coarse', 'coarse_names'`` for CIFAR-100)."""
    prefix, train_names, test_names, meta_name = _CIFAR_LAYOUT[kind]
    names = cifar_member_names(kind)
    if os.path.isdir(path):
        members = read_extracted_members(path, names)

        def source(name):
            return os.path.join(path, name)
    else:
        in_tar = read_tar_members(path, {prefix + n for n in names})
        members = {n: in_tar[prefix + n] for n in names}

        def source(name):
            return '{}:{}'.format(path, prefix + name)

    meta = safe_loads(members[meta_name], source=source(meta_name))
    if not isinstance(meta, dict):
        raise UserError('{}: expected a dict'.format(source(meta_name)))
    if kind == 'cifar10':
        keys, class_names = [b'labels'], [_names(meta, b'label_names', source(meta_name))]
    else:
        keys = [b'fine_labels', b'coarse_labels']
        class_names = [_names(meta, b'fine_label_names', source(meta_name)),
                       _names(meta, b'coarse_label_names', source(meta_name))]
    out = {}
    for split, split_names in (('train', train_names), ('test', test_names)):
        parts = [_batch(members[n], source(n), keys, [len(x) for x in class_names])
                 for n in split_names]
        out[split + '_x'] = numpy.concatenate([p[0] for p in parts])
        out[split + '_y'] = numpy.concatenate([p[1][0] for p in parts])
        if kind == 'cifar100':
            out[split + '_coarse'] = numpy.concatenate([p[1][1] for p in parts])
    out['class_names'] = class_names[0]
    if kind == 'cifar100':
        out['coarse_names'] = class_names[1]
    return out


def parse_idx(data, source, payload_md5=None):
    """Decode one gzipped IDX file to a uint8 array; check its payload MD5 if given.

    Returns ``(array, payload_md5_hex)``.
    """
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            payload = f.read(_MAX_MEMBER_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise _corrupt(source, e)
    if len(payload) > _MAX_MEMBER_BYTES:
        raise UserError('{}: refused: decompresses to more than {} bytes, far more than any '
                        'real dataset file'.format(source, _MAX_MEMBER_BYTES))
    digest = hashlib.md5(payload).hexdigest()
    if payload_md5 is not None and digest != payload_md5:
        raise UserError('{}: decompressed content has MD5 {} but {} was expected; the file '
                        'is corrupt or another dataset, delete it or pass --archive'
                        .format(source, digest, payload_md5))
    if len(payload) < 4 or payload[:2] != b'\0\0' or payload[2] != 0x08:
        raise UserError('{}: not an IDX file of unsigned bytes (bad magic number)'.format(source))
    ndim = payload[3]
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise _corrupt(source, ValueError('header cut short'))
    dims = struct.unpack('>{}I'.format(ndim), payload[4:header])
    if len(payload) - header != int(numpy.prod(dims, dtype=numpy.int64)):
        raise _corrupt(source, ValueError('{} data bytes for dimensions {}'.format(
            len(payload) - header, dims)))
    return numpy.frombuffer(payload, numpy.uint8, offset=header).reshape(dims), digest


def load_idx(files, shape, n_classes):
    """``files``: ``{role: (path, payload_md5 or None)}`` for the four IDX files."""
    out, digests = {}, {}
    for split in ('train', 'test'):
        arrays = {}
        for what in ('images', 'labels'):
            path, expected = files['{}_{}'.format(split, what)]
            try:
                with open(path, 'rb') as f:
                    data = f.read()
            except OSError as e:
                raise UserError('{}: cannot read ({})'.format(path, e.strerror))
            arrays[what], digests[path] = parse_idx(data, path, expected)
        x, y = arrays['images'], arrays['labels']
        if x.ndim != 3 or x.shape[1:] != tuple(shape[1:]) or y.shape != (len(x),):
            raise UserError('{}: images {} and labels {} do not match the expected (N, {}, {})'
                            ' and (N,)'.format(files[split + '_images'][0], x.shape,
                                               y.shape, *shape[1:]))
        if len(y) and y.max() >= n_classes:
            raise UserError('{}: label {} out of range [0, {})'.format(
                files[split + '_labels'][0], y.max(), n_classes))
        out[split + '_x'] = x.reshape(len(x), *shape)
        out[split + '_y'] = y.astype(numpy.int32)
    return out, digests
