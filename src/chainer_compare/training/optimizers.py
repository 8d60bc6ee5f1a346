"""The optimizers ``train.py --optimizer`` offers, and their defaults.

=========  ==============================  ===========  =====================
name       Chainer class                   default lr   learning-rate attr
=========  ==============================  ===========  =====================
sgd        MomentumSGD(momentum=0.9)       0.1          ``lr``
nesterov   NesterovAG(momentum=0.9)        0.1          ``lr``
adam       Adam(alpha=lr)                  0.001        ``alpha``
rmsprop    RMSprop(alpha=0.9, eps=1e-7)    0.001        ``lr``
adadelta   AdaDelta()                      (none)       (none)
=========  ==============================  ===========  =====================

0.1 with momentum 0.9 is what seed 004 uses for the residual net (and seed
000 with Nesterov); 0.001 is Adam's standard step and seed 001's RMSprop
(Keras: rho 0.9, epsilon 1e-7, mirrored here).  AdaDelta has no learning
rate: passing ``lr`` for it is a UserError (the CLI's ``--lr`` must be left
out), :func:`lr_attribute` returns None for it and the trainer adds no
learning-rate schedule.  Weight decay is Chainer's ``WeightDecay`` hook
(L2, ``grad += rate * param``), added by :func:`setup_optimizer`.
"""
import chainer_compare.compat  # noqa: F401  (before chainer)
from chainer import optimizer_hooks
from chainer import optimizers

from chainer_compare.errors import UserError

OPTIMIZERS = ('sgd', 'nesterov', 'adam', 'rmsprop', 'adadelta')

_DEFAULT_LR = {'sgd': 0.1, 'nesterov': 0.1, 'adam': 0.001, 'rmsprop': 0.001,
               'adadelta': None}


def _check_name(name):
    if name not in OPTIMIZERS:
        raise UserError('--optimizer: unknown optimizer {!r}; valid values are '
                        '{}'.format(name, ', '.join(OPTIMIZERS)))


def default_lr(name):
    """The learning rate used when ``--lr`` is not given (None: adadelta)."""
    _check_name(name)
    return _DEFAULT_LR[name]


def _check_nonnegative(value, flag):
    try:
        ok = float(value) >= 0  # NaN fails too
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UserError('{} must be a number >= 0, got {!r}'.format(flag, value))
    return float(value)


def create_optimizer(name, lr=None, momentum=0.9, weight_decay=0.0):
    """A new, not yet set-up Chainer optimizer for ``--optimizer name``.

    ``lr=None`` takes :func:`default_lr`.  ``momentum`` applies to sgd and
    nesterov only.  ``weight_decay`` is validated and remembered on the
    optimizer as ``weight_decay_rate``; :func:`setup_optimizer` adds the hook.
    """
    _check_name(name)
    weight_decay = _check_nonnegative(weight_decay, '--weight_decay')
    if name == 'adadelta':
        if lr is not None:
            raise UserError('--lr does not apply to --optimizer adadelta (it '
                            'has no learning rate); leave --lr out')
        optimizer = optimizers.AdaDelta()
    else:
        lr = _DEFAULT_LR[name] if lr is None else _check_nonnegative(lr, '--lr')
        if name == 'sgd':
            optimizer = optimizers.MomentumSGD(lr=lr, momentum=momentum)
        elif name == 'nesterov':
            optimizer = optimizers.NesterovAG(lr=lr, momentum=momentum)
        elif name == 'adam':
            optimizer = optimizers.Adam(alpha=lr)
        else:
            optimizer = optimizers.RMSprop(lr=lr, alpha=0.9, eps=1e-7)
    optimizer.weight_decay_rate = weight_decay
    return optimizer


def lr_attribute(optimizer):
    """The hyperparameter a schedule drives: 'alpha' (Adam), None (AdaDelta), else 'lr'.

    Adam's ``lr`` is a read-only bias-corrected value derived from ``alpha``.
    """
    optimizer = getattr(optimizer, 'actual_optimizer', optimizer)  # ChainerMN's wrapper
    if isinstance(optimizer, optimizers.Adam):
        return 'alpha'
    if isinstance(optimizer, optimizers.AdaDelta):
        return None
    return 'lr'


def setup_optimizer(optimizer, model, weight_decay=None):
    """``optimizer.setup(model)`` plus a WeightDecay hook when the rate is > 0.

    ``weight_decay=None`` uses the rate given to :func:`create_optimizer`.
    Returns the optimizer.
    """
    if weight_decay is None:
        weight_decay = getattr(optimizer, 'weight_decay_rate', 0.0)
    weight_decay = _check_nonnegative(weight_decay, '--weight_decay')
    optimizer.setup(model)
    if weight_decay > 0:
        optimizer.add_hook(optimizer_hooks.WeightDecay(weight_decay))
    return optimizer


__all__ = ['OPTIMIZERS', 'create_optimizer', 'default_lr', 'lr_attribute',
           'setup_optimizer']
