"""The flags of ``src/train.py`` (seed 004's names) and their validation.

Every flag keeps the name seed 004's commands use (``-g -m -b -p -d --iter
--lr_decay_iter --optimizer --lr --res_depth --skip_depth``), so its commands
run as written.  Defaults follow seed 004's trainer where it had one (weight
decay 1e-4, 300 epochs, decay every 100 epochs, residual depth 18, seed 1) and
are otherwise chosen to be safe on every model (batch 128, the ``cnn`` model,
crop+flip augmentation).  ``--optimizer`` and ``--lr`` default to the model's
own recipe (``models.default_training``: Adam 0.001 for seed 004's cnn, cnnbn
and vgg, SGD 0.1 for its ResNet, ...); :func:`validate` writes the resolved
values into ``args``, so the run's ``args`` file always names them.

Bad values never reach the trainer: :func:`parse_args` raises
:class:`~chainer_compare.errors.UserError` with one line naming the flag and
listing the valid values.
"""
import argparse
import math
import os

from chainer_compare.errors import ArgumentParser, UserError

DEFAULT_DATASET = os.path.join('dataset', 'image.pkl')

# Flags a resumed run may change; every other flag must match the saved run.
RESUME_MUTABLE = ('gpu', 'iter', 'resume', 'fast_cpu', 'out', 'prefix')


def build_parser():
    p = ArgumentParser(prog='train.py', description=(
        'Train an image classifier with Chainer and write a run directory '
        '(log, args, metadata.json, summary.json, models, snapshot, curves) '
        'under --out/<prefix>.'))
    a = p.add_argument
    a('-g', '--gpu', type=int, default=-1,
      help='GPU id to train on with CuPy; -1 (default) trains on the CPU')
    a('-m', '--model', default='cnn',
      help='model name from the registry (default: cnn); an unknown name lists them')
    a('-b', '--batch_size', type=int, default=128,
      help='minibatch size per process (default: 128); with --communicator under '
           'mpiexec -n N each step trains on N x this (see docs/parallel.md for the '
           'learning-rate rule)')
    a('-d', '--dataset', default=DEFAULT_DATASET,
      help='prepared images: a pickle such as dataset/image_norm_zca.pkl (labels from '
           'label.pkl beside it) or a dataset directory (default: %(default)s)')
    a('-p', '--prefix', default=None,
      help='run name: the run directory is <out>/<prefix> (default: <model>_<optimizer>); '
           'an existing one is never overwritten: <prefix>-2, -3, ... are used')
    a('--iter', '--epoch', dest='iter', type=int, default=300,
      help='number of training epochs (seed 004 calls them --iter; default: 300)')
    a('--optimizer', default=None,
      help="sgd (momentum 0.9), nesterov, adam, rmsprop or adadelta (default: the "
           "model's recipe: adam for cnn/cnnbn/vgg/mnist_cnn, sgd for residual, nesterov "
           "for allconv, rmsprop for elu_cnn, adadelta for keras_mnist_cnn)")
    a('--lr', type=float, default=None,
      help="initial learning rate (Adam's alpha); default: the model's recipe when "
           "--optimizer is the recipe's (e.g. 0.0002 for mnist_cnn's Adam), else the "
           "optimizer's own default (sgd/nesterov 0.1, adam/rmsprop 0.001)")
    a('--alpha', type=float, default=None,
      help='initial alpha for --optimizer adam (seed 004 name; same as --lr)')
    a('--lr_decay_iter', default='100',
      help='multistep schedule: multiply the learning rate by 0.1 every N epochs ("100") '
           'or at the listed epochs ("150,225") (default: 100)')
    a('--lr_shape', default='multistep',
      help='learning-rate shape: multistep (seed 004) or cosine (default: multistep)')
    a('--warmup', type=float, default=0.0,
      help='epochs of linear learning-rate warmup from 0 (default: 0)')
    a('--weight_decay', type=float, default=1e-4,
      help='L2 weight decay applied as an optimizer hook; 0 disables it (default: 1e-4)')
    a('--augment', default='crop,flip',
      help='training augmentations, comma separated, e.g. crop,flip,cutout; '
           '"none" disables them (default: crop,flip as in seed 004)')
    a('--res_depth', type=int, default=18,
      help='residual blocks per stage for residual models (12 gives the 74-layer net; default: 18)')
    a('--res_width', type=int, default=1,
      help='channel multiplier for residual models: stages of 16/32/64 x N '
           'channels (default: 1, seed 004\'s ResNet)')
    a('--skip_depth', action='store_true',
      help='stochastic depth for residual models: skip probability rising linearly to 0.5')
    a('--swapout', action='store_true', help='swapout in residual blocks (experimental in seed 004)')
    a('--seed', type=int, default=1,
      help='random seed for weights, shuffling, augmentation and dropout (default: 1); '
           'the validation split does not depend on it')
    a('--no_valid_data', action='store_true',
      help='train on the whole training set with no validation split; the best epoch '
           'is then the last epoch (recorded in metadata.json and summary.json)')
    a('--train_size', type=int, default=None, metavar='N',
      help='train on a fixed random subset of N training images (the same subset for '
           'every run of a dataset; validation and test sets are unchanged) for quick '
           'comparisons such as make demo (default: all)')
    a('--resume', nargs='?', const=True, default=None, metavar='RUN_DIR',
      help='continue an interrupted run from its snapshot: give its directory '
           '(results/cnn) or use -p to name it; only -g, --iter and --no_fast_cpu may change')
    a('--out', default='results', help='directory that holds run directories (default: results)')
    a('--no_fast_cpu', dest='fast_cpu', action='store_false',
      help="use Chainer's own CPU convolution/pooling instead of the fast NumPy path")
    a('--communicator', default=None,
      help='data-parallel training over MPI with this ChainerMN communicator (start '
           'with mpiexec -n N): naive for CPU ranks (-g -1); pure_nccl, flat or '
           'non_cuda_aware with one GPU per rank (-g 0: each rank takes the GPU of its '
           'rank within the node); hierarchical = pure_nccl. Default: single process')
    return p


