"""The statistics are fitted on the training images minus the validation split
(issue 12, point 2): validation images never shape the preprocessing, and the
trainer refuses data whose fit does not match the split it validates on."""
import json
import os

import numpy
import pytest

import data_fixtures as fx
from chainer_compare.data import preprocess as P
from chainer_compare.data import split as data_split
from chainer_compare.data.stage import prepare_dataset
from chainer_compare.errors import UserError
from chainer_compare.safeio import safe_load_pickle
from chainer_compare.training import split as train_split
from test_train_support import run_train, write_tiny_dataset

N_TRAIN = 80  # idx_files' default: 8 of them are the validation split


def _prepare(tmp_path, name, replace_validation, fit_on=data_split.FIT_TRAIN_MINUS_VALIDATION):
    """An MNIST-format dataset prepared in-process; ``replace_validation`` swaps
    the validation images for unrelated noise before preparation."""
    source = fx.idx_files(str(tmp_path / (name + '-src')), n_train=N_TRAIN)
    if replace_validation:
        train = fx.images(N_TRAIN, 0, 1, 28)[:, 0]
        valid_idx = data_split.split_indices(N_TRAIN)[1]
        train[valid_idx] = numpy.random.RandomState(7).randint(0, 256, train[valid_idx].shape)
        with open(os.path.join(source, 'train-images-idx3-ubyte.gz'), 'wb') as f:
            f.write(fx.idx_bytes(train))
    out = str(tmp_path / name)
    prepare_dataset('mnist', out=out, archive=source, verify=False, quiet=True, fit_on=fit_on)
    return safe_load_pickle(os.path.join(out, 'preprocess.pkl')), out


def _assert_same_statistics(a, b):
    assert a['mean'] == b['mean']
    for name in ('image_zca', 'image_norm_zca'):
        numpy.testing.assert_array_equal(a['zca'][name]['mean'], b['zca'][name]['mean'])
        numpy.testing.assert_array_equal(a['zca'][name]['W'], b['zca'][name]['W'])


def test_statistics_do_not_change_when_validation_images_change(tmp_path):
    original, out = _prepare(tmp_path, 'original', False)
    changed, _ = _prepare(tmp_path, 'changed', True)
    _assert_same_statistics(original, changed)
    manifest = json.loads(open(os.path.join(out, 'manifest.json')).read())
    assert manifest['fit_on'] == 'train_minus_validation'
    record = manifest['statistics_fit']
    assert record['n_images'] == N_TRAIN - 8
    assert record['excluded_validation'] == data_split.validation_record(
        data_split.split_indices(N_TRAIN)[1])


def test_fit_on_all_train_keeps_seed004_recipe_and_sees_validation_images(tmp_path):
    original, out = _prepare(tmp_path, 'all', False, data_split.FIT_ALL_TRAIN)
    changed, _ = _prepare(tmp_path, 'all-changed', True, data_split.FIT_ALL_TRAIN)
    assert original['mean'] != changed['mean']  # the validation images do count here
    train_u8 = fx.images(N_TRAIN, 0, 1, 28)
    assert original['mean'] == P.scalar_mean(train_u8)  # seed 004: every training pixel
    manifest = json.loads(open(os.path.join(out, 'manifest.json')).read())
    assert manifest['fit_on'] == 'all_train'
    assert manifest['statistics_fit'] == {'n_images': N_TRAIN}


def test_switching_the_fit_recomputes(tmp_path, capsys):
    _, out = _prepare(tmp_path, 'ds', False)
    source = str(tmp_path / 'ds-src')
    prepare_dataset('mnist', out=out, archive=source, verify=False, quiet=True,
                    fit_on=data_split.FIT_ALL_TRAIN)
    assert 'up to date' not in capsys.readouterr().out
    assert json.loads(open(os.path.join(out, 'manifest.json')).read())['fit_on'] == 'all_train'


@pytest.mark.parametrize('method', ['covariance', 'gram'])
def test_fit_on_rows_equals_fit_on_their_copy(method):
    x = P.subtract_mean(fx.images(300, 3, 1, 8), 128)
    rows = data_split.split_indices(300)[0]
    a = P.zca_moments(x, method, rows=rows)
    b = P.zca_moments(x[rows].copy(), method)
    numpy.testing.assert_allclose(a['mean'], b['mean'], rtol=1e-6)
    key = 'cov' if method == 'covariance' else 'centred'
    numpy.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-3)
    u8 = fx.images(300, 4, 1, 8)
    assert P.scalar_mean(u8, rows) == pytest.approx(u8[rows].astype(numpy.float64).mean())


def _data(tmp_path, fit_on):
    from chainer_compare.data import load_prepared
    return load_prepared(write_tiny_dataset(str(tmp_path / 'd'), n_train=40, fit_on=fit_on))


def test_trainer_accepts_a_fit_that_excludes_its_validation_split(tmp_path):
    data = _data(tmp_path, 'train_minus_validation')
    train_split.check_statistics_fit(data, use_validation=True)
    train_split.check_statistics_fit(data, use_validation=False)


def test_trainer_refuses_an_all_train_fit_unless_no_valid_data(tmp_path):
    data = _data(tmp_path, 'all_train')
    train_split.check_statistics_fit(data, use_validation=False)
    with pytest.raises(UserError) as e:
        train_split.check_statistics_fit(data, use_validation=True)
    message = str(e.value)
    assert 'manifest.json' in message and '--no_valid_data' in message and '\n' not in message


def test_trainer_refuses_a_different_excluded_split(tmp_path):
    data = _data(tmp_path, 'train_minus_validation')
    data.manifest['statistics_fit']['excluded_validation']['indices_sha256'] = '0' * 64
    with pytest.raises(UserError, match='different validation split.*--force'):
        train_split.check_statistics_fit(data, use_validation=True)


def test_train_cli_refuses_old_data_with_one_line(tmp_path):
    directory = write_tiny_dataset(str(tmp_path / 'old'), n_train=32, shape=(1, 28, 28),
                                   fit_on=None)
    result = run_train(['-g', '-1', '-m', 'mnist_cnn', '-b', '8', '--iter', '1', '-d',
                        directory], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'manifest.json' in lines[0] and '--force' in lines[0]
    assert not (tmp_path / 'results').exists()
