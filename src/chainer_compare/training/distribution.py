"""How a run is spread over processes: the interface the trainer calls, for one process.

The trainer (:mod:`.build`, :mod:`.runner`, :mod:`.metadata`) never imports
ChainerMN or :mod:`chainer_compare.parallel`: it calls these methods on the
``distribution`` it is given.  :class:`SingleProcess` is the default and
changes nothing; ``chainer_compare.parallel.MultiRank`` subclasses it for
``--communicator`` runs under MPI, and ``src/train.py`` picks which one to
pass.  So the dependency goes one way: parallel -> training.
"""
import contextlib

from chainer.training import extensions as E

from chainer_compare.training import extensions as X
from chainer_compare.training.updater import TrainingUpdater


class SingleProcess(object):
    """One process: every hook is the identity, the plain updater, guard and snapshot."""

    size = 1
    rank = 0
    is_root = True

    def guard(self):
        """Context around the whole run (MPI: an error on one rank stops all)."""
        return contextlib.nullcontext()

    def describe(self):
        """Fields for metadata.json."""
        return {'world_size': 1, 'communicator': None}

    def select_gpu(self, gpu):
        """The GPU id this process trains on for ``-g gpu``."""
        return gpu

    def broadcast(self, value):
        """Rank 0's ``value`` everywhere (e.g. the run directory, the data)."""
        return value

    def rank_seed(self, seed):
        """The seed of this process's shuffle/augmentation/dropout streams."""
        return seed

    def scatter(self, dataset, shuffle=False, seed=0, equal_length=True):
        """This process's share of ``dataset``."""
        return dataset

    def wrap_optimizer(self, optimizer):
        return optimizer

    def start_from_same_weights(self, optimizer, model):
        pass

    def wrap_evaluator(self, evaluator):
        return evaluator

    def updater_class(self):
        return TrainingUpdater

    def interrupt_guard(self):
        return X.InterruptGuard()

    def snapshot_extension(self):
        """The per-epoch snapshot (written atomically, pickle-free)."""
        return E.snapshot(filename=X.SNAPSHOT, writer=X.AtomicWriter())

    def epoch_extensions(self, target):
        """Extensions to run each epoch before evaluation (MPI: average BN statistics)."""
        return []

    def observation_extensions(self):
        """(extension, name) pairs run after the reporters (MPI: global training loss)."""
        return []

    def load_snapshot(self, trainer, path):
        from chainer_compare import npzfile
        npzfile.load_npz(path, trainer)  # pickle-free (never chainer's load_npz)
