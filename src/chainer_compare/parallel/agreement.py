"""Stop decisions every rank takes together: a diverged loss, an interrupt signal.

A single-process run stops itself when the loss diverges or on SIGINT/SIGTERM.
With several ranks, a rank that stopped alone would leave the others waiting
in the gradient allreduce forever, so each such check is agreed on with one
small MPI allreduce per iteration: if any rank's loss diverges, every rank
stops with status ``nan``; if any rank got a signal, every rank takes part in
the snapshot (rank 0 writes it) and stops with status ``interrupted``.
"""
from chainer_compare.parallel.snapshot import MultiRankSnapshot
from chainer_compare.training.divergence import TrainingDiverged
from chainer_compare.training.extensions import SNAPSHOT, InterruptGuard, TrainingInterrupted
from chainer_compare.training.updater import TrainingUpdater


def _any_rank(comm, value):
    """The largest ``value`` over all ranks (0/False when none set it)."""
    from mpi4py import MPI
    return comm.mpi_comm.allreduce(value, op=MPI.MAX)


def updater_class(comm):
    """``TrainingUpdater`` whose divergence check holds on all ranks at once."""
    class MultiRankUpdater(TrainingUpdater):
        def _checked_loss(self, x, t):
            try:
                loss, diverged = super()._checked_loss(x, t), None
            except TrainingDiverged as e:
                loss, diverged = None, e
            if _any_rank(comm, diverged is not None):
                raise diverged or TrainingDiverged(
                    'the loss diverged on another rank', self.epoch, self.iteration + 1)
            return loss

    return MultiRankUpdater


def interrupt_guard(comm):
    """``InterruptGuard`` that stops all ranks together after a collective snapshot."""
    class MultiRankInterruptGuard(InterruptGuard):
        def __call__(self, trainer):
            signum = _any_rank(comm, self.signum or 0)
            if signum:
                MultiRankSnapshot(comm, SNAPSHOT)(trainer)
                raise TrainingInterrupted(signum)

    return MultiRankInterruptGuard()
