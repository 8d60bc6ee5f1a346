"""Trainer extensions the run needs beyond Chainer's own.

Priorities fix the order within one iteration: the Evaluators (WRITER) report
validation and test results, :class:`BestModel` and :class:`Throughput`
(EDITOR) read them and add their keys, LogReport/PrintReport/PlotReport
(READER) record everything, then the snapshot (-100) saves the whole state,
and finally :class:`InterruptGuard` (-200) may stop the run.
"""
import os
import signal

import chainer
import numpy
from chainer.serializers import npz
from chainer.training import extension
from chainer.training.extensions import PlotReport, snapshot_writers

from chainer_compare.npzfile import write_npz
from chainer_compare.safeio import atomic_write
from chainer_compare.training.divergence import TrainingDiverged

SNAPSHOT = 'snapshot'


def save_model(model, path):
    """``save_npz`` of ``model`` written atomically."""
    with atomic_write(path) as f:
        chainer.serializers.save_npz(f, model)


class AtomicWriter(snapshot_writers.Writer):
    """Snapshot writer: temp file + fsync + rename (``safeio.atomic_write``).

    Chainer's SimpleWriter also renames a temp file but never fsyncs, so a
    power loss can leave a zero-length snapshot behind.  Uncompressed: the
    snapshot is rewritten every epoch and compression costs CPU time.
    ``npzfile.write_npz``: a None value is listed, not pickled, so the file
    reads back with ``allow_pickle=False``.
    """

    def __call__(self, filename, outdir, target):
        with atomic_write(os.path.join(outdir, filename)) as f:
            write_npz(f, target)


def write_snapshot(trainer):
    AtomicWriter()(SNAPSHOT, trainer.out, npz.serialize(trainer))


class AtomicPlotReport(PlotReport):
    """PlotReport whose PNG is written to a temp name and renamed into place."""

    def __call__(self, trainer):
        final = self._file_name
        self._file_name = '.{}.tmp.png'.format(final)  # savefig picks the format from it
        try:
            super().__call__(trainer)
        finally:
            self._file_name = final
        tmp = os.path.join(trainer.out, '.{}.tmp.png'.format(final))
        if os.path.exists(tmp):
            os.replace(tmp, os.path.join(trainer.out, final))


def _save_random_state(serializer, state):
    _, keys, pos, has_gauss, cached = state.get_state()
    serializer('keys', keys)
    serializer('rest', numpy.array([pos, has_gauss, cached], dtype=numpy.float64))


def _load_random_state(serializer, state):
    keys = serializer('keys', None)
    rest = serializer('rest', None)
    state.set_state(('MT19937', numpy.asarray(keys, dtype=numpy.uint32),
                     int(rest[0]), int(rest[1]), float(rest[2])))


class RandomStates(extension.Extension):
    """Saves and restores every host RNG in the snapshot; reseeds CuPy's per epoch.

    ``states`` maps names to ``numpy.random.RandomState`` objects (the
    augmentation's and the shuffle order's); NumPy's global state (weights
    init, dropout, stochastic depth on CPU) is always included.  CuPy's
    generator state cannot be read back, so on GPU it is reseeded from
    (seed, epoch) at every epoch start: resuming from an epoch-end snapshot is
    then exact too (mid-epoch SIGTERM snapshots are exact on CPU only).
    """

    trigger = 1, 'epoch'
    priority = extension.PRIORITY_READER

    def __init__(self, states, seed, on_gpu):
        self._states = dict(states)
        self._seed = seed
        self._on_gpu = on_gpu

    def _reseed_cupy(self, epoch):
        if self._on_gpu:
            import cupy
            cupy.random.seed((self._seed * 1000003 + epoch) % (2 ** 32))

    def initialize(self, trainer):
        self._reseed_cupy(trainer.updater.epoch)

    def __call__(self, trainer):
        self._reseed_cupy(trainer.updater.epoch)

    def serialize(self, serializer):
        states = dict(self._states, numpy_global=numpy.random.mtrand._rand)
        saving = isinstance(serializer, chainer.serializer.Serializer)
        for name, state in sorted(states.items()):
            (_save_random_state if saving else _load_random_state)(serializer[name], state)


class BestModel(extension.Extension):
    """Tracks the best validation error; saves ``model_best.npz`` when it improves.

    Without a validation split (``--no_valid_data``) every epoch counts as the
    best, so the best model is the last one.  It also records the test error
    of that epoch and the latest test error, for summary.json.
    """

    trigger = 1, 'epoch'
    priority = extension.PRIORITY_EDITOR

    def __init__(self, model, path, use_validation=True, save=True):
        self._model, self._path, self._use_validation = model, path, use_validation
        self._save = save  # False on MPI ranks other than 0
        self.best_epoch = 0
        self.best_validation_error = float('nan')
        self.test_error_at_best = float('nan')
        self.final_test_error = float('nan')

    def __call__(self, trainer):
        obs = trainer.observation
        test_error = float(obs['test/main/error'])
        self.final_test_error = test_error
        if self._use_validation:
            error = float(obs['validation/main/error'])
            if not error < self.best_validation_error and self.best_epoch:
                return
            self.best_validation_error = error
        self.best_epoch = trainer.updater.epoch
        self.test_error_at_best = test_error
        if self._save:
            save_model(self._model, self._path)

    def serialize(self, serializer):
        for key in ('best_epoch', 'best_validation_error', 'test_error_at_best',
                    'final_test_error'):
            setattr(self, key, serializer(key, getattr(self, key)))


class Throughput(extension.Extension):
    """Reports ``images_per_s`` for the epoch, timed over updates only."""

    trigger = 1, 'epoch'
    priority = extension.PRIORITY_EDITOR

    def __init__(self):
        self._last = (0.0, 0)

    def __call__(self, trainer):
        updater = trainer.updater
        seconds = updater.train_seconds - self._last[0]
        images = updater.images_seen - self._last[1]
        self._last = (updater.train_seconds, updater.images_seen)
        if seconds > 0:
            chainer.report({'images_per_s': images / seconds})

    def serialize(self, serializer):
        self._last = (float(serializer('seconds', self._last[0])),
                      int(serializer('images', self._last[1])))


class ParamsFinite(extension.Extension):
    """Stops the run before the epoch's snapshot if any parameter is NaN/inf."""

    trigger = 1, 'epoch'
    priority = extension.PRIORITY_EDITOR

    def __init__(self, model):
        self._model = model

    def __call__(self, trainer):
        for name, param in self._model.namedparams():
            if param.array is not None and not bool(param.xp.isfinite(param.array).all()):
                raise TrainingDiverged('non-finite parameter ' + name,
                                       trainer.updater.epoch, trainer.updater.iteration)


class TrainingInterrupted(Exception):
    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class InterruptGuard(extension.Extension):
    """On SIGINT/SIGTERM: finish the iteration, write the snapshot, stop.

    The handlers only set a flag, so the snapshot is always taken between
    iterations (a consistent state); a second signal restores the default
    behaviour, so pressing Ctrl-C twice still quits at once.
    """

    trigger = 1, 'iteration'
    priority = -200  # after the per-epoch snapshot and every reader

    def __init__(self):
        self.signum = None
        self._previous = {}

    def _handle(self, signum, frame):
        self.signum = signum
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def install(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def __call__(self, trainer):
        if self.signum is not None:
            write_snapshot(trainer)
            raise TrainingInterrupted(self.signum)
