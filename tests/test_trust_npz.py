"""No .npz this project reads can run code: hostile files for predict, evaluate and --resume.

A crafted ``.npz`` holding an object array is a pickle; reading it with
``allow_pickle=True`` (Chainer's ``load_npz``) runs whatever it names.  Each
CLI gets such a file planted in a real run directory and must refuse it with
one line naming the file, exit non-zero, and run nothing (the payload would
create a marker file).
"""
import os
import shutil

import numpy
import pytest
from PIL import Image

import data_fixtures as fx
from test_report_inference import cli
from test_train_support import run_train, write_tiny_dataset


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('hostile')
    write_tiny_dataset(str(root / 'dataset'), n_train=48, n_test=16, shape=(1, 28, 28))
    proc = run_train(['-g', '-1', '-m', 'keras_mnist_cnn', '-b', '16', '--iter', '1',
                      '-d', 'dataset', '-p', 'good'], root)
    assert proc.returncode == 0, proc.stderr
    return root


def plant(run, name, marker):
    """Rewrite ``run/name`` with every array an object array that unpickles into
    ``touch marker`` (same keys, so whichever the reader looks at first fires)."""
    hostile = numpy.empty(1, dtype=object)
    hostile[0] = fx.Evil(str(marker))
    keys = ['x']
    if os.path.exists(str(run / name)):
        with numpy.load(str(run / name)) as f:
            keys = list(f.files)
    with open(str(run / name), 'wb') as f:
        numpy.savez(f, **{key: hostile for key in keys})


def copy_run(root, tmp_path):
    run = tmp_path / 'run'
    shutil.copytree(str(root / 'results' / 'good'), str(run))
    return run


def assert_refused(proc, path, marker):
    assert not os.path.exists(str(marker)), 'the planted payload ran'
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and 'object array' in lines[0], lines[0]


@pytest.mark.parametrize('name', ['model_best.npz', 'model_final.npz'])
def test_evaluate_refuses_a_hostile_model(finished_run, tmp_path, name):
    run, marker = copy_run(finished_run, tmp_path), tmp_path / 'pwned'
    if name == 'model_final.npz':  # evaluate falls back to it without model_best.npz
        os.unlink(str(run / 'model_best.npz'))
    plant(run, name, marker)
    proc = cli('evaluate.py', run, '--dataset', finished_run / 'dataset', '--out',
               tmp_path / 'evaluation')
    assert_refused(proc, run / name, marker)


def test_predict_refuses_a_hostile_model(finished_run, tmp_path):
    run, marker = copy_run(finished_run, tmp_path), tmp_path / 'pwned'
    plant(run, 'model_best.npz', marker)
    image = tmp_path / 'x.png'
    Image.new('L', (28, 28), 128).save(str(image))
    proc = cli('predict.py', run, image, '--dataset', finished_run / 'dataset')
    assert_refused(proc, run / 'model_best.npz', marker)


def test_resume_refuses_a_hostile_snapshot(finished_run, tmp_path):
    run, marker = copy_run(finished_run, tmp_path), tmp_path / 'pwned'
    plant(run, 'snapshot', marker)
    meta_before = (run / 'metadata.json').read_bytes()
    proc = run_train(['--resume', str(run), '--iter', '2'], finished_run)
    assert_refused(proc, run / 'snapshot', marker)
    assert (run / 'metadata.json').read_bytes() == meta_before  # nothing half-written


def test_loader_rejects_object_arrays_and_reads_plain_ones(tmp_path):
    from chainer_compare.errors import UserError
    from chainer_compare.npzfile import read_npz
    path = tmp_path / 'plain.npz'
    numpy.savez(str(path), a=numpy.arange(3), b=numpy.float32(2))
    arrays = read_npz(str(path))
    assert sorted(arrays) == ['a', 'b'] and arrays['a'].tolist() == [0, 1, 2]
    plant(tmp_path, 'evil.npz', tmp_path / 'pwned')
    with pytest.raises(UserError, match='evil.npz.*object array'):
        read_npz(str(tmp_path / 'evil.npz'))
    assert not (tmp_path / 'pwned').exists()
    (tmp_path / 'garbage.npz').write_bytes(b'not a zip')
    with pytest.raises(UserError, match='garbage.npz'):
        read_npz(str(tmp_path / 'garbage.npz'))
