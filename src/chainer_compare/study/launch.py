"""The command line and environment of one attempt of one run (any backend).

A run that has a snapshot continues with ``train.py --resume`` (exact on the
CPU, see docs/training.md); any other unfinished run starts afresh in an empty
run directory.  Runs of ``ranks: N`` start under ``mpiexec -n N``.
"""
import os
import shutil
import sys
import time

from chainer_compare.errors import UserError
from chainer_compare.study import state as state_module

EXIT_DIVERGED = 3  # train.py's exit status when the loss diverged
THREAD_VARIABLES = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')


def train_script():
    """src/train.py beside the package (the project is installed editable or run from src/)."""
    import chainer_compare
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
        chainer_compare.__file__))), 'train.py')
    if not os.path.isfile(path):
        raise UserError('{}: train.py not found beside the chainer_compare package; run '
                        'the study from a checkout of the project'.format(path))
    return path


def mpiexec_prefix(ranks):
    mpiexec = shutil.which('mpiexec')
    if mpiexec is None:
        raise UserError('ranks: {} needs mpiexec (Debian: apt-get install openmpi-bin '
                        'libopenmpi-dev; then pip install mpi4py)'.format(ranks))
    prefix = [mpiexec, '-n', str(ranks)]
    if hasattr(os, 'geteuid') and os.geteuid() == 0:
        prefix.append('--allow-run-as-root')  # Open MPI refuses root without it
    return prefix + ['--oversubscribe']


def prepare(run_state):
    """'resume' or 'fresh'; clears a run directory that holds nothing to continue."""
    if run_state.state == state_module.RESUMABLE:
        return 'resume'
    if os.path.isdir(run_state.run_dir):  # no args or no snapshot: start over
        shutil.rmtree(run_state.run_dir)
    return 'fresh'


def train_argv(run_state, study_dir, gpu_flag, mode):
    """``[python, train.py, ...]`` for this attempt (``mpiexec`` first for ranks > 1)."""
    spec = run_state.spec
    if mode == 'resume':
        args = ['--resume', run_state.run_dir, '--iter', str(run_state.epochs)]
    else:
        args = list(spec.argv) + ['--out', study_dir]
    command = [sys.executable, '-u', train_script()] + args + ['-g', str(gpu_flag)]
    return (mpiexec_prefix(spec.ranks) if spec.ranks > 1 else []) + command


def train_env(threads=None, visible_gpus=None):
    """The environment of a run: BLAS/OpenMP threads, visible GPUs, no display."""
    env = dict(os.environ, MPLBACKEND='Agg', PYTHONUNBUFFERED='1')
    if threads:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    if visible_gpus is not None:
        env['CUDA_VISIBLE_DEVICES'] = ','.join(str(g) for g in visible_gpus)
    return env


def outcome(exit_code, stopped_by_us):
    """The record status for an attempt's exit code."""
    if exit_code == 0:
        return 'done'
    if exit_code == EXIT_DIVERGED:
        return 'diverged'
    if stopped_by_us and exit_code in (130, 143, -2, -15):
        return 'interrupted'
    return 'failed'


def begin_attempt(run_state, mode, argv, where='', **record):
    """Record the attempt as running and open its output log (header appended).

    Returns the open log file for the child's stdout/stderr; ``where`` follows
    "attempt" in the header (e.g. " in Slurm job 7_0 on node1").
    """
    run_state.update_record(status='running', start=state_module.now(), end=None,
                            exit_code=None, wall_time_s=None, mode=mode,
                            attempts=run_state.record.get('attempts', 0) + 1, **record)
    os.makedirs(os.path.dirname(run_state.log_path), exist_ok=True)
    log = open(run_state.log_path, 'a')
    log.write('\n=== {} {} attempt{}: {}\n'.format(state_module.now(), mode, where,
                                                   ' '.join(argv)))
    log.flush()
    return log


def end_attempt(run_state, exit_code, started, stopped_by_us):
    """Record how an attempt ended; (the run as its files now say, the record status)."""
    status = outcome(exit_code, stopped_by_us)
    fresh = state_module.RunState(run_state.spec, run_state.study_dir)
    fresh.record = run_state.record
    if status == 'done' and fresh.state != state_module.DONE:
        status = 'failed'  # exit 0 without a finished summary.json
    fresh.update_record(status=status, exit_code=exit_code, end=state_module.now(),
                        wall_time_s=round(time.time() - started, 1))
    if status in ('failed', 'diverged'):
        fresh.keep_tail()
    return fresh, status
