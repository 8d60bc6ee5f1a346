"""The fixed validation split, shared by the data stage and the trainer.

Model selection (the best epoch) must not look at the test set, so 5,000
training images (CIFAR-10/100, MNIST, Fashion-MNIST) are held out for
validation.  The split comes from a fixed seed that does not depend on
``--seed``: every run of a dataset holds out the same images, so runs are
comparable.  Small datasets (tests) hold out a tenth instead.

The data stage fits its statistics (mean, ZCA) on the training images minus
this split, so validation images never shape the preprocessing; it records
which images it fitted on in manifest.json (:func:`statistics_fit_record`)
and the trainer checks that record against the split it uses.

Plain NumPy, no Chainer: ``chainer_compare.data`` imports it, and
``chainer_compare.training.split`` builds its datasets on it.
"""
import hashlib

import numpy

VALIDATION_SIZE = 5000
SPLIT_SEED = 20160606  # fixed forever: changing it changes every dataset's split

# manifest.json 'fit_on': which training images the statistics were fitted on.
FIT_TRAIN_MINUS_VALIDATION = 'train_minus_validation'  # the default
FIT_ALL_TRAIN = 'all_train'  # seed 004's recipe, only for --no_valid_data runs
FIT_CHOICES = (FIT_TRAIN_MINUS_VALIDATION, FIT_ALL_TRAIN)


def validation_size(n_train):
    return min(VALIDATION_SIZE, n_train // 10)


def split_indices(n_train):
    """(train_indices, validation_indices), both sorted int64 arrays."""
    order = numpy.random.RandomState(SPLIT_SEED).permutation(n_train)
    n_valid = validation_size(n_train)
    return numpy.sort(order[n_valid:]), numpy.sort(order[:n_valid])


def indices_sha256(indices):
    return hashlib.sha256(numpy.ascontiguousarray(indices, dtype='<i8').tobytes()).hexdigest()


def validation_record(valid_idx):
    """The held-out split as metadata.json and manifest.json record it."""
    return {'held_out': int(len(valid_idx)), 'seed': SPLIT_SEED,
            'indices_sha256': indices_sha256(valid_idx)}


def fit_indices(n_train, fit_on):
    """Sorted indices of the training images the statistics are fitted on."""
    if fit_on == FIT_ALL_TRAIN:
        return numpy.arange(n_train)
    return split_indices(n_train)[0]


def statistics_fit_record(n_train, fit_on):
    """manifest.json's 'statistics_fit': what the trainer checks its split against."""
    record = {'n_images': int(len(fit_indices(n_train, fit_on)))}
    if fit_on == FIT_TRAIN_MINUS_VALIDATION:
        record['excluded_validation'] = validation_record(split_indices(n_train)[1])
    return record
