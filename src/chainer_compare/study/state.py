"""Where a study stands: its directory, each run's state and the table of runs.

The truth is in the run directories train.py writes (``args``, ``summary.json``,
``snapshot``), so a study killed at any moment -- even by SIGKILL -- is read
correctly by the next ``run`` or ``status``.  What the files cannot say
(attempts, exit codes, backend job ids, hosts, times) is kept per run in
``records/<run>.json``, written by whoever ran the attempt (this process, or
a Slurm job on another node), and gathered into ``runs.json`` / ``runs.csv``.

    results/<study>/study.yaml          the study file as last run
    results/<study>/runs.json, runs.csv the table of runs
    results/<study>/<config>_s<seed>/   train.py's run directory (ChainerUI reads it)
    results/<study>/logs/<run>.out      the output of every attempt, appended
    results/<study>/records/<run>.json  attempts, exit code, job id, host, times
"""
import csv
import io
import json
import os
import time

from chainer_compare.safeio import atomic_write_text
from chainer_compare.study.spec import identity

SNAPSHOT = 'snapshot'  # train.py's trainer snapshot (training/extensions.py)
TAIL_FILE = 'study_output_tail.txt'
TAIL_LINES = 40
TABLE_COLUMNS = ('run', 'config', 'seed', 'status', 'epoch', 'epochs', 'attempts',
                 'exit_code', 'backend', 'job_id', 'host', 'start', 'end', 'wall_time_s',
                 'run_dir', 'hash', 'argv')
# States a run can be in (``status`` prints them; ``run`` acts on them).
DONE, PENDING, RESUMABLE, RESTART, CHANGED, DIVERGED = (
    'done', 'pending', 'resumable', 'restart', 'changed', 'diverged')


def read_json_or_none(path):
    """A JSON file's content, or None when it is missing or half-written."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + '\n')


def last_log_entry(run_dir):
    """The latest epoch's entry of a run's Chainer ``log`` ({} before the first epoch ends)."""
    log = read_json_or_none(os.path.join(run_dir, 'log'))
    entries = [e for e in log if isinstance(e, dict)] if isinstance(log, list) else []
    return max(entries, key=lambda e: e.get('epoch', 0), default={})


class RunState(object):
    """What the files say of one run: ``state`` plus the details behind it."""

    def __init__(self, spec, study_dir):
        self.spec = spec
        self.study_dir = study_dir
        self.run_dir = os.path.join(study_dir, spec.name)
        self.record_path = os.path.join(study_dir, 'records', spec.name + '.json')
        self.log_path = os.path.join(study_dir, 'logs', spec.name + '.out')
        self.record = read_json_or_none(self.record_path) or {}
        self.epochs = spec.flags.get('iter')
        self.epoch = 0
        self.differs = None   # (flag, old, new) when the flags changed
        self.summary = None
        self.state = self._inspect()

    def _inspect(self):
        if not os.path.isdir(self.run_dir):
            return PENDING
        saved = read_json_or_none(os.path.join(self.run_dir, 'args'))
        if saved is None:  # train.py died before writing args: nothing to keep
            return RESTART
        old, new = identity(saved), self.spec.flags
        for key in sorted(set(old) | set(new)):
            if key != 'iter' and old.get(key) != new.get(key):
                self.differs = (key, old.get(key, '(absent)'), new.get(key, '(absent)'))
                return CHANGED
        self.epoch = last_log_entry(self.run_dir).get('epoch', 0)
        self.summary = read_json_or_none(os.path.join(self.run_dir, 'summary.json'))
        status = (self.summary or {}).get('status')
        if status == 'finished' and (self.summary.get('epochs') or 0) >= self.epochs:
            return DONE
        if status == 'nan':
            return DIVERGED
        if os.path.isfile(os.path.join(self.run_dir, SNAPSHOT)):
            return RESUMABLE  # interrupted, killed, or finished with fewer epochs
        return RESTART

    @property
    def display_status(self):
        """done / diverged / failed / interrupted / running / changed / pending."""
        last = self.record.get('status')
        if self.state in (DONE, DIVERGED, CHANGED):
            return self.state
        if last in ('running', 'submitted') and _alive(self.record, self.spec.name):
            return last
        if last in ('running', 'submitted'):  # its process or job ended without a word
            return 'interrupted' if self.state == RESUMABLE else 'failed'
        if last in ('failed', 'interrupted'):
            return last
        return 'pending' if self.state in (PENDING, RESTART) else 'interrupted'

    def row(self):
        rec = self.record
        return {
            'run': self.spec.name, 'config': self.spec.config, 'seed': self.spec.seed,
            'status': self.display_status, 'epoch': self.epoch, 'epochs': self.epochs,
            'attempts': rec.get('attempts', 0), 'exit_code': rec.get('exit_code'),
            'backend': rec.get('backend'), 'job_id': rec.get('job_id'),
            'host': rec.get('host'), 'start': rec.get('start'), 'end': rec.get('end'),
            'wall_time_s': rec.get('wall_time_s'), 'run_dir': self.run_dir,
            'hash': self.spec.hash, 'argv': self.spec.argv,
            'test_error_at_best': (self.summary or {}).get('test_error_at_best'),
        }

    def update_record(self, **fields):
        self.record.update(fields)
        write_json(self.record_path, self.record)

    def output_tail(self, lines=TAIL_LINES):
        try:
            with open(self.log_path, errors='replace') as f:
                return f.readlines()[-lines:]
        except OSError:
            return []

    def failure_line(self):
        """The line of the output that says why it failed: the last 'error:' line, else the last."""
        lines = [line.strip() for line in self.output_tail() if line.strip()]
        errors = [line for line in lines if 'error:' in line.lower()]
        return (errors or lines or ['no output'])[-1]

    def keep_tail(self):
        """Copy the last lines of the attempt's output into the run directory."""
        if os.path.isdir(self.run_dir):
            atomic_write_text(os.path.join(self.run_dir, TAIL_FILE), ''.join(self.output_tail()))


def _alive(record, run_name):
    """Whether the process or Slurm job of a record still runs (best effort)."""
    if record.get('backend') == 'slurm':
        from chainer_compare.study import slurm
        return slurm.job_active(record.get('job_id'))
    pid = record.get('pid')
    if not pid or record.get('host') != os.uname().nodename:
        return False
    if os.path.isdir('/proc/self'):
        # A zombie (dead, not yet reaped) has an empty command line, a reused PID another.
        try:
            with open('/proc/{}/cmdline'.format(pid), 'rb') as f:
                return run_name.encode() in f.read()
        except OSError:
            return False
    try:  # no /proc: ask the kernel
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def now():
    return time.strftime('%Y-%m-%dT%H:%M:%S%z')


def read_states(study, study_dir):
    return [RunState(spec, study_dir) for spec in study.runs]


def write_table(study_dir, states):
    """runs.json (every field) and runs.csv (one line a run) in the study directory."""
    rows = [s.row() for s in states]
    write_json(os.path.join(study_dir, 'runs.json'), rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=TABLE_COLUMNS + ('test_error_at_best',),
                            extrasaction='ignore', lineterminator='\n')
    writer.writeheader()
    for row in rows:
        writer.writerow(dict(row, argv=' '.join(row['argv'])))
    atomic_write_text(os.path.join(study_dir, 'runs.csv'), buf.getvalue())
    return rows
