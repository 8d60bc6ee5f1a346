"""The fixed validation split held out of the training set.

Model selection (the best epoch) must not look at the test set, so 5,000
training images (CIFAR-10/100, MNIST, Fashion-MNIST) are held out for
validation.  The split comes from a fixed seed that does not depend on
``--seed``: every run of a dataset holds out the same images, so runs are
comparable; the held-out indices' sha256 goes into metadata.json so that this
can be checked.  Small datasets (tests) hold out a tenth instead.

The training and validation subsets are views (``SubDataset`` over index
arrays), so the images are never copied.
"""
import hashlib

import chainer
import numpy

from chainer_compare.errors import UserError

VALIDATION_SIZE = 5000
SPLIT_SEED = 20160606  # fixed forever: changing it changes every dataset's split
SUBSET_SEED = SPLIT_SEED + 1  # the --train_size subset, likewise fixed


def validation_size(n_train):
    return min(VALIDATION_SIZE, n_train // 10)


def split_indices(n_train):
    """(train_indices, validation_indices), both sorted int64 arrays."""
    order = numpy.random.RandomState(SPLIT_SEED).permutation(n_train)
    n_valid = validation_size(n_train)
    return numpy.sort(order[n_valid:]), numpy.sort(order[:n_valid])


def indices_sha256(indices):
    return hashlib.sha256(numpy.ascontiguousarray(indices, dtype='<i8').tobytes()).hexdigest()


def _subsets(x, y, train_idx, valid_idx):
    """Two views of (x, y); SubDataset wants a full permutation and a range of it.

    Indices in neither set (left out by ``--train_size``) go at the end.
    """
    used = numpy.zeros(len(x), dtype=bool)
    used[train_idx] = used[valid_idx] = True
    order = numpy.concatenate([train_idx, valid_idx, numpy.flatnonzero(~used)])
    base = chainer.datasets.TupleDataset(x, y)
    n, m = len(train_idx), len(train_idx) + len(valid_idx)
    return (chainer.datasets.SubDataset(base, 0, n, order=order),
            chainer.datasets.SubDataset(base, n, m, order=order))


def training_subset(train_idx, train_size, source):
    """A fixed random subset of ``train_idx`` (``--train_size``), sorted."""
    if train_size is None:
        return train_idx
    if train_size > len(train_idx):
        raise UserError('--train_size {}: {} has only {} training images{}'.format(
            train_size, source, len(train_idx), '' if len(train_idx) == 0 else
            ' after the validation hold-out'))
    order = numpy.random.RandomState(SUBSET_SEED).permutation(len(train_idx))
    return numpy.sort(train_idx[order[:train_size]])


def make_datasets(data, use_validation=True, train_size=None):
    """(train, validation or None, test, info) from a ``PreparedData``.

    ``info`` is the ``validation_split`` record written to metadata.json.
    ``train_size`` keeps a fixed random subset of the training images.
    """
    x, y = data.train_x, data.train_y
    test = chainer.datasets.TupleDataset(data.test_x, data.test_y)
    if not use_validation:
        train_idx = training_subset(numpy.arange(len(x)), train_size, data.directory)
        info = {'held_out': 0, 'train_size': int(len(train_idx)), 'no_valid_data': True,
                'note': 'trained on all training data (--no_valid_data); '
                        'the best epoch is the last epoch'}
        if train_size is None:
            return chainer.datasets.TupleDataset(x, y), None, test, info
        info['note'] = 'trained on a subset of {} images (--train_size) with no ' \
                       'validation split; the best epoch is the last epoch'.format(train_size)
        train, _ = _subsets(x, y, train_idx, numpy.array([], dtype=train_idx.dtype))
        return train, None, test, info
    train_idx, valid_idx = split_indices(len(x))
    train_idx = training_subset(train_idx, train_size, data.directory)
    if len(valid_idx) == 0:
        raise UserError('{}: only {} training images, too few to hold out a validation '
                        'split; use --no_valid_data'.format(data.directory, len(x)))
    info = {'held_out': int(len(valid_idx)), 'train_size': int(len(train_idx)),
            'no_valid_data': False, 'seed': SPLIT_SEED,
            'indices_sha256': indices_sha256(valid_idx)}
    train, valid = _subsets(x, y, train_idx, valid_idx)
    return train, valid, test, info
