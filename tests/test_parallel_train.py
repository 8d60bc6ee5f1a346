"""src/train.py under ``mpiexec -n 2 … --communicator naive``, as a user runs it.

Checks the run directory rank 0 writes (and that rank 1 writes nothing), that
both ranks end with the same weights, the metadata's world size, that the
logged test loss/error over an odd-sized test set (15 images: shares of 8 and
7) equals a single-process evaluation of the saved model, that a 2-rank
run resumed from its snapshot ends exactly where an uninterrupted one does,
and that a SIGTERM or a NaN loss on one rank stops both ranks cleanly.
"""
import json
import os

import numpy
import pytest

from test_parallel import (AUDIT, CRASH_ENV, DUMP_ENV, HERE, assert_same_weights, mpiexec,
                           needs_mpi)
from test_train_support import TRAIN_PY, write_tiny_dataset

FAULTS = os.path.join(HERE, 'fault_hooks.py')
FLAGS = ['-g', '-1', '-m', 'keras_mnist_cnn', '--optimizer', 'adam', '-b', '8',
         '--communicator', 'naive', '-d', 'dataset']


def launch(tmp_path, *flags, env=None, audit=None):
    """``mpiexec -n 2 python src/train.py FLAGS…`` in ``tmp_path``; the CompletedProcess."""
    # fault_hooks wraps train.py: crash/dump hooks live in the tests, not in src/
    argv = ([AUDIT, audit] if audit else []) + [FAULTS, TRAIN_PY] + FLAGS + list(flags)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # mpiexec starts the ranks in the current directory
    try:
        return mpiexec(2, argv, env=env)
    finally:
        os.chdir(cwd)


def train(tmp_path, *flags, dump=None, audit=None):
    proc = launch(tmp_path, *flags, env={DUMP_ENV: str(dump)} if dump else {}, audit=audit)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def single_process_test_metrics(dataset, model_npz):
    """(mean loss, error) of the saved keras_mnist_cnn over the whole test set."""
    import chainer
    import chainer.functions as F
    from chainer_compare.data import load_prepared
    from chainer_compare.models import create_model
    data = load_prepared(str(dataset))
    model = create_model('keras_mnist_cnn', in_channels=1, image_size=28, n_classes=10)
    from chainer_compare import npzfile  # never allow_pickle=True
    npzfile.load_npz(str(model_npz), model)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        y = model(data.test_x)
    loss = float(F.softmax_cross_entropy(y, data.test_y).array)
    return loss, float((y.array.argmax(axis=1) != data.test_y).mean())


@pytest.fixture
def mnist_like(tmp_path):
    # 15 test images: not a multiple of the 2 ranks, so evaluation must not pad.
    write_tiny_dataset(str(tmp_path / 'dataset'), n_train=32, n_test=15, shape=(1, 28, 28))
    return tmp_path


@needs_mpi
@pytest.mark.mpi
def test_two_rank_train_py_run_directory(mnist_like):
    tmp = mnist_like
    (tmp / 'audit').mkdir()
    proc = train(tmp, '--iter', '1', '-p', 'mp', dump=tmp / 'dump', audit=tmp / 'audit')
    run = tmp / 'results' / 'mp'
    assert proc.stdout.count('finished after 1 epochs') == 1  # printed by rank 0 only
    assert sorted(os.listdir(run)) == sorted([
        'args', 'error.png', 'log', 'loss.png', 'metadata.json', 'model_best.npz',
        'model_final.npz', 'snapshot', 'summary.json'])
    meta = json.loads((run / 'metadata.json').read_text())
    assert (meta['world_size'], meta['communicator']) == (2, 'naive')
    assert json.loads((run / 'args').read_text())['communicator'] == 'naive'
    assert json.loads((run / 'summary.json').read_text())['images_per_s'] > 0

    # Rank 0 saved what it holds, and rank 1 holds the same.
    assert_same_weights(tmp / 'dump' / 'rank0.npz', run / 'model_final.npz')
    assert_same_weights(tmp / 'dump' / 'rank0.npz', tmp / 'dump' / 'rank1.npz')

    # The logged test metrics are those of the whole set, each image once.
    final = json.loads((run / 'log').read_text())[-1]
    loss, error = single_process_test_metrics(tmp / 'dataset', run / 'model_final.npz')
    assert final['test/main/loss'] == pytest.approx(loss, rel=1e-5)
    assert final['test/main/error'] == pytest.approx(error, abs=1e-6)

    rank1 = json.loads((tmp / 'audit' / 'writes.1.json').read_text())
    rank0 = json.loads((tmp / 'audit' / 'writes.0.json').read_text())
    assert any(p.startswith(str(run)) for p in rank0)
    inside = [p for p in rank1 if p.startswith(str(tmp))]
    assert [p for p in inside if not p.startswith(str(tmp / 'dump'))] == []


