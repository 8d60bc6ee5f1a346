"""Data-parallel training with ChainerMN: 2 CPU ranks under mpiexec.

The runs use tests/mpi_driver.py (a tiny MLP on synthetic data driven through
the same chainer_compare.parallel calls as the trainer) so each takes a few
seconds; test_parallel_train.py runs src/train.py itself.
"""
import json
import os
import subprocess
import sys

import numpy
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, 'mpi_driver.py')
AUDIT = os.path.join(HERE, 'mpi_audit.py')


# mpiexec + mpi4py (tests/components.py): skipped without them, failed under CI=true.
needs_mpi = pytest.mark.requires('mpi')


def mpiexec(n, argv, env=None, timeout=90):
    """Run ``python argv`` on ``n`` ranks; returns the CompletedProcess."""
    cmd = ['mpiexec', '--allow-run-as-root', '--oversubscribe', '-n', str(n),
           sys.executable] + [str(a) for a in argv]
    full_env = dict(os.environ, OMP_NUM_THREADS='1', **(env or {}))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)


DUMP_ENV = 'CHAINER_COMPARE_TEST_DUMP_DIR'
CRASH_ENV = 'CHAINER_COMPARE_TEST_CRASH_RANK'


def driver(n, *flags, dump=None, timeout=90):
    env = {DUMP_ENV: str(dump)} if dump else {}
    proc = mpiexec(n, [DRIVER, '--communicator', 'naive'] + list(flags), env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def weights(path):
    with numpy.load(path) as f:
        return {k: f[k] for k in f.files}


def assert_same_weights(path_a, path_b):
    """The two npz files hold the same arrays, bit for bit."""
    a, b = weights(path_a), weights(path_b)
    assert sorted(a) == sorted(b)
    for key in a:
        numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)


