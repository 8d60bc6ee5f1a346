"""The local backend: K runs at a time on this machine, one GPU each or the cores split.

One thread starts the runs (``subprocess.Popen``), polls them and draws the
progress line, so nothing here races.  Each child is in its own session, asks
the kernel for SIGTERM when this process dies (``PR_SET_PDEATHSIG``: even a
SIGKILLed study leaves no orphan training on), and writes its output to
``logs/<run>.out``.  SIGINT/SIGTERM on the study are passed on to every run
(train.py then writes its snapshot and stops), and the next ``run`` resumes
them.
"""
import ctypes
import os
import signal
import subprocess
import time

from chainer_compare.study import launch, progress

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: Ctrl-C handling still applies
        pass


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Slots(object):
    """Devices for concurrent runs: GPU ids (one run each unless repeated) or CPU slots."""

    def __init__(self, jobs, gpus):
        self.gpus = gpus
        self.free = list(gpus) if gpus else list(range(jobs))
        self.size = len(self.free)
        self.threads = None if gpus else max(1, cpu_count() // self.size)

    def take(self, n):
        if len(self.free) < min(n, self.size):
            return None
        taken, self.free = self.free[:n], self.free[n:]
        return taken

    def give(self, taken):
        self.free.extend(taken)

    def describe(self, taken):
        if self.gpus:
            return 'GPU {}'.format(','.join(str(g) for g in taken))
        return 'CPU, {} thread{}'.format(self.threads, 's' if self.threads > 1 else '')


class Attempt(object):
    def __init__(self, run_state, proc, taken, log_file, started):
        self.run_state = run_state
        self.proc = proc
        self.taken = taken
        self.log_file = log_file
        self.started = started
        self.stopped = False  # SIGTERM sent (the study is stopping)

    def stop(self):
        if not self.stopped:
            self.stopped = True
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _start(run_state, study_dir, slots, taken, announce):
    mode = launch.prepare(run_state)
    gpu_flag = 0 if slots.gpus else -1
    argv = launch.train_argv(run_state, study_dir, gpu_flag, mode)
    env = launch.train_env(slots.threads, taken if slots.gpus else None)
    started = time.time()
    log_file = launch.begin_attempt(run_state, mode, argv, backend='local',
                                    host=os.uname().nodename, device=slots.describe(taken))
    proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True, preexec_fn=_die_with_parent)
    run_state.update_record(job_id=str(proc.pid), pid=proc.pid)
    announce('start {} ({}{}) on {}'.format(run_state.spec.name, mode,
                                            ' from epoch {}'.format(run_state.epoch)
                                            if mode == 'resume' else '',
                                            slots.describe(taken)))
    return Attempt(run_state, proc, taken, log_file, started)


def run_local(study, study_dir, todo, jobs, gpus, retries, write_table, out):
    """Run ``todo`` (RunStates); returns {run name: final status} of this invocation."""
    slots = Slots(jobs, gpus)
    queue = list(todo)
    tries = {s.spec.name: 0 for s in todo}
    running, results = [], {}
    display = progress.Progress(study, todo, slots.size, out)
    stop = {'signal': None}

    def on_signal(signum, frame):
        if stop['signal'] is None:
            display.event('{} received: stopping the running runs (each writes its '
                          'snapshot); run the study again to continue'.format(
                              signal.Signals(signum).name))
        stop['signal'] = signum
        for a in running:
            a.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while running or (queue and stop['signal'] is None):
            while queue and stop['signal'] is None:
                taken = slots.take(queue[0].spec.ranks)
                if taken is None:
                    break
                run_state = queue.pop(0)
                tries[run_state.spec.name] += 1
                running.append(_start(run_state, study_dir, slots, taken, display.event))
                write_table()
            for attempt in list(running):
                if stop['signal'] is not None:
                    attempt.stop()  # also one started just as the signal came
                code = attempt.proc.poll()
                if code is None:
                    continue
                running.remove(attempt)
                slots.give(attempt.taken)
                attempt.log_file.close()
                fresh, status = launch.end_attempt(attempt.run_state, code, attempt.started,
                                                   stop['signal'] is not None)
                results[fresh.spec.name] = status
                display.finished(fresh, status, code)
                if status == 'failed' and tries[fresh.spec.name] <= retries and \
                        stop['signal'] is None:
                    display.event('retry {} ({} of {})'.format(
                        fresh.spec.name, tries[fresh.spec.name], retries))
                    queue.insert(0, fresh)
                write_table()
            display.draw([a.run_state for a in running], len(queue))
            time.sleep(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        display.close()
    return results, stop['signal']

