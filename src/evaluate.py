#!/usr/bin/env python
"""Evaluate a trained run on its dataset's test split.

    python src/evaluate.py results/cnnbn

Prints the overall and per-class test error and writes evaluation.json,
per_class.md, confusion.png and mistakes.png (the most confident mistakes with
true and predicted class names) into <run>/evaluation/ (or --out).  The run's
own files are only read.
"""
import os
import sys

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chainer_compare.compat  # noqa: E402,F401  (before anything imports chainer)
from chainer_compare.errors import ArgumentParser, run_cli  # noqa: E402


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('run_dir', help='run directory written by src/train.py')
    parser.add_argument('--out', default=None,
                        help='output directory (default: <run_dir>/evaluation)')
    parser.add_argument('--dataset', default=None,
                        help="prepared dataset to use instead of the run's -d (same "
                             'preprocessing, e.g. dataset/image_norm_zca.pkl)')
    parser.add_argument('--model-file', default=None,
                        help='weights file in the run dir (default: model_best.npz, else '
                             'model_final.npz)')
    parser.add_argument('-b', '--batch-size', type=int, default=256,
                        help='images per forward pass (default: 256)')
    parser.add_argument('-g', '--gpu', type=int, default=-1,
                        help='GPU id to evaluate on with CuPy; -1 (default) uses the CPU')
    args = parser.parse_args(argv)
    from chainer_compare.reporting.evaluate import evaluate_run
    evaluate_run(args.run_dir, args.out, args.dataset, args.model_file, args.batch_size,
                 args.gpu)


if __name__ == '__main__':
    run_cli(main)
