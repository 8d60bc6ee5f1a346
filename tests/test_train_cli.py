"""src/train.py end to end: the run directory, seed 004's command shapes, errors.

One subprocess run checks every file a run writes; the other runs call the
CLI's ``main`` in-process (same code path, faster) on tiny synthetic data.
"""
import hashlib
import importlib.util
import json
import os

import chainer
import numpy
import pytest

from chainer_compare.errors import UserError
from test_train_support import TRAIN_PY, run_train, write_tiny_dataset

LOG_KEYS = {'epoch', 'iteration', 'elapsed_time', 'lr', 'main/loss', 'main/accuracy',
            'validation/main/loss', 'validation/main/accuracy', 'test/main/loss',
            'test/main/accuracy', 'main/error', 'validation/main/error', 'test/main/error'}
SMALL = ['-g', '-1', '-m', 'keras_mnist_cnn', '-b', '16', '--optimizer', 'adam']


def _main():
    spec = importlib.util.spec_from_file_location('train_cli', TRAIN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _json(path):
    with open(path) as f:
        return json.load(f)


@pytest.fixture
def cifar_like(tmp_path, monkeypatch):
    write_tiny_dataset(str(tmp_path / 'dataset'), n_train=32, n_test=16, shape=(3, 32, 32))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def mnist_like(tmp_path, monkeypatch):
    write_tiny_dataset(str(tmp_path / 'dataset'), n_train=32, n_test=16, shape=(1, 28, 28))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_end_to_end_run_directory(cifar_like):
    # Seed 004's first command, shrunk: -g -1, batch 16, 2 epochs, decay after 1.
    proc = run_train(['-g', '-1', '-m', 'cnn', '-b', '16', '-p', 'cnn', '--optimizer', 'adam',
                      '--iter', '2', '--lr_decay_iter', '1'], cifar_like)
    assert proc.returncode == 0, proc.stderr
    run = cifar_like / 'results' / 'cnn'
    assert 'cuDNN not in use' in proc.stdout.splitlines()[0]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith('cnn: finished after 2 epochs: test error') and 'images/s' in last

    log = _json(run / 'log')
    assert [e['epoch'] for e in log] == [1, 2]
    assert all(LOG_KEYS <= set(e) for e in log)
    assert [e['lr'] for e in log] == pytest.approx([1e-3, 1e-4])
    for e in log:
        assert e['test/main/error'] == pytest.approx(1 - e['test/main/accuracy'])

    args = _json(run / 'args')
    assert (args['model'], args['optimizer'], args['batch_size'], args['iter']) == \
        ('cnn', 'adam', 16, 2)
    assert 'explicit' not in args and args['lr'] == 1e-3

    meta = _json(run / 'metadata.json')
    assert set(meta['versions']) == {'python', 'numpy', 'chainer', 'cupy'}
    assert meta['versions']['chainer'] == chainer.__version__
    assert meta['device']['device'].startswith('CPU') and meta['device']['cudnn_in_use'] is False
    with open(cifar_like / 'dataset' / 'manifest.json', 'rb') as f:
        assert meta['dataset']['manifest_sha256'] == hashlib.sha256(f.read()).hexdigest()
    assert meta['dataset']['preprocessing'] == 'image'
    assert meta['validation_split']['held_out'] == 3 and meta['validation_split']['indices_sha256']
    assert meta['wall_time_s'] > 0 and meta['images_per_s'] > 0 and meta['status'] == 'finished'
    assert 'git_commit' in meta and meta['world_size'] == 1

    summary = _json(run / 'summary.json')
    assert summary['status'] == 'finished' and summary['epochs'] == 2
    best = log[summary['best_epoch'] - 1]
    assert summary['best_validation_error'] == pytest.approx(
        min(e['validation/main/error'] for e in log))
    assert summary['test_error_at_best'] == pytest.approx(best['test/main/error'])
    assert summary['final_test_error'] == pytest.approx(log[-1]['test/main/error'])
    assert summary['images_per_s'] > 0

    from chainer_compare.models import create_model
    for name in ('model_best.npz', 'model_final.npz'):
        model = create_model('cnn', in_channels=3, image_size=32, n_classes=10)
        from chainer_compare import npzfile  # never allow_pickle=True
        npzfile.load_npz(str(run / name), model)
    with numpy.load(str(run / 'snapshot')) as snap:
        assert any(k.startswith('updater/model:main/predictor/') for k in snap.files)
        assert any(k.startswith('extensions/RandomStates/') for k in snap.files)
    for png in ('error.png', 'loss.png'):
        with open(run / png, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert not [n for n in os.listdir(run) if n.startswith('.')]  # no temp files left


@pytest.mark.parametrize('command, preprocessing', [
    ('-m cnnbn -b 16 -p cnnbn --optimizer adam --iter 1 --lr_decay_iter 100 '
     '-d dataset/image_norm_zca.pkl', 'image_norm_zca'),
    ('-m residual -b 16 -p residual_skip --skip_depth --res_depth 1 --optimizer sgd --lr 0.1 '
     '--iter 1 --lr_decay_iter 100', 'image'),
])
def test_seed_004_command_shapes_train(cifar_like, command, preprocessing):
    assert _main()(['-g', '-1'] + command.split()) == 0
    prefix = command.split('-p ')[1].split()[0]
    run = cifar_like / 'results' / prefix
    assert _json(run / 'metadata.json')['dataset']['preprocessing'] == preprocessing
    assert _json(run / 'summary.json')['status'] == 'finished'
    assert len(_json(run / 'log')) == 1


def test_prefix_collision_makes_a_new_directory(mnist_like):
    main = _main()
    assert main(SMALL + ['-p', 'same', '--iter', '1']) == 0
    first_log = (mnist_like / 'results' / 'same' / 'log').read_bytes()
    assert main(SMALL + ['-p', 'same', '--iter', '1', '--seed', '2']) == 0
    assert sorted(os.listdir(mnist_like / 'results')) == ['same', 'same-2']
    assert (mnist_like / 'results' / 'same' / 'log').read_bytes() == first_log
    assert _json(mnist_like / 'results' / 'same-2' / 'args')['seed'] == 2


@pytest.mark.filterwarnings('ignore::RuntimeWarning')  # NumPy's overflow/NaN warnings
def test_nan_loss_stops_with_status_nan(mnist_like, capsys):
    status = _main()(SMALL[:-1] + ['sgd', '--lr', '1e30', '-p', 'boom', '--iter', '3'])
    assert status == 3
    err = capsys.readouterr().err
    assert 'diverged' in err and '--lr' in err
    run = mnist_like / 'results' / 'boom'
    assert _json(run / 'summary.json')['status'] == 'nan'
    assert _json(run / 'metadata.json')['status'] == 'nan'
    assert not (run / 'model_final.npz').exists()
    if (run / 'snapshot').exists():  # only ever a good one
        with numpy.load(str(run / 'snapshot')) as snap:
            assert all(numpy.isfinite(snap[k]).all() for k in snap.files
                       if k.startswith('updater/model:') and snap[k].dtype.kind == 'f')


def test_no_valid_data_is_recorded(mnist_like):
    assert _main()(SMALL + ['-p', 'all', '--iter', '2', '--no_valid_data']) == 0
    run = mnist_like / 'results' / 'all'
    meta, summary = _json(run / 'metadata.json'), _json(run / 'summary.json')
    assert meta['validation_split']['no_valid_data'] and meta['validation_split']['held_out'] == 0
    assert 'no_valid_data' in meta['validation_split']['note']
    assert summary['no_valid_data'] and summary['best_epoch'] == summary['epochs'] == 2
    assert summary['best_validation_error'] is None
    assert summary['test_error_at_best'] == summary['final_test_error']
    assert not any('validation/main/loss' in e for e in _json(run / 'log'))
    assert _json(run / 'args')['no_valid_data'] is True


def test_missing_dataset_and_missing_gpu(mnist_like):
    main = _main()
    with pytest.raises(UserError, match='nowhere/image.pkl'):
        main(SMALL + ['-d', 'nowhere/image.pkl', '--iter', '1'])
    try:
        import cupy
        has_gpu = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        has_gpu = False
    if not has_gpu:
        with pytest.raises(UserError) as e:
            main(['-g', '0', '-m', 'cnn', '-d', 'nowhere/image.pkl'])  # fails before the data
        assert 'pip install -e .[gpu]' in str(e.value) and '-g -1' in str(e.value)
    assert not os.path.exists(mnist_like / 'results')  # nothing created on bad input


def test_bad_flag_subprocess_one_line_exit_2(mnist_like):
    proc = run_train(['-m', 'nope', '--iter', '1'], mnist_like, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'nope' in lines[0] and 'cnnbn' in lines[0]
