"""Exact resume: kill a run (SIGKILL, SIGTERM) mid-epoch, resume, compare weights.

The interrupted runs are real ``src/train.py`` processes whose updates are
slowed down (by a wrapper, not by any switch in the trainer) from the second
epoch on, so the signal lands mid-epoch.  On CPU with single-threaded BLAS the
resumed run's final weights equal an uninterrupted run's bit for bit; the
test allows 1e-6.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy
import pytest

from test_train_support import ROOT, TRAIN_PY, run_train, train_env, write_tiny_dataset

ARGS = ['-g', '-1', '-m', 'keras_mnist_cnn', '-b', '16', '--optimizer', 'adam', '--iter', '2',
        '--lr_decay_iter', '1']

# train.py with every update of epoch 2 followed by a pause; the first such
# update touches the file named by $SLOW_MARKER, so the test signals only once
# the run is really inside epoch 2 (waiting for epoch 1's snapshot alone raced
# with the end-of-epoch extensions, and the stop could land at iteration 3).
SLOW_TRAIN = '''
import os, runpy, sys, time
sys.path.insert(0, {src!r})
import chainer_compare.compat
from chainer_compare.training import updater
update_core = updater.TrainingUpdater.update_core
def slow_update_core(self):
    update_core(self)
    if self.epoch >= 1 and not self.is_new_epoch:
        open(os.environ['SLOW_MARKER'], 'a').close()
        time.sleep(0.3)
updater.TrainingUpdater.update_core = slow_update_core
sys.argv = [{train!r}] + sys.argv[1:]
runpy.run_path({train!r}, run_name='__main__')
'''.format(src=os.path.join(ROOT, 'src'), train=TRAIN_PY)


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp('resume')
    write_tiny_dataset(str(path / 'dataset'), n_train=48, n_test=16, shape=(1, 28, 28))
    proc = run_train(ARGS + ['-p', 'reference'], path)
    assert proc.returncode == 0, proc.stderr
    return path


def _weights(path):
    with numpy.load(str(path)) as f:
        return {k: f[k] for k in f.files}


def _interrupt(workdir, prefix, signum):
    """Start a slowed run, send ``signum`` once its first update of epoch 2 is done."""
    marker = workdir / (prefix + '.in-epoch-2')
    env = dict(train_env(), SLOW_MARKER=str(marker))
    proc = subprocess.Popen([sys.executable, '-c', SLOW_TRAIN] + ARGS + ['-p', prefix],
                            cwd=str(workdir), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert marker.exists(), proc.communicate()[1]
    assert (workdir / 'results' / prefix / 'snapshot').exists()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _check_resume_matches(workdir, prefix):
    run = workdir / 'results' / prefix
    proc = run_train(['--resume', str(run)], workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('resuming')
    reference = _weights(workdir / 'results' / 'reference' / 'model_final.npz')
    resumed = _weights(run / 'model_final.npz')
    assert sorted(reference) == sorted(resumed)
    for key in reference:
        numpy.testing.assert_allclose(resumed[key], reference[key], rtol=0, atol=1e-6)
    with open(workdir / 'results' / 'reference' / 'log') as f:
        ref_log = json.load(f)
    with open(run / 'log') as f:
        log = json.load(f)
    assert [e['epoch'] for e in log] == [1, 2]
    for a, b in zip(ref_log, log):
        for key in ('main/loss', 'validation/main/loss', 'test/main/loss', 'lr'):
            assert b[key] == pytest.approx(a[key], abs=1e-6)
    with open(run / 'summary.json') as f:
        assert json.load(f)['status'] == 'finished'
    with open(run / 'metadata.json') as f:
        assert len(json.load(f)['resumed_at']) == 1


def test_sigkill_mid_epoch_then_resume_is_exact(workdir):
    code, _, _ = _interrupt(workdir, 'killed', signal.SIGKILL)
    assert code == -signal.SIGKILL
    run = workdir / 'results' / 'killed'
    assert not (run / 'summary.json').exists()  # it really died mid-run
    with open(run / 'log') as f:
        assert len(json.load(f)) == 1
    _check_resume_matches(workdir, 'killed')


def test_sigterm_snapshots_mid_epoch_then_resume_is_exact(workdir):
    code, _, err = _interrupt(workdir, 'stopped', signal.SIGTERM)
    assert code == 128 + signal.SIGTERM
    assert '--resume' in err and 'SIGTERM' in err
    run = workdir / 'results' / 'stopped'
    with open(run / 'summary.json') as f:
        summary = json.load(f)
    assert summary['status'] == 'interrupted' and summary['epochs'] == 1
    assert summary['iterations'] > 3  # stopped inside epoch 2 (3 iterations per epoch)
    _check_resume_matches(workdir, 'stopped')


def test_resume_refuses_changed_flags_and_missing_runs(workdir, monkeypatch):
    from chainer_compare.errors import UserError
    from chainer_compare.training import config, resume
    monkeypatch.chdir(str(workdir))
    with pytest.raises(UserError, match='--lr'):
        resume.resumed_args(config.parse_args(['--resume', 'results/reference', '--lr', '0.5']))
    with pytest.raises(UserError, match='no such run directory'):
        resume.resumed_args(config.parse_args(['--resume', 'results/absent']))
    args = resume.resumed_args(config.parse_args(['-p', 'reference', '--resume', '--iter', '4']))
    assert args.iter == 4 and args.run_dir == os.path.join('results', 'reference')
    assert args.optimizer == 'adam' and args.resume.endswith('snapshot')