def _check_choice(flag, value, valid):
    if value not in valid:
        raise UserError('{} {!r} is not known; valid values: {}'.format(
            flag, value, ', '.join(sorted(valid))))


def _check_positive(flag, value, allow_zero=False):
    ok = value is not None and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise UserError('{} must be {} (got {})'.format(
            flag, 'zero or positive' if allow_zero else 'positive', value))


def validate(args):
    """Check every value; resolve --alpha and --augment. Returns ``args``."""
    from chainer_compare.models import default_training, list_models
    from chainer_compare.training import augment, optimizers, schedules

    _check_choice('--model', args.model, list_models())
    recipe_optimizer, recipe_lr = default_training(args.model)
    if args.optimizer is None:
        args.optimizer = recipe_optimizer
    _check_choice('--optimizer', args.optimizer, optimizers.OPTIMIZERS)
    _check_choice('--lr_shape', args.lr_shape, ('multistep', 'cosine'))
    _check_positive('--batch_size', args.batch_size)
    _check_positive('--iter', args.iter)
    if args.train_size is not None:
        _check_positive('--train_size', args.train_size)
    _check_positive('--warmup', args.warmup, allow_zero=True)
    _check_positive('--weight_decay', args.weight_decay, allow_zero=True)
    _check_positive('--res_depth', args.res_depth)
    _check_positive('--res_width', args.res_width)
    if args.alpha is not None:
        if args.optimizer != 'adam':
            raise UserError('--alpha is the Adam learning rate; use --lr with '
                            '--optimizer {}'.format(args.optimizer))
        if args.lr is not None and args.lr != args.alpha:
            raise UserError('--lr {} and --alpha {} disagree; give one of them'.format(
                args.lr, args.alpha))
        args.lr, args.alpha = args.alpha, None
    if args.lr is not None:
        _check_positive('--lr', args.lr)
    optimizers.create_optimizer(args.optimizer, lr=args.lr, weight_decay=args.weight_decay)
    if args.lr is None:  # the recipe's rate belongs to the recipe's optimizer only
        args.lr = (recipe_lr if args.optimizer == recipe_optimizer and recipe_lr is not None
                   else optimizers.default_lr(args.optimizer))  # None for adadelta
    augment.parse_augment(args.augment)  # raises UserError listing valid names
    schedules.parse_decay(args.lr_decay_iter, args.iter)
    if args.prefix is None:
        args.prefix = '{}_{}'.format(args.model, args.optimizer)
    if not args.prefix or os.sep in args.prefix or args.prefix in ('.', '..'):
        raise UserError('-p/--prefix {!r} must be a plain name (no "{}")'.format(args.prefix, os.sep))
    return args


def explicit_flags(argv):
    """The dests of the flags actually given in ``argv`` (for --resume checks)."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def parse_args(argv=None):
    """Parse and validate ``argv``; the namespace has ``explicit`` added."""
    args = build_parser().parse_args(argv)
    args.explicit = sorted(explicit_flags(argv))
    if args.resume is None:
        validate(args)
    return args
