"""The Slurm backend: one submitit job array per ``run``, requeue with resume.

Each array task runs one run's attempt (:class:`SlurmRun`) on a compute node:
it starts train.py (fresh, or ``--resume`` from the snapshot), writes the
output to ``logs/<run>.out`` and its record (job id, host, times, exit code) to
``records/<run>.json`` -- files on the shared filesystem, which is how
``status`` on the login node sees the study while jobs run.  When Slurm warns
of the time limit or of preemption (SIGUSR2, ``--signal`` set by submitit),
``checkpoint`` stops train.py (which writes its snapshot) and submitit
requeues the task, which then resumes.  A ``scancel``ed run keeps its snapshot
and the next ``run`` resumes it.  ``ranks: N`` runs get N CPUs/GPUs on one node
and start under ``mpiexec -n N`` there.
"""
import os
import signal
import subprocess
import time

from chainer_compare.errors import UserError
from chainer_compare.study import launch
from chainer_compare.study import state as S


SUBMITTED = 'submitted'  # what run_slurm returns with --no-wait


def add_slurm_flags(parser):
    g = parser.add_argument_group('slurm backend (--backend slurm)')
    g.add_argument('--partition', default=None, help='Slurm partition (default: the cluster\'s)')
    g.add_argument('--time', type=int, default=60,
                   help='time limit of one attempt in minutes (default: 60); a run that '
                        'reaches it is requeued and resumes from its snapshot')
    g.add_argument('--max-parallel', type=int, default=64,
                   help='array throttle: at most this many runs at once (default: 64)')
    g.add_argument('--gpus-per-run', type=int, default=0,
                   help='GPUs per run (per rank for ranks > 1; default: 0 = CPU runs)')
    g.add_argument('--cpus-per-run', type=int, default=1,
                   help='CPU cores per run (per rank; default: 1); sets the BLAS threads')
    g.add_argument('--mem', default=None, help='memory per run, Slurm syntax, e.g. 16G')
    g.add_argument('--slurm-folder', default=None,
                   help="submitit's job files (default: <study dir>/slurm)")
    g.add_argument('--no-wait', action='store_true',
                   help='submit and return; follow it with study.py status')


_SQUEUE_CACHE = {'time': 0.0, 'ids': frozenset()}
_SQUEUE_TTL_S = 2.0


def _queued_job_ids():
    """Every job id Slurm still has, array tasks one per line (one squeue call per 2 s)."""
    if time.time() - _SQUEUE_CACHE['time'] > _SQUEUE_TTL_S:
        try:
            out = subprocess.run(['squeue', '-h', '-r', '-o', '%i'], capture_output=True,
                                 text=True, timeout=30)
            ids = frozenset(out.stdout.split()) if out.returncode == 0 else frozenset()
        except (OSError, subprocess.TimeoutExpired):
            ids = frozenset()
        _SQUEUE_CACHE.update(time=time.time(), ids=ids)
    return _SQUEUE_CACHE['ids']


def job_active(job_id):
    """Whether Slurm still has the job (pending, running, requeued)."""
    return bool(job_id) and str(job_id) in _queued_job_ids()


def _ignore_usr2():
    # Slurm's time-limit/preemption warning (SIGUSR2) goes to every process of the
    # step; it is for submitit, which then stops train.py with SIGTERM (snapshot).
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


class SlurmRun(object):
    """One attempt of one run inside a Slurm job (pickled by submitit)."""

    def __init__(self, spec, study_dir, gpu_flag, threads):
        self.spec = spec
        self.study_dir = study_dir
        self.gpu_flag = gpu_flag
        self.threads = threads
        self._proc = None

    def __call__(self):
        import submitit
        job = submitit.JobEnvironment()
        run_state = S.RunState(self.spec, self.study_dir)
        if run_state.state == S.DONE:
            return 'done'
        mode = launch.prepare(run_state)
        argv = launch.train_argv(run_state, self.study_dir, self.gpu_flag, mode)
        started = time.time()
        with launch.begin_attempt(run_state, mode, argv, where=' in Slurm job {} on {}'.format(
                job.job_id, job.hostname), backend='slurm', job_id=str(job.job_id),
                host=job.hostname, pid=None) as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                          env=launch.train_env(self.threads),
                                          preexec_fn=_ignore_usr2)
            code = self._proc.wait()
        # Under Slurm a signal reaches train.py from scancel or the scheduler.
        fresh, status = launch.end_attempt(run_state, code, started, stopped_by_us=True)
        if status in ('failed', 'diverged'):
            raise RuntimeError('{} {} (exit {}); output: {}'.format(
                self.spec.name, status, code, run_state.log_path))
        return status

    def checkpoint(self):
        """Time limit or preemption: stop train.py (snapshot written), then requeue."""
        import submitit
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            _reap(self._proc.pid, timeout_s=600)
        S.RunState(self.spec, self.study_dir).update_record(status='submitted', end=S.now())
        return submitit.helpers.DelayedSubmission(
            SlurmRun(self.spec, self.study_dir, self.gpu_flag, self.threads))


