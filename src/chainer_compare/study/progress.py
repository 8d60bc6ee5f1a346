"""The live progress display of a study: done/running/failed/left, epochs, ETA.

On a terminal the status line is redrawn in place; in a log file (CI, nohup)
it is printed when it changes, at most every 30 s, so logs stay readable.
Events (a run started, finished, failed) always get a line of their own.
The ETA assumes every epoch left costs what the epochs logged so far by the
runs of this invocation cost on average, spread over the concurrent slots.
"""
import sys
import time

from chainer_compare.study.state import last_log_entry

_PLAIN_EVERY_S = 30


def seconds_per_epoch(entry):
    """Training + evaluation seconds per epoch so far (Chainer's elapsed_time survives resumes)."""
    epoch, elapsed = entry.get('epoch'), entry.get('elapsed_time')
    return elapsed / epoch if epoch and elapsed else None


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return '{}h{:02d}m'.format(seconds // 3600, seconds % 3600 // 60)
    if seconds >= 60:
        return '{}m{:02d}s'.format(seconds // 60, seconds % 60)
    return '{}s'.format(seconds)


class Progress(object):
    def __init__(self, study, todo, parallel, out=None):
        self.out = out or sys.stdout
        self.tty = hasattr(self.out, 'isatty') and self.out.isatty()
        self.name = study.name
        self.total = len(todo)
        self.parallel = max(1, parallel)
        self.done = self.failed = 0
        self.start = time.time()
        self.epoch_seconds = {}      # run name -> seconds per epoch, from its log
        self.epochs = {s.spec.name: s.epochs or 1 for s in todo}
        self.last_line, self.last_plain = None, 0.0

    def _clear(self):
        if self.tty and self.last_line:
            self.out.write('\r' + ' ' * len(self.last_line) + '\r')

    def event(self, text):
        self._clear()
        self.out.write('[{} {}] {}\n'.format(self.name, time.strftime('%H:%M:%S'), text))
        self.out.flush()
        self.last_line = None

    def finished(self, run_state, status, exit_code):
        summary = run_state.summary or {}
        wall = run_state.record.get('wall_time_s') or 0
        if status == 'done':
            self.done += 1
            per_epoch = seconds_per_epoch(last_log_entry(run_state.run_dir))
            if per_epoch:
                self.epoch_seconds[run_state.spec.name] = per_epoch
            err = summary.get('test_error_at_best')
            self.event('done {} in {}{}'.format(
                run_state.spec.name, _duration(wall),
                ': test error {:.2f}% at the best validation epoch'.format(100 * err)
                if isinstance(err, (int, float)) else ''))
        elif status == 'interrupted':
            self.event('stopped {} at epoch {} (snapshot kept; the next run resumes it)'.format(
                run_state.spec.name, run_state.epoch))
        else:
            self.failed += 1
            self.event('{} {} (exit {}): {} -- output: {}'.format(
                status.upper(), run_state.spec.name, exit_code, run_state.failure_line(),
                run_state.log_path))

    def _eta(self, running, logged, queued):
        for s in running:
            per_epoch = seconds_per_epoch(logged[s.spec.name])
            if per_epoch:
                self.epoch_seconds[s.spec.name] = per_epoch
        if not self.epoch_seconds:
            return 'ETA after the first epoch'
        per_epoch = sum(self.epoch_seconds.values()) / len(self.epoch_seconds)
        left = sum(self.epochs[s.spec.name] - logged[s.spec.name].get('epoch', 0)
                   for s in running)
        left += sum(self.epochs.values()) / max(1, len(self.epochs)) * queued
        slots = max(1, min(self.parallel, len(running) + queued))
        return 'ETA {}'.format(_duration(per_epoch * left / slots))

    def draw(self, running, queued):
        logged = {s.spec.name: last_log_entry(s.run_dir) for s in running}  # one read a run
        parts = ['{}/{} done'.format(self.done, self.total), '{} running'.format(len(running)),
                 '{} failed'.format(self.failed), '{} left'.format(queued)]
        now = ', '.join('{} epoch {}/{}'.format(
            s.spec.name, min(logged[s.spec.name].get('epoch', 0) + 1, self.epochs[s.spec.name]),
            self.epochs[s.spec.name]) for s in running)
        line = '{} | {} | {}'.format(', '.join(parts), now or 'idle',
                                     self._eta(running, logged, queued))
        line += ' | {} elapsed'.format(_duration(time.time() - self.start))
        if self.tty:
            self._clear()
            self.out.write(line[:200])
            self.out.flush()
            self.last_line = line[:200]
        elif line.split(' | ')[:2] != (self.last_line or '').split(' | ')[:2] or \
                time.time() - self.last_plain > _PLAIN_EVERY_S:
            self.out.write('[{} {}] {}\n'.format(self.name, time.strftime('%H:%M:%S'), line))
            self.out.flush()
            self.last_line, self.last_plain = line, time.time()

    def close(self):
        self._clear()
        self.last_line = None
