"""When a run counts as diverged: the rule, and the exception that stops it.

A training batch's loss diverges when it is NaN or infinite, or when it
exceeds :data:`FACTOR` times the reference ``max(log(n_classes), loss of the
run's first batch)``.  ``log(n_classes)`` is the loss of a uniform guess; the
first batch's loss raises the bar for inputs that start out far from it
(unscaled pixels).  A run that trains stays well below 100 times either; one
that blows up (SGD 0.1 on 0-255 pixels: 1e10 after two updates) crosses it
long before it reaches NaN, which can take many iterations or never happen.

The check runs on the loss *before* ``backward``/``update``, so the weights
and the last snapshot never hold the exploded step.  The run then stops like
a NaN loss: status ``nan``, exit status 3.
"""
import math

FACTOR = 100.0


class TrainingDiverged(Exception):
    """The loss (or a parameter) became non-finite or exploded."""

    def __init__(self, what, epoch, iteration):
        super().__init__('{} at epoch {}, iteration {}'.format(what, epoch, iteration))
        self.what, self.epoch, self.iteration = what, epoch, iteration


class LossWatch(object):
    """Applies the divergence rule to each training batch's loss; serializable."""

    def __init__(self):
        self.reference = None  # set by the first batch

    def check(self, value, n_classes, epoch, iteration):
        """Raise :class:`TrainingDiverged` if ``value`` breaks the rule."""
        if not math.isfinite(value):
            raise TrainingDiverged('loss is {}'.format(value), epoch, iteration)
        if self.reference is None:
            self.reference = max(math.log(max(n_classes, 2)), value)
            return
        if value > FACTOR * self.reference:
            raise TrainingDiverged(
                'loss {:.3g} exceeds {:g} x {:.3g} (the larger of log(classes) and the first '
                "batch's loss)".format(value, FACTOR, self.reference), epoch, iteration)

    def serialize(self, serializer):
        # -1 stands for "not set yet" (a None would be a pickled object array).
        # Snapshots from before the rule lack the key: the next batch sets it.
        try:
            stored = float(serializer('loss_reference', -1.0 if self.reference is None
                                      else self.reference))
        except KeyError:
            stored = -1.0
        self.reference = None if stored < 0 else stored
