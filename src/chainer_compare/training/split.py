"""Training, validation and test datasets from prepared data.

The validation split itself (fixed seed, 5,000 images) is defined in
``chainer_compare.data.split``, which the data stage also uses to keep those
images out of its statistics; the held-out indices' sha256 goes into
metadata.json so that runs can be checked to share it, and
:func:`check_statistics_fit` refuses data whose statistics saw the images
this run validates on.

The training and validation subsets are views (``SubDataset`` over index
arrays), so the images are never copied.
"""
import os

import chainer
import numpy

from chainer_compare.data.split import (  # noqa: F401  (re-exported for callers and tests)
    FIT_ALL_TRAIN, FIT_TRAIN_MINUS_VALIDATION, SPLIT_SEED, VALIDATION_SIZE,
    indices_sha256, split_indices, validation_record, validation_size)
from chainer_compare.errors import UserError

SUBSET_SEED = SPLIT_SEED + 1  # the --train_size subset, fixed like the split


def check_statistics_fit(data, use_validation):
    """Refuse data whose preprocessing statistics were fitted on this run's
    validation images (or whose manifest predates the record of the fit).

    Fitted on all training images (``dataset.py --fit-on-all-train``, seed
    004's recipe) is fine for ``--no_valid_data``, where nothing is validated;
    fitted on the training images minus the split is fine for every run (with
    ``--no_valid_data`` the statistics merely come from a subset).
    """
    manifest_path = os.path.join(data.directory, 'manifest.json')
    fit_on = data.manifest.get('fit_on')
    if fit_on is None:
        raise UserError('{}: prepared before the data stage recorded which training images '
                        'its statistics were fitted on (no fit_on); rerun: python '
                        'src/dataset.py --force --out {}'.format(manifest_path, data.directory))
    if not use_validation:
        return
    if fit_on == FIT_ALL_TRAIN:
        raise UserError('{}: the mean and ZCA were fitted on all training images, including '
                        'the validation split (dataset.py --fit-on-all-train); train with '
                        '--no_valid_data, or rerun python src/dataset.py --force without '
                        '--fit-on-all-train'.format(manifest_path))
    excluded = data.manifest.get('statistics_fit', {}).get('excluded_validation')
    if excluded != validation_record(split_indices(len(data.train_x))[1]):
        raise UserError('{}: the statistics exclude a different validation split than this '
                        'trainer holds out; rerun: python src/dataset.py --force --out {}'
                        .format(manifest_path, data.directory))


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
    info = dict(validation_record(valid_idx), train_size=int(len(train_idx)),
                no_valid_data=False)
    train, valid = _subsets(x, y, train_idx, valid_idx)
    return train, valid, test, info
