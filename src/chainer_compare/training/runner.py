"""One training run from parsed flags: data, model, trainer, run directory.

:func:`train` is what ``src/train.py`` calls.  It fails fast on a bad device
or dataset (before creating the run directory), writes ``args`` and
``metadata.json`` at the start, runs Chainer's Trainer, and writes the final
model, ``summary.json`` and one summary line at the end -- also when the loss
diverges (status ``nan``, exit 3, last good snapshot kept) or a signal stops
the run (status ``interrupted``, snapshot written, exit 128 + signal).
"""
import os
import sys

import chainer
import numpy

from chainer_compare.errors import UserError
from chainer_compare import device as device_module
from chainer_compare.training import metadata, rundir, split
from chainer_compare.training.build import build_trainer
from chainer_compare.training.distribution import SingleProcess
from chainer_compare.training.extensions import (SNAPSHOT, TrainingInterrupted,
                                                 save_model)
from chainer_compare.training.divergence import TrainingDiverged

EXIT_DIVERGED = 3


def train(args, dist=None):
    """Run the training ``args`` describe; returns the exit status.

    ``dist``: how the run is spread over processes (``src/train.py`` passes
    ``chainer_compare.parallel.MultiRank`` for ``--communicator``); default one process.
    """
    dist = dist or SingleProcess()
    with dist.guard():
        return _train(args, dist)


def _say(root, *parts):
    if root:
        print(*parts, flush=True)


def _prepare_run_dir(args, data, split_info, dist):
    """(run_dir, metadata dict): a new directory, or the resumed one."""
    if args.resume:
        meta = metadata.mark_resumed(rundir.read_json(os.path.join(args.run_dir, rundir.METADATA)))
        meta['device'] = device_module.describe(args.gpu)
        return args.run_dir, meta
    run_dir = dist.broadcast(rundir.create_run_dir(args.out, args.prefix) if dist.is_root
                             else None)
    meta = metadata.start_metadata(args, data, split_info, dist.describe())
    if dist.is_root:
        rundir.write_args(run_dir, args)
    return run_dir, meta


def _optimizer_text(args):
    """'adam lr 0.001' (and whether that is the model's recipe or the flags')."""
    given = args.resume or {'optimizer', 'lr', 'alpha'} & set(getattr(args, 'explicit', ()))
    return '{} lr {}{}'.format(args.optimizer, 'none' if args.lr is None else '{:g}'.format(args.lr),
                               '' if given else " (the model's default)")


def _run(trainer, guard):
    """Run the trainer; returns (status, exception or None)."""
    guard.install()
    try:
        # An exploding loss overflows float32 on its way to the divergence
        # check, which reports it in one line: NumPy's warnings would only be noise.
        with numpy.errstate(over='ignore', invalid='ignore'):
            trainer.run(show_loop_exception_msg=False)
        return 'finished', None
    except TrainingDiverged as e:
        return 'nan', e
    except TrainingInterrupted as e:
        return 'interrupted', e
    finally:
        guard.restore()


def _summary(status, trainer, parts, use_validation):
    best, updater = parts['best'], parts['updater']
    return {
        'status': status,
        'best_epoch': best.best_epoch,
        'best_validation_error': best.best_validation_error if use_validation else None,
        'test_error_at_best': best.test_error_at_best,
        'final_test_error': best.final_test_error,
        'no_valid_data': not use_validation,
        'epochs': updater.epoch,
        'iterations': updater.iteration,
        'wall_time_s': trainer.elapsed_time,
        'train_time_s': updater.train_seconds,
        'images_per_s': updater.images_per_second,
    }


def _pct(value):
    return '{:.2f}%'.format(100 * value) if value == value and value is not None else 'n/a'