@needs_mpi
@pytest.mark.mpi
@pytest.mark.slow  # three 2-rank runs (~30 s); test_parallel.py has a fast resume check
def test_two_rank_train_py_resume_is_exact(mnist_like):
    tmp = mnist_like
    train(tmp, '--iter', '1', '-p', 'cut')
    train(tmp, '--resume', 'results/cut', '--iter', '2', dump=tmp / 'resumed')
    train(tmp, '--iter', '2', '-p', 'whole', dump=tmp / 'whole')
    for rank in ('rank0.npz', 'rank1.npz'):
        assert_same_weights(tmp / 'resumed' / rank, tmp / 'whole' / rank)
    logs = [json.loads((tmp / 'results' / name / 'log').read_text()) for name in ('cut', 'whole')]
    assert [e['epoch'] for e in logs[0]] == [1, 2]
    keys = ('main/loss', 'validation/main/loss', 'test/main/loss')
    assert [[e[k] for k in keys] for e in logs[0]] == [[e[k] for k in keys] for e in logs[1]]


@needs_mpi
@pytest.mark.mpi
@pytest.mark.slow  # two 2-rank runs (~20 s)
def test_sigterm_on_one_rank_stops_all_with_a_snapshot(mnist_like):
    tmp = mnist_like
    # Rank 1 alone gets SIGTERM in epoch 2 (iteration 3, at 2 per epoch).
    proc = launch(tmp, '--iter', '3', '-p', 'cut', env={CRASH_ENV: '1:3:term'})
    assert proc.returncode != 0
    assert 'stopped by SIGTERM; snapshot written' in proc.stderr
    run = tmp / 'results' / 'cut'
    assert json.loads((run / 'summary.json').read_text())['status'] == 'interrupted'
    with numpy.load(run / 'snapshot') as snap:
        assert int(snap['updater/iteration']) == 3 and int(snap['ranks/1/updater/iteration']) == 3
    train(tmp, '--resume', 'results/cut', dump=tmp / 'dump')
    assert [e['epoch'] for e in json.loads((run / 'log').read_text())] == [1, 2, 3]
    assert_same_weights(tmp / 'dump' / 'rank0.npz', tmp / 'dump' / 'rank1.npz')


@needs_mpi
@pytest.mark.mpi
@pytest.mark.slow  # one 2-rank run (~10 s)
def test_nan_loss_on_one_rank_stops_all_ranks(mnist_like):
    tmp = mnist_like
    # Rank 1's weights turn NaN after iteration 3, so only its next loss is NaN.
    proc = launch(tmp, '--iter', '3', '-p', 'nan', env={CRASH_ENV: '1:3:nan'})
    assert proc.returncode != 0
    assert 'training diverged' in proc.stderr
    summary = json.loads((tmp / 'results' / 'nan' / 'summary.json').read_text())
    assert summary['status'] == 'nan' and summary['iterations'] == 3


@needs_mpi
@pytest.mark.mpi
@pytest.mark.slow  # three 2-rank cnnbn runs (~40 s)
def test_sigterm_mid_epoch_resume_keeps_each_ranks_bn_statistics(mnist_like):
    """Each rank's BN running statistics are its own until the epoch-end average;
    a mid-epoch snapshot must keep every rank's, not hand rank 0's to all."""
    tmp = mnist_like
    bn = ['-m', 'cnnbn', '--iter', '2']
    train(tmp, *bn, '-p', 'whole', dump=tmp / 'whole')
    # SIGTERM to rank 1 after iteration 3: inside epoch 2 (2 iterations per epoch)
    proc = launch(tmp, *bn, '-p', 'cut', env={CRASH_ENV: '1:3:term'})
    assert 'stopped by SIGTERM; snapshot written' in proc.stderr, proc.stderr[-3000:]
    run = tmp / 'results' / 'cut'
    with numpy.load(run / 'snapshot') as snap:
        assert int(snap['updater/iteration']) == 3
        assert any(k.startswith('ranks/1/updater/model:') and k.endswith('avg_mean')
                   for k in snap.files)
    train(tmp, '-m', 'cnnbn', '--resume', 'results/cut', dump=tmp / 'resumed')
    # final weights AND running statistics (model_final.npz holds both), on both ranks
    assert_same_weights(run / 'model_final.npz', tmp / 'results' / 'whole' / 'model_final.npz')
    for rank in ('rank0.npz', 'rank1.npz'):
        assert_same_weights(tmp / 'resumed' / rank, tmp / 'whole' / rank)
