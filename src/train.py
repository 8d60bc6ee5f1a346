#!/usr/bin/env python
"""Train an image classifier with Chainer: ``python src/train.py -g -1 -m cnn -p cnn``.

Flags keep seed 004's names (-g -m -b -p -d --iter --lr_decay_iter --optimizer
--lr --res_depth --skip_depth ...); ``--help`` lists them all.  Every run writes
a directory under results/ (log, args, metadata.json, summary.json, model_best.npz,
model_final.npz, snapshot, error.png, loss.png); ``--resume results/<run>``
continues an interrupted one.  See docs/training.md.
"""
import os
import sys

try:
    import chainer_compare  # noqa: F401  (installed with pip install -e .)
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chainer_compare.compat  # noqa: E402,F401  (before chainer)
from chainer_compare.errors import run_cli  # noqa: E402


def main(argv=None):
    from chainer_compare.training import config, resume, runner
    args = config.parse_args(argv)
    if args.resume:
        args = resume.resumed_args(args)
    dist = None  # one process
    if args.communicator:  # ChainerMN plugs into the trainer's distribution interface
        from chainer_compare.parallel import MultiRank
        dist = MultiRank.create(args.communicator, args.gpu)
    return runner.train(args, dist)


if __name__ == '__main__':
    run_cli(main)