def summary_line(name, s, device_name):
    if not s['best_epoch']:
        return ('{}: {} after {} iterations, before the first epoch ended; {:.0f} images/s '
                'on {}'.format(name, s['status'], s['iterations'], s['images_per_s'], device_name))
    if s['no_valid_data']:
        where = 'no validation split, last epoch {}'.format(s['best_epoch'])
    else:
        where = 'best validation epoch {} (validation {})'.format(
            s['best_epoch'], _pct(s['best_validation_error']))
    return ('{}: {} after {} epochs: test error {} at {}, {} at the last epoch; '
            '{:.0f} images/s on {}'.format(
                name, s['status'], s['epochs'], _pct(s['test_error_at_best']), where,
                _pct(s['final_test_error']), s['images_per_s'], device_name))


def _train(args, dist):
    from chainer_compare.data import load_prepared
    from chainer_compare.models import create_model

    root = dist.is_root
    device = device_module.get_device(dist.select_gpu(args.gpu))
    chainer.global_config.fast_cpu = bool(args.fast_cpu)
    if not os.path.exists(args.dataset):
        raise UserError('-d/--dataset {}: no such file or directory; prepare the data with '
                        'python src/dataset.py, or give a prepared pickle or dataset '
                        'directory'.format(args.dataset))
    # Rank 0 reads the files, the other ranks (if any) receive the arrays.
    data = dist.broadcast(load_prepared(args.dataset) if root else None)
    split.check_statistics_fit(data, not args.no_valid_data)
    train_set, valid_set, test_set, split_info = split.make_datasets(
        data, not args.no_valid_data, args.train_size)
    split_info['statistics_fit_on'] = data.manifest['fit_on']
    # The model before the run directory: a model that cannot take this data
    # (UserError) leaves nothing behind.
    numpy.random.seed(args.seed)  # the initial weights depend on --seed only
    c, h = data.train_x.shape[1:3]
    model = create_model(args.model, in_channels=int(c), image_size=int(h),
                         n_classes=len(data.class_names), res_depth=args.res_depth,
                         res_width=args.res_width, skip_depth=args.skip_depth,
                         swapout=args.swapout)
    run_dir, meta = _prepare_run_dir(args, data, split_info, dist)
    dev = meta['device']
    _say(root, '{} {} ({}) with {} on {}; cuDNN {}; {} train / {} validation / {} test images; '
         'run directory {}'.format('resuming' if args.resume else 'training', args.model,
                                  '{}/{}'.format(data.dataset, data.preprocessing),
                                  _optimizer_text(args), dev['device'],
                              'in use' if dev['cudnn_in_use'] else 'not in use',
                              len(train_set), len(valid_set) if valid_set else 0,
                              len(test_set), run_dir))
    trainer, parts = build_trainer(args, model, (train_set, valid_set, test_set), device,
                                   run_dir, dist)
    if args.resume:  # a bad snapshot stops here, before metadata.json is touched
        dist.load_snapshot(trainer, args.resume)
    if root:
        rundir.write_json(os.path.join(run_dir, rundir.METADATA), meta)

    status, error = _run(trainer, parts['guard'])
    summary = _summary(status, trainer, parts, valid_set is not None)
    summary['images_per_s'] *= dist.size  # every rank trains on as many images as rank 0
    if root:
        if status == 'finished':
            save_model(model, os.path.join(run_dir, rundir.MODEL_FINAL))
        rundir.write_json(os.path.join(run_dir, rundir.SUMMARY), summary)
        metadata.finish_metadata(meta, summary['wall_time_s'], summary['images_per_s'], status)
        rundir.write_json(os.path.join(run_dir, rundir.METADATA), meta)
        print(summary_line(os.path.basename(run_dir), summary, dev['device']), flush=True)
    snapshot = os.path.join(run_dir, SNAPSHOT)
    if status == 'nan':
        print('train.py: error: training diverged: {}; stopped without saving it; the last '
              'good snapshot ({}) is kept; lower --lr (was {}) or add --warmup'.format(
                  error, snapshot if os.path.exists(snapshot) else 'none yet', args.lr),
              file=sys.stderr)
        return EXIT_DIVERGED
    if status == 'interrupted':
        print('train.py: stopped by {}; snapshot written; continue with: python src/train.py '
              '--resume {}'.format(error, run_dir), file=sys.stderr)
        return 128 + error.signum
    return 0
