"""Assemble Chainer's Trainer for a run: iterators, updater, evaluators, reports.

Everything here is Chainer's own machinery (SerialIterator, StandardUpdater,
Evaluator, LogReport, PrintReport, ProgressBar, PlotReport, snapshot,
observe_value) plus the few extensions in :mod:`.extensions`.  ``dist`` is the
run's :class:`~.distribution.SingleProcess` (or the multi-rank subclass that
``chainer_compare.parallel`` provides): every multi-process difference goes
through it, so nothing here knows about MPI.
"""
import os
import sys

import chainer
import numpy
from chainer.training import extensions as E

from chainer_compare.training import augment, optimizers, rundir, schedules
from chainer_compare.training import extensions as X
from chainer_compare.training.distribution import SingleProcess
from chainer_compare.training.updater import classifier

PRINT_KEYS = ['epoch', 'main/loss', 'main/error', 'validation/main/error',
              'test/main/error', 'lr', 'images_per_s', 'elapsed_time']


def random_states(seed, dist=SingleProcess()):
    """Seed NumPy's global RNG; return the augmentation and shuffle RandomStates.

    Under MPI each rank gets its own streams (different data order, dropout
    masks and augmentations per rank).
    """
    seed = dist.rank_seed(seed)
    numpy.random.seed(seed)
    return {'augment': numpy.random.RandomState([seed, 1]),
            'shuffle': numpy.random.RandomState([seed, 2])}


def make_optimizer(args, model, dist=SingleProcess()):
    optimizer = dist.wrap_optimizer(optimizers.create_optimizer(
        args.optimizer, lr=args.lr, weight_decay=args.weight_decay))
    optimizers.setup_optimizer(optimizer, model)
    dist.start_from_same_weights(optimizer, model)
    return optimizer


def _lr_extensions(args, optimizer):
    attr = optimizers.lr_attribute(optimizer)
    if attr is None:  # adadelta: no learning rate to log or schedule
        return []
    schedule = schedules.LearningRateSchedule(
        attr, args.lr, shape=args.lr_shape,
        decay_epochs=schedules.parse_decay(args.lr_decay_iter, args.iter),
        warmup_epochs=args.warmup, total_epochs=args.iter)
    # observe_value, not observe_lr: observe_lr reads ``optimizer.lr``, which for
    # Adam is the bias-corrected step size, not the alpha the schedule sets.
    return [schedule, E.observe_value('lr', lambda trainer: getattr(optimizer, attr))]


def _evaluator(dataset, target, device, batch_size, dist):
    it = chainer.iterators.SerialIterator(dataset, batch_size, repeat=False, shuffle=False)
    return dist.wrap_evaluator(E.Evaluator(it, target, device=device))


def _report_extensions(trainer, use_validation):
    splits = ['main', 'test'] + (['validation'] if use_validation else [])
    keys = lambda stat: [s + '/' + stat if s == 'main' else s + '/main/' + stat  # noqa: E731
                         for s in splits]
    trainer.extend(E.LogReport(trigger=(1, 'epoch')))
    trainer.extend(E.PrintReport([k for k in PRINT_KEYS if use_validation or 'validation' not in k]))
    if sys.stdout.isatty():  # a progress bar in a log file is only noise
        trainer.extend(E.ProgressBar(update_interval=10))
    trainer.extend(X.AtomicPlotReport(keys('error'), x_key='epoch', filename='error.png'))
    trainer.extend(X.AtomicPlotReport(keys('loss'), x_key='epoch', filename='loss.png'))


def build_trainer(args, model, datasets, device, run_dir, dist=SingleProcess()):
    """(trainer, parts) for ``model`` on ``datasets`` = (train, validation|None, test).

    ``parts`` holds the pieces the runner reads afterwards: the classifier,
    the updater, the BestModel tracker and the interrupt guard.
    """
    train, valid, test = datasets
    train = dist.scatter(train, shuffle=True, seed=args.seed)
    # Evaluation shares are unequal so that no example counts twice.
    valid = dist.scatter(valid, equal_length=False) if valid is not None else None
    test = dist.scatter(test, equal_length=False)
    rngs = random_states(args.seed, dist)
    target = classifier(model)
    # On the device before the optimizer: ChainerMN broadcasts rank 0's weights
    # from where they live (pure_nccl needs CuPy arrays there).
    target.to_device(device)
    optimizer = make_optimizer(args, target, dist)
    order = chainer.iterators.ShuffleOrderSampler(rngs['shuffle'])
    train_iter = chainer.iterators.SerialIterator(train, args.batch_size, order_sampler=order)
    aug = augment.build_augmentation(augment.parse_augment(args.augment))
    # Under MPI the divergence stop is agreed by all ranks.
    updater = dist.updater_class()(train_iter, optimizer, device, augment=aug,
                                   rng=rngs['augment'])
    trainer = chainer.training.Trainer(updater, (args.iter, 'epoch'), out=run_dir)

    for ext in _lr_extensions(args, optimizer):
        trainer.extend(ext)
    trainer.extend(X.RandomStates(rngs, args.seed, on_gpu=device.xp is not numpy))
    for ext in dist.epoch_extensions(target):  # before evaluation and snapshot
        trainer.extend(ext, trigger=(1, 'epoch'))
    if valid is not None:
        trainer.extend(_evaluator(valid, target, device, args.batch_size, dist), name='validation')
    trainer.extend(_evaluator(test, target, device, args.batch_size, dist), name='test')
    trainer.extend(X.ParamsFinite(model))
    trainer.extend(X.Throughput())
    for ext, name in dist.observation_extensions():
        trainer.extend(ext, name=name)
    best = X.BestModel(model, os.path.join(run_dir, rundir.MODEL_BEST),
                       use_validation=valid is not None, save=dist.is_root)
    trainer.extend(best)
    trainer.extend(dist.snapshot_extension(), trigger=(1, 'epoch'))
    guard = dist.interrupt_guard()  # under MPI it stops all ranks together
    trainer.extend(guard)
    if dist.is_root:
        _report_extensions(trainer, valid is not None)
    return trainer, {'target': target, 'updater': updater, 'best': best, 'guard': guard}