def _reap(pid, timeout_s):
    """Wait for a child with os.waitpid: checkpoint runs inside a signal handler, on top
    of Popen.wait, which holds the Popen's wait lock (a nested Popen.wait would spin)."""
    end = time.time() + timeout_s
    while time.time() < end:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def _executor(study_dir, options, ranks):
    try:
        import submitit
    except ImportError:
        raise UserError('--backend slurm needs submitit: pip install submitit')
    import shutil
    if shutil.which('sbatch') is None:
        raise UserError('--backend slurm: sbatch not found; run on a Slurm login node (or try '
                        'a one-node Slurm here: scripts/local_slurm.sh start)')
    folder = options.get('slurm_folder') or os.path.join(study_dir, 'slurm')
    executor = submitit.AutoExecutor(folder=os.path.join(folder, '%j'), cluster='slurm')
    params = dict(timeout_min=options.get('time') or 60, nodes=1, tasks_per_node=1,
                  cpus_per_task=(options.get('cpus_per_run') or 1) * ranks,
                  slurm_array_parallelism=options.get('max_parallel') or 64,
                  name='study', slurm_signal_delay_s=min(90, 30 * (options.get('time') or 60)))
    if options.get('partition'):
        params['slurm_partition'] = options['partition']
    if options.get('gpus_per_run'):
        params['gpus_per_node'] = options['gpus_per_run'] * ranks
    if options.get('mem'):
        params['slurm_mem'] = options['mem']
    executor.update_parameters(**params)
    return executor


def submit(study_dir, states, options):
    """One job array per resource shape (ranks); records the job ids; the jobs."""
    jobs = []
    gpu_flag = 0 if options.get('gpus_per_run') else -1
    threads = options.get('cpus_per_run') or 1
    for ranks in sorted({s.spec.ranks for s in states}):
        group = [s for s in states if s.spec.ranks == ranks]
        executor = _executor(study_dir, options, ranks)
        for s in group:
            launch.prepare(s)  # clear dirs that hold nothing to continue
        with executor.batch():
            submitted = [executor.submit(SlurmRun(s.spec, study_dir, gpu_flag, threads))
                         for s in group]
        for s, job in zip(group, submitted):
            s.update_record(status='submitted', backend='slurm', job_id=str(job.job_id),
                            start=None, end=None, exit_code=None, host=None)
            jobs.append((s, job))
    return jobs


def run_slurm(study, study_dir, todo, retries, options, write_table, out):
    """Submit ``todo`` and (unless --no-wait) follow it to the end.

    Returns None when followed to the end, SUBMITTED with --no-wait, or 2
    (SIGINT) when the user stopped following.
    """
    from chainer_compare.study.progress import Progress
    options = options or {}
    pending = list(todo)
    for attempt in range(retries + 1):
        jobs = submit(study_dir, pending, options)
        write_table()
        out.write('submitted {} runs to Slurm as job array(s) {}; follow with: python '
                  'src/study.py status {}\n'.format(len(jobs), ', '.join(sorted({
                      j.job_id.split('_')[0] for _, j in jobs})), study_dir))
        out.flush()
        if options.get('no_wait'):
            return SUBMITTED
        display = Progress(study, [s for s, _ in jobs], len(jobs), out)
        announced = set()
        try:
            while True:
                active = any(job_active(j.job_id) for _, j in jobs)
                states = [S.RunState(s.spec, study_dir) for s, _ in jobs]
                for s in states:
                    status = s.record.get('status')
                    if status in ('done', 'failed', 'diverged', 'interrupted') and \
                            s.spec.name not in announced:
                        announced.add(s.spec.name)
                        display.finished(s, status, s.record.get('exit_code'))
                display.draw([s for s in states if s.record.get('status') == 'running'],
                             sum(s.record.get('status') == 'submitted' for s in states))
                write_table()
                if not active:
                    break
                time.sleep(2)
        except KeyboardInterrupt:
            display.close()
            out.write('stopped following; the jobs keep running (scancel them to stop)\n')
            return 2
        display.close()
        final = [S.RunState(s.spec, study_dir) for s, _ in jobs]
        for s in final:
            if s.record.get('status') in ('running', 'submitted'):  # killed without a word
                s.update_record(status='failed')
        pending = [s for s in final if s.display_status == 'failed' and
                   s.state not in (S.DONE, S.DIVERGED)]
        if not pending:
            break
        if attempt < retries:
            out.write('retrying {} failed run(s): {}\n'.format(
                len(pending), ', '.join(s.spec.name for s in pending)))
    return None
