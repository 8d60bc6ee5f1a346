#!/usr/bin/env python
"""Download, verify and preprocess an image dataset for src/train.py.

    python src/dataset.py                            # CIFAR-10 -> dataset/*.pkl (seed 004)
    python src/dataset.py --dataset fashion-mnist    # -> dataset/fashion-mnist/*.pkl
    python src/dataset.py --archive ~/cifar-10-python.tar.gz

Writes image.pkl, image_norm.pkl, image_zca.pkl, image_norm_zca.pkl, label.pkl,
preprocess.pkl, samples.png and manifest.json (see docs/data.md).
"""
import os
import sys

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chainer_compare.compat  # noqa: E402,F401  (before anything imports chainer)
from chainer_compare.data import DATASETS, DEFAULT_ZCA_EPS, prepare_dataset  # noqa: E402
from chainer_compare.data.split import FIT_ALL_TRAIN, FIT_TRAIN_MINUS_VALIDATION  # noqa: E402
from chainer_compare.errors import ArgumentParser, run_cli  # noqa: E402


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dataset', default='cifar10', choices=list(DATASETS),
                        help='which dataset to prepare (default: cifar10)')
    parser.add_argument('--out', default=None,
                        help='output directory (default: dataset/ for cifar10, '
                             'dataset/<name>/ otherwise)')
    parser.add_argument('--archive', default=None, metavar='FILE|DIR',
                        help='use this already downloaded source instead of downloading: the '
                             'CIFAR tar.gz, a directory holding it, the folder it extracts to '
                             '(cifar-10-batches-py), or a directory with the four MNIST .gz files')
    parser.add_argument('--zca-eps', type=float, default=DEFAULT_ZCA_EPS,
                        help='ZCA regularization, relative to the mean eigenvalue of the '
                             'training covariance (default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='recompute even when manifest.json says the outputs are current')
    parser.add_argument('--no-download', dest='download', action='store_false',
                        help='never download; fail unless the source is found locally')
    parser.add_argument('--url', default=None,
                        help='base URL to download the source files from instead of the '
                             'published mirrors (a private mirror)')
    parser.add_argument('--md5', default=None,
                        help='expected MD5 of the CIFAR archive instead of the published one '
                             '(with --url or --archive for a repacked archive)')
    parser.add_argument('--skip-verify', dest='verify', action='store_false',
                        help='do not compare source files with published checksums (their '
                             'structure is still checked and their MD5 recorded)')
    parser.add_argument('--retries', type=int, default=3,
                        help='download retries after a failure, with backoff (default: 3)')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress output on stderr')
    parser.add_argument('--fit-on-all-train', dest='fit_on', action='store_const',
                        const=FIT_ALL_TRAIN, default=FIT_TRAIN_MINUS_VALIDATION,
                        help='fit the mean and ZCA on all training images, the validation '
                             'split included (seed 004\'s exact recipe; train.py then '
                             'accepts the data only with --no_valid_data). Default: fit on '
                             'the training images minus the fixed validation split')
    args = parser.parse_args(argv)
    prepare_dataset(args.dataset, out=args.out, archive=args.archive, zca_eps=args.zca_eps,
                    force=args.force, download=args.download, url=args.url, md5=args.md5,
                    verify=args.verify, retries=args.retries, quiet=args.quiet,
                    fit_on=args.fit_on)


if __name__ == '__main__':
    run_cli(main)
