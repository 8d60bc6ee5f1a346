"""Find run directories and read them, read-only and robustly.

A run directory (see docs/ARCHITECTURE.md) holds Chainer's ``log``, the
``args`` JSON, ``metadata.json`` and, once the run has ended, ``summary.json``.
Reporting never writes into a run directory.  A run whose ``log`` or ``args``
cannot be read is skipped with one line naming the file, so one broken run
never hides the others; a run without ``summary.json`` is still being written
(or was killed), so its numbers are derived from ``log`` and it is marked
``running``.
"""
import glob
import json
import math
import os

from chainer_compare.errors import UserError

RUN_FILES = ('log', 'args', 'metadata.json', 'summary.json')
# Directories below a results dir that are never runs (our own outputs).
_NOT_RUNS = {'evaluation', 'test-artifacts', '__pycache__'}


class Run(object):
    """One run directory: its files as read, plus per-epoch curves and metrics."""

    def __init__(self, path, log, args, metadata, summary, notes):
        self.path = path
        self.name = os.path.basename(os.path.normpath(path))
        self.log = log
        self.args = args
        self.metadata = metadata
        self.summary = summary  # None while the run is being written
        self.notes = notes      # non-fatal problems, shown in the report
        self.curves = _curves(log)
        self.metrics = _metrics(self.curves, summary, metadata)

    @property
    def status(self):
        return self.metrics['status']


class SkippedRun(object):
    def __init__(self, path, reason):
        self.path = path
        self.reason = reason

    def __str__(self):
        return 'skipped run: ' + self.reason  # the reason names the file at fault


def is_run_dir(path):
    return os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, f)) for f in ('log', 'args'))


def find_run_dirs(paths):
    """Run dirs named by ``paths`` (run dirs, dirs holding runs, or globs)."""
    found = []
    for spec in paths:
        matches = sorted(glob.glob(spec)) if glob.has_magic(spec) else [spec]
        if not matches:
            raise UserError('{}: no file or directory matches this pattern'.format(spec))
        for path in matches:
            if not os.path.exists(path):
                raise UserError('{}: no such directory; give a run directory or '
                                'a results directory'.format(path))
            if is_run_dir(path):
                found.append(path)
            elif os.path.isdir(path):
                found.extend(_runs_below(path, depth=2))
    unique = []
    for path in found:
        if os.path.abspath(path) not in (os.path.abspath(p) for p in unique):
            unique.append(path)
    if not unique:
        raise UserError('{}: no run directories found (a run directory has the '
                        '"log" and "args" files that src/train.py writes); train '
                        'one first, e.g. python src/train.py -g -1 -m cnn --iter 1'
                        .format(', '.join(paths)))
    return unique


def _runs_below(directory, depth):
    runs = []
    for entry in sorted(os.listdir(directory)):
        sub = os.path.join(directory, entry)
        if entry in _NOT_RUNS or entry.startswith('.') or not os.path.isdir(sub):
            continue
        if is_run_dir(sub):
            runs.append(sub)
        elif depth > 1:
            runs.extend(_runs_below(sub, depth - 1))
    return runs


