"""``--resume``: find the interrupted run and restore its flags.

``train.py --resume results/cnn`` (or ``-p cnn --resume``) continues the run
in that directory from its ``snapshot``: model, optimizer state, epoch and
iteration, iterator order and position, log, best-model record and every RNG
state come from the snapshot (see :mod:`.extensions`), and the flags come
from the run's own ``args`` file, so the continuation is the same training.
Only -g, --iter (to extend a finished run), --no_fast_cpu and --out may be
given anew; any other flag that differs from the saved run is an error
rather than being silently ignored.
"""
import argparse
import os

from chainer_compare.errors import UserError
from chainer_compare.training import config, extensions, rundir


def locate(args):
    """The run directory ``args.resume`` refers to."""
    if isinstance(args.resume, str):
        path = args.resume
        if os.path.isfile(path):
            path = os.path.dirname(path) or '.'
    else:
        from chainer_compare.models import default_training
        optimizer = args.optimizer or default_training(args.model)[0]
        prefix = args.prefix or '{}_{}'.format(args.model, optimizer)
        path = os.path.join(args.out, prefix)
    if not os.path.isdir(path):
        raise UserError('--resume {}: no such run directory; give the directory of the '
                        'run to continue, e.g. --resume results/cnn'.format(path))
    if not os.path.isfile(os.path.join(path, extensions.SNAPSHOT)):
        raise UserError('--resume {}: it has no snapshot yet (the run stopped before '
                        'its first epoch ended); start it again instead'.format(path))
    return path


def resumed_args(args):
    """The saved run's flags, with the few allowed overrides; validated."""
    run_dir = locate(args)
    saved = rundir.read_json(os.path.join(run_dir, rundir.ARGS))
    given = vars(args)
    for name in args.explicit:
        if name in config.RESUME_MUTABLE:
            continue
        key = 'lr' if name == 'alpha' else name
        if key in saved and saved[key] != given[name]:
            raise UserError('--{} {} differs from the resumed run ({}); a resumed run keeps '
                            'its settings: start a new run (another -p) to change it'
                            .format(name, given[name], saved[key]))
    if ('iter' in args.explicit and saved.get('lr_shape') == 'cosine'
            and given['iter'] != saved.get('iter')):
        # The cosine curve is drawn over --iter epochs: another length would bend
        # the rest of the run onto a different curve than its first part.
        raise UserError('--iter {} differs from the resumed run ({}) and its --lr_shape is '
                        'cosine, whose curve depends on --iter; start a new run to train '
                        'longer with cosine'.format(given['iter'], saved.get('iter')))
    merged = argparse.Namespace(**dict(vars(config.build_parser().parse_args([])), **saved))
    for name in ('gpu', 'iter', 'fast_cpu'):
        if name in args.explicit:
            setattr(merged, name, given[name])
    merged.explicit = args.explicit
    merged.resume = os.path.join(run_dir, extensions.SNAPSHOT)
    merged.run_dir = run_dir
    merged.prefix = os.path.basename(os.path.normpath(run_dir))
    merged.out = os.path.dirname(os.path.normpath(run_dir))
    return config.validate(merged)
