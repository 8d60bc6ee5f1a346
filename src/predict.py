#!/usr/bin/env python
"""Classify image files with a trained run.

    python src/predict.py results/cnnbn my_photo.png other.jpg
    python src/predict.py results/cnnbn *.jpg --top-k 5 --json

Images of any size or mode are converted to the dataset's channels and size and
preprocessed with the statistics stored by the data stage (including ZCA).  A
file that cannot be read as an image is reported by name and the others are
still predicted; the exit status is then 1.
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
    parser.add_argument('images', nargs='+', help='image files (PNG, JPEG, ... any size)')
    parser.add_argument('-k', '--top-k', type=int, default=3,
                        help='how many classes to show per image (default: 3)')
    parser.add_argument('--json', action='store_true',
                        help='machine-readable JSON on stdout instead of text lines')
    parser.add_argument('--dataset', default=None,
                        help="prepared dataset whose statistics to use instead of the run's -d")
    parser.add_argument('--model-file', default=None,
                        help='weights file in the run dir (default: model_best.npz, else '
                             'model_final.npz)')
    args = parser.parse_args(argv)
    from chainer_compare.reporting.predict import predict_files
    return predict_files(args.run_dir, args.images, args.top_k, args.json, args.dataset,
                         args.model_file)


if __name__ == '__main__':
    run_cli(main)