def read_json(path, kind):
    """Parse a JSON file; UserError naming the file if it is missing or broken."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        raise UserError('{}: missing (the run has no {} file)'.format(path, kind))
    except OSError as e:
        raise UserError('{}: cannot read ({})'.format(path, e.strerror))
    try:
        return json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as e:
        what = 'truncated (still being written?)' if _looks_truncated(data) else 'corrupt'
        raise UserError('{}: {} {} file, not valid JSON ({})'.format(path, what, kind, e))


def _looks_truncated(data):
    text = data.strip()
    return bool(text) and text[:1] in (b'[', b'{') and text[-1:] not in (b']', b'}')


def read_run(path):
    """Read one run dir into a :class:`Run`; UserError if it cannot be reported."""
    log = read_json(os.path.join(path, 'log'), 'Chainer LogReport')
    if not isinstance(log, list) or not all(isinstance(e, dict) for e in log):
        raise UserError('{}: not a Chainer LogReport list of per-epoch entries'
                        .format(os.path.join(path, 'log')))
    if not any('epoch' in e for e in log):
        raise UserError('{}: no epoch has been logged yet (the first epoch may '
                        'still be running)'.format(os.path.join(path, 'log')))
    args = read_json(os.path.join(path, 'args'), 'args')
    if not isinstance(args, dict):
        raise UserError('{}: not a JSON object of training flags'
                        .format(os.path.join(path, 'args')))
    notes = []
    metadata = _optional_json(os.path.join(path, 'metadata.json'), notes) or {}
    summary = _optional_json(os.path.join(path, 'summary.json'), notes)
    return Run(path, log, args, metadata, summary, notes)


def _optional_json(path, notes):
    if not os.path.exists(path):
        return None
    try:
        value = read_json(path, os.path.basename(path))
    except UserError as e:
        notes.append(str(e) + '; ignored')
        return None
    if not isinstance(value, dict):
        notes.append('{}: not a JSON object; ignored'.format(path))
        return None
    return value


def load_runs(paths):
    """Read every run under ``paths``: (runs, skipped), runs sorted by name."""
    runs, skipped = [], []
    for path in find_run_dirs(paths):
        try:
            runs.append(read_run(path))
        except UserError as e:
            skipped.append(SkippedRun(path, str(e)))
    return runs, skipped


def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _curves(log):
    """Per-epoch series from the log; errors are fractions (1 - accuracy)."""
    keys = {'train_error': 'main/accuracy', 'validation_error': 'validation/main/accuracy',
            'test_error': 'test/main/accuracy'}
    curves = {'epoch': [], 'train_loss': [], 'lr': [], 'elapsed_time': []}
    curves.update({k: [] for k in keys})
    for entry in log:
        epoch = _number(entry.get('epoch'))
        if epoch is None:
            continue
        curves['epoch'].append(epoch)
        curves['train_loss'].append(_number(entry.get('main/loss')))
        curves['lr'].append(_number(entry.get('lr')))
        curves['elapsed_time'].append(_number(entry.get('elapsed_time')))
        for name, key in keys.items():
            accuracy = _number(entry.get(key))
            curves[name].append(None if accuracy is None else 1.0 - accuracy)
    return curves


def _derive_from_log(curves):
    """The summary.json fields that can be computed from the log alone."""
    epochs, val, test = curves['epoch'], curves['validation_error'], curves['test_error']
    candidates = [(v, i) for i, v in enumerate(val) if v is not None]
    best = min(candidates)[1] if candidates else None  # earliest epoch among ties
    if best is None and epochs:  # --no_valid_data: the best epoch is the last (train.py's rule)
        best = len(epochs) - 1
    finals = [t for t in test if t is not None]
    return {
        'best_epoch': int(epochs[best]) if best is not None else None,
        'best_validation_error': val[best] if candidates else None,
        'test_error_at_best': test[best] if best is not None else None,
        'final_test_error': finals[-1] if finals else None,
        'epochs': int(epochs[-1]) if epochs else 0,
        'wall_time_s': curves['elapsed_time'][-1] if epochs else None,
    }


def _metrics(curves, summary, metadata):
    metrics = _derive_from_log(curves)
    metrics['images_per_s'] = _number(metadata.get('images_per_s'))
    metrics['status'] = 'running'
    if summary is not None:
        for key in list(metrics) + ['images_per_s']:
            if key in summary and summary[key] is not None:
                metrics[key] = summary[key]
        metrics['status'] = str(summary.get('status') or 'finished')
    for key in ('best_validation_error', 'test_error_at_best', 'final_test_error',
                'wall_time_s', 'images_per_s'):
        metrics[key] = _number(metrics.get(key))
    return metrics
