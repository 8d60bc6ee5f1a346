"""Learning-rate schedules: a pure function of the epoch, and its extension.

:func:`learning_rate_at` maps a fractional epoch (``updater.epoch_detail``)
to a learning rate; :class:`LearningRateSchedule` sets it on the optimizer
before every update.  Because the rate depends on nothing but the epoch, a
resumed run (whose snapshot restores the epoch) gets the same rates with no
extra state.

Shapes (``--lr_shape``):

* ``multistep`` (seed 004): ``base_lr * decay_factor ** k`` where ``k`` is the
  number of ``decay_epochs`` already reached (``epoch >= d``).
* ``cosine``: half a cosine from ``base_lr`` at the end of warmup to 0 at
  ``total_epochs``.

Warmup (``--warmup E``, both shapes): over the first E epochs the rate is
multiplied by ``(epoch + 1/iterations_per_epoch) / E``, i.e. update number j
(counting from 0) of the ``n = E * iterations_per_epoch`` warmup updates uses
``base_lr * (j + 1) / n``: a linear ramp from ``base_lr / n`` to ``base_lr``.
"""
import math

import chainer_compare.compat  # noqa: F401  (before chainer)
from chainer.training import extension

from chainer_compare.errors import UserError

SHAPES = ('multistep', 'cosine')


def learning_rate_at(epoch, base_lr, shape='multistep', decay_epochs=(),
                     decay_factor=0.1, warmup_epochs=0.0, total_epochs=None,
                     iterations_per_epoch=None):
    """The learning rate for an update starting at fractional ``epoch``.

    ``iterations_per_epoch`` only sets where the warmup ramp starts (one
    update's worth above 0); without it the ramp starts at 0.
    """
    if shape == 'multistep':
        steps = sum(1 for d in decay_epochs if epoch >= d)
        lr = base_lr * decay_factor ** steps
    elif shape == 'cosine':
        if total_epochs is None:
            raise ValueError('the cosine schedule needs total_epochs')
        if total_epochs <= warmup_epochs:
            raise UserError('--warmup {} must be shorter than --iter {} for '
                            '--lr_shape cosine'.format(warmup_epochs,
                                                       total_epochs))
        progress = (epoch - warmup_epochs) / float(total_epochs - warmup_epochs)
        progress = min(max(progress, 0.0), 1.0)
        lr = base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise ValueError('unknown schedule shape {!r}; valid: {}'
                         .format(shape, ', '.join(SHAPES)))
    if warmup_epochs and epoch < warmup_epochs:
        step = 1.0 / iterations_per_epoch if iterations_per_epoch else 0.0
        lr *= min(1.0, (epoch + step) / float(warmup_epochs))
    return lr


def parse_decay(spec, total_epochs):
    """``--lr_decay_iter`` -> the epochs at which the rate is multiplied.

    One number N means every N epochs before the end: ``'100'`` with 300
    epochs -> ``(100, 200)``.  A comma list gives the epochs themselves:
    ``'150,225'`` -> ``(150, 225)``; they must increase and lie below
    ``total_epochs``.  ``None``, ``''`` or ``'none'`` -> ``()``.
    """
    if spec is None or str(spec).strip().lower() in ('', 'none'):
        return ()
    flag = '--lr_decay_iter'
    parts = [p.strip() for p in str(spec).split(',')]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UserError('{} {!r}: expected a number of epochs (decay every N '
                        'epochs) or a comma list of epochs such as 150,225'
                        .format(flag, spec))
    if any(not (v > 0) or math.isinf(v) for v in values):
        raise UserError('{} {!r}: epochs must be positive (use "none" for no '
                        'decay)'.format(flag, spec))
    values = [int(v) if v == int(v) else v for v in values]
    if len(values) == 1:
        every = values[0]
        if total_epochs is None:
            raise ValueError('parse_decay needs total_epochs for "every N"')
        count = int(math.ceil(total_epochs / float(every))) - 1
        return tuple(every * k for k in range(1, count + 1))
    if any(b <= a for a, b in zip(values, values[1:])):
        raise UserError('{} {!r}: the epochs must increase'.format(flag, spec))
    if total_epochs is not None and values[-1] >= total_epochs:
        raise UserError('{} {!r}: epoch {} is not below --iter {} (it would '
                        'never take effect)'.format(flag, spec, values[-1],
                                                    total_epochs))
    return tuple(values)


def _iterations_per_epoch(updater):
    iterator = updater.get_iterator('main')
    try:
        return len(iterator.dataset) / float(iterator.batch_size)
    except (AttributeError, TypeError):
        return None


class LearningRateSchedule(extension.Extension):
    """Set ``optimizer.<attr>`` to :func:`learning_rate_at` every iteration.

    It runs once before training (``initialize``, also after a resume) and
    then after every update, each time setting the rate for the next update
    from ``updater.epoch_detail``.  Its priority (PRIORITY_EDITOR, 200) puts
    it after ``observe_lr`` (PRIORITY_WRITER, 300) and before ``LogReport``
    (PRIORITY_READER, 100), so the ``lr`` logged for an epoch is the one its
    last update used.  ``attr`` is :func:`optimizers.lr_attribute`'s answer
    ('lr' or 'alpha'); the trainer adds no schedule when it is None.
    """

    trigger = (1, 'iteration')
    priority = extension.PRIORITY_EDITOR
    name = 'LearningRateSchedule'

    def __init__(self, attr, base_lr, shape='multistep', decay_epochs=(),
                 decay_factor=0.1, warmup_epochs=0.0, total_epochs=None,
                 iterations_per_epoch=None, optimizer=None):
        if not attr:
            raise ValueError('LearningRateSchedule needs an attribute name '
                             '(this optimizer has no learning rate)')
        self.attr = attr
        self.base_lr = base_lr
        self.kwargs = dict(shape=shape, decay_epochs=tuple(decay_epochs),
                           decay_factor=decay_factor,
                           warmup_epochs=warmup_epochs,
                           total_epochs=total_epochs)
        self.iterations_per_epoch = iterations_per_epoch
        self._optimizer = optimizer
        # Fail now, not at the first iteration, on a bad shape or total.
        learning_rate_at(0.0, base_lr, **self.kwargs)

    def _apply(self, trainer):
        updater = trainer.updater
        if self.iterations_per_epoch is None:
            self.iterations_per_epoch = _iterations_per_epoch(updater)
        lr = learning_rate_at(updater.epoch_detail, self.base_lr,
                              iterations_per_epoch=self.iterations_per_epoch,
                              **self.kwargs)
        optimizer = self._optimizer or updater.get_optimizer('main')
        setattr(optimizer, self.attr, lr)

    def initialize(self, trainer):
        self._apply(trainer)

    def __call__(self, trainer):
        self._apply(trainer)

    def serialize(self, serializer):
        """Nothing to save: the rate is a function of the restored epoch."""