@needs_mpi
@pytest.mark.mpi
def test_two_ranks_end_identical_and_only_rank0_writes(tmp_path):
    run, dump, audit = tmp_path / 'run', tmp_path / 'dump', tmp_path / 'audit'
    audit.mkdir()
    proc = mpiexec(2, [AUDIT, audit, DRIVER, '--communicator', 'naive', '--bn', '--out', run],
                   env={DUMP_ENV: str(dump)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Parameters and the averaged BN statistics alike.
    assert_same_weights(dump / 'rank0.npz', dump / 'rank1.npz')
    assert sorted(os.listdir(run)) == ['log', 'snapshot']
    assert [e['epoch'] for e in json.loads((run / 'log').read_text())] == [1, 2]

    written = {r: json.loads((audit / 'writes.{}.json'.format(r)).read_text()) for r in (0, 1)}
    inside = {r: [p for p in paths if p.startswith(str(tmp_path))] for r, paths in written.items()}
    assert any(p.startswith(str(run)) for p in inside[0])
    # Rank 1 wrote nothing but its test-only weight dump.
    assert [p for p in inside[1] if not p.startswith(str(dump))] == []


@needs_mpi
@pytest.mark.mpi
def test_two_ranks_batch_b_equal_one_process_batch_2b(tmp_path):
    common = ['--no_shuffle', '--epochs', '2', '--n', '64']
    driver(2, *common, '--batch_size', 8, '--out', tmp_path / 'r2', dump=tmp_path / 'd2')
    single = subprocess.run(
        [sys.executable, DRIVER] + common + ['--batch_size', '16', '--as_ranks', '2', '--out',
                                             str(tmp_path / 'r1')],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, OMP_NUM_THREADS='1', **{DUMP_ENV: str(tmp_path / 'd1')}))
    assert single.returncode == 0, single.stderr[-3000:]
    one, two = weights(tmp_path / 'd1' / 'rank0.npz'), weights(tmp_path / 'd2' / 'rank0.npz')
    for key in one:
        numpy.testing.assert_allclose(two[key], one[key], rtol=1e-5, atol=1e-6, err_msg=key)
    # The same run with shuffled data on 2 ranks does differ: the check has teeth.
    driver(2, '--epochs', '2', '--n', '64', '--batch_size', 8, '--out', tmp_path / 'r3',
           dump=tmp_path / 'd3')
    shuffled = weights(tmp_path / 'd3' / 'rank0.npz')
    assert any(not numpy.allclose(shuffled[k], one[k], rtol=1e-5, atol=1e-6) for k in one)


@needs_mpi
@pytest.mark.mpi
def test_resume_of_a_two_rank_run_is_exact(tmp_path):
    flags = ['--bn', '--batch_size', '8', '--n', '64']
    driver(2, *flags, '--epochs', 1, '--out', tmp_path / 'run')
    driver(2, *flags, '--epochs', 2, '--resume', '--out', tmp_path / 'run',
           dump=tmp_path / 'resumed')
    driver(2, *flags, '--epochs', 2, '--out', tmp_path / 'full', dump=tmp_path / 'full_dump')
    for rank in ('rank0.npz', 'rank1.npz'):
        assert_same_weights(tmp_path / 'resumed' / rank, tmp_path / 'full_dump' / rank)
    logs = [json.loads((tmp_path / name / 'log').read_text()) for name in ('run', 'full')]
    for log in logs:
        for entry in log:
            del entry['elapsed_time']
    assert logs[0] == logs[1]


@needs_mpi
@pytest.mark.mpi
def test_resume_with_another_rank_count_is_refused(tmp_path):
    driver(2, '--epochs', 1, '--out', tmp_path / 'run')
    proc = mpiexec(3, [DRIVER, '--communicator', 'naive', '--epochs', 2, '--resume',
                       '--out', tmp_path / 'run'])
    assert proc.returncode != 0
    assert 'written by a run with 2 rank(s) but this run has 3' in proc.stderr


@needs_mpi
@pytest.mark.mpi
@pytest.mark.parametrize('how', ['raise', 'kill'])
def test_a_failing_rank_ends_the_whole_job(tmp_path, how):
    spec = '1:3' + (':kill' if how == 'kill' else '')
    # Enough epochs that rank 0 would keep training for minutes if left alone.
    proc = mpiexec(2, [DRIVER, '--communicator', 'naive', '--epochs', 100000,
                       '--out', tmp_path / 'run'],
                   env={CRASH_ENV: spec}, timeout=60)
    assert proc.returncode != 0
    if how == 'raise':
        assert 'test crash requested' in proc.stderr
        assert 'rank 1 of 2 failed; aborting all ranks' in proc.stderr


# --- in-process checks: no MPI needed ------------------------------------------

def test_no_communicator_means_a_single_process():
    from chainer_compare import parallel
    assert parallel.create_communicator(None) is None
    data = [1, 2, 3]
    assert parallel.scatter(data, None, shuffle=True) is data
    assert parallel.describe(None) == {'world_size': 1, 'communicator': None}
    assert parallel.rank_seed(7, None) == 7 and parallel.is_root(None)
    assert parallel.average_bn_statistics(object(), None) is None
    assert parallel.aggregate_observations(None) == []


@pytest.mark.parametrize('name, gpu, message', [
    ('nccl2', -1, 'unknown; choose one of naive'),
    ('pure_nccl', -1, 'needs one GPU per rank (-g 0)'),
    ('hierarchical', -1, 'needs one GPU per rank'),
])
def test_bad_communicator_flags_are_one_line_errors(name, gpu, message):
    from chainer_compare import parallel
    from chainer_compare.errors import UserError
    with pytest.raises(UserError, match=r'--communicator {}'.format(name)) as e:
        parallel.create_communicator(name, gpu)
    assert message in str(e.value)


class _Share:
    """One rank's evaluator as multi_node_evaluator sees it: its share and its means."""

    def __init__(self, size, means):
        self.dataset, self.means = [None] * size, means

    def get_iterator(self, name):
        return self

    def evaluate(self):
        assert self.dataset, 'an empty share must not be evaluated'
        return {key: numpy.float32(value) for key, value in self.means.items()}


class _FakeWorld:
    """A communicator whose allgather returns what the given ranks contribute."""

    def __init__(self, others):
        self.others = others
        self.mpi_comm = self

    def allgather(self, mine):
        return [mine] + [(len(share.dataset), share.evaluate() if share.dataset else {})
                         for share in self.others]


@pytest.mark.parametrize('sizes', [(8, 7), (1, 0)], ids=['8+7', '1+0'])
def test_multi_node_evaluator_weights_ranks_by_share_size(sizes):
    from chainer_compare import parallel
    means = [{'main/loss': 2.0, 'main/error': 0.25}, {'main/loss': 1.0, 'main/error': 0.5}]
    shares = [_Share(size, m) for size, m in zip(sizes, means)]
    evaluator = parallel.multi_node_evaluator(shares[0], _FakeWorld(shares[1:]))
    result = evaluator.evaluate()
    total = float(sum(sizes))
    for key in ('main/loss', 'main/error'):
        expected = sum(n * m[key] for n, m in zip(sizes, means)) / total
        assert result[key] == pytest.approx(expected, rel=1e-6)
