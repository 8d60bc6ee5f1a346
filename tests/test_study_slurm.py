"""Studies on a real Slurm through submitit (not a mock).

The fixture uses a Slurm that already answers ``sinfo`` (SLURM_CONF set, or a
cluster configured on this host); otherwise, as root with slurm-wlm and munge
installed, it starts its own one-node Slurm with scripts/local_slurm.sh (its
config, spool and state under a temp dir, its own ports) and stops every
daemon it started when the tests end.
"""
import os
import socket
import subprocess

import pytest

from study_support import (ROOT, epochs_logged, make_workdir, read_rows, record, run_study,
                           start_study, wait_for, write_study)

LOCAL_SLURM = os.path.join(ROOT, 'scripts', 'local_slurm.sh')


def _sinfo_ok(env):
    try:
        out = subprocess.run(['sinfo', '-h', '-o', '%T'], capture_output=True, text=True,
                             timeout=20, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(s in out.stdout for s in ('idle', 'mixed', 'alloc'))


def _free_port():
    with socket.socket() as s:
        s.bind(('', 0))
        return s.getsockname()[1]


pytestmark = [pytest.mark.slow, pytest.mark.requires('slurm')]


@pytest.fixture(scope='module')
def slurm_env(tmp_path_factory):
    env = dict(os.environ)
    if _sinfo_ok(env):
        yield {}
        return
    if os.geteuid() != 0:
        pytest.skip('no running Slurm answers sinfo, and starting one here needs root')
    directory = str(tmp_path_factory.mktemp('slurm'))
    env.update(SLURM_LOCAL_DIR=directory, SLURMCTLD_PORT=str(_free_port()),
               SLURMD_PORT=str(_free_port()))
    started = subprocess.run([LOCAL_SLURM, 'start'], env=env, capture_output=True, text=True,
                             timeout=120)
    assert started.returncode == 0, started.stderr
    conf = started.stdout.strip().split('=', 1)[1]
    try:
        yield {'SLURM_CONF': conf}
    finally:
        subprocess.run([LOCAL_SLURM, 'stop'], env=env, timeout=120)


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return make_workdir(tmp_path_factory.mktemp('slurmstudy'))


def _squeue_empty(env, job):
    out = subprocess.run(['squeue', '-h', '-j', job], capture_output=True, text=True,
                         env=dict(os.environ, **env))
    return not out.stdout.strip()


def test_study_through_slurm_completes_and_status_works_while_it_runs(workdir, slurm_env):
    path = write_study(workdir, name='slurm')
    study_dir = workdir / 'results' / 'slurm'
    proc = start_study(workdir, 'run', path, '--backend', 'slurm', '--time', '10',
                       '--max-parallel', '2', env=slurm_env)
    wait_for(lambda: epochs_logged(study_dir / 'keras_s1') >= 1, what='a run to train on Slurm')
    status = run_study(workdir, 'status', study_dir, env=slurm_env)
    assert 'running' in status.stdout and 'slurm' in status.stdout, status.stdout
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output
    assert 'done keras_s1' in output
    rows = read_rows(study_dir)
    for row in rows.values():
        assert row['status'] == 'done' and row['backend'] == 'slurm' and row['exit_code'] == 0
    array_ids = {row['job_id'].split('_')[0] for row in rows.values()}
    assert len(array_ids) == 1  # one job array per run of the study
    assert (study_dir / 'keras_s2' / 'model_final.npz').is_file()


def test_scancel_mid_way_then_the_next_run_resumes(workdir, slurm_env):
    path = write_study(workdir, name='cancelled')
    study_dir = workdir / 'results' / 'cancelled'
    submitted = run_study(workdir, 'run', path, '--backend', 'slurm', '--time', '10',
                          '--no-wait', env=slurm_env)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    wait_for(lambda: epochs_logged(study_dir / 'keras_s1') >= 1, what='epoch 1 on Slurm')
    job = record(study_dir, 'keras_s1')['job_id']
    subprocess.run(['scancel', job], check=True, env=dict(os.environ, **slurm_env))
    wait_for(lambda: _squeue_empty(slurm_env, job), timeout=120, what='the job to end')
    wait_for(lambda: record(study_dir, 'keras_s1')['status'] != 'running', timeout=60,
             what='the record of the cancelled run')
    assert record(study_dir, 'keras_s1')['status'] == 'interrupted'
    assert (study_dir / 'keras_s1' / 'snapshot').is_file()
    other = record(study_dir, 'keras_s2')['job_id']
    wait_for(lambda: _squeue_empty(slurm_env, other), timeout=300, what='the other run')

    again = run_study(workdir, 'run', path, '--backend', 'slurm', '--time', '10',
                      env=slurm_env, timeout=400)
    assert again.returncode == 0, again.stdout + again.stderr
    assert '1 to resume' in again.stdout and '1 done (skipped)' in again.stdout, again.stdout
    log = (study_dir / 'logs' / 'keras_s1.out').read_text()
    assert 'resume attempt' in log
    assert read_rows(study_dir)['keras_s1']['status'] == 'done'


def test_preempted_run_is_requeued_and_resumes_from_its_snapshot(workdir, slurm_env):
    path = write_study(workdir, name='preempted')
    study_dir = workdir / 'results' / 'preempted'
    proc = start_study(workdir, 'run', path, '--backend', 'slurm', '--time', '10',
                       env=slurm_env)
    wait_for(lambda: epochs_logged(study_dir / 'keras_s1') >= 1, what='epoch 1 on Slurm')
    job = record(study_dir, 'keras_s1')['job_id']
    # What Slurm does before a time limit or a preemption (submitit asks for --signal=USR2@T).
    subprocess.run(['scancel', '--signal=USR2', job], check=True,
                   env=dict(os.environ, **slurm_env))
    output = proc.communicate(timeout=400)[0]
    assert proc.returncode == 0, output
    log = (study_dir / 'logs' / 'keras_s1.out').read_text()
    assert 'stopped by SIGTERM; snapshot written' in log
    assert 'resume attempt in Slurm job {}'.format(job) in log  # requeued: the same job
    assert read_rows(study_dir)['keras_s1']['status'] == 'done'


@pytest.mark.requires('mpi')
def test_ranks_run_as_one_slurm_job_under_mpiexec(workdir, slurm_env):
    path = write_study(workdir, name='slurmranks', text='''\
name: slurmranks
flags: {batch_size: 8, optimizer: adam, iter: 1, augment: none, dataset: data/image.pkl}
configurations:
  two: {model: keras_mnist_cnn, ranks: 2}
''')
    proc = run_study(workdir, 'run', path, '--backend', 'slurm', '--time', '10', env=slurm_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    study_dir = workdir / 'results' / 'slurmranks'
    assert 'mpiexec -n 2' in (study_dir / 'logs' / 'two_s1.out').read_text()
    import json
    assert json.loads((study_dir / 'two_s1' / 'metadata.json').read_text())['world_size'] == 2
