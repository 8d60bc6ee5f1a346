#!/usr/bin/env python
"""Compare runs: summary table (Markdown + CSV), error/loss curves, results/report.html.

    python src/plot.py                       # every run under results/
    python src/plot.py results/cnn* results/vgg --log-epochs
    python src/plot.py --group-by model,dataset
    python src/plot.py --reference seed004   # beside seed 004's published errors
    python src/plot.py results/study --baseline cnnbn --json   # verdicts against cnnbn

Run directories are only read, never modified.
"""
import os
import sys

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chainer_compare.compat  # noqa: E402,F401  (before anything imports chainer)
from chainer_compare.errors import ArgumentParser, run_cli  # noqa: E402
from chainer_compare.reporting.summary import DEFAULT_IGNORED_ARGS  # noqa: E402


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('paths', nargs='*', default=['results'], metavar='RUN_DIR',
                        help='run directories, directories holding runs, or globs '
                             '(default: results)')
    parser.add_argument('--out', default=None,
                        help='where to write summary.md/.csv, curves.png and report.html '
                             '(default: the one results directory given, else results)')
    parser.add_argument('--group-by', default=None,
                        help='comma list of args that define a configuration (default: all '
                             'args except {})'.format(', '.join(DEFAULT_IGNORED_ARGS)))
    parser.add_argument('--log-epochs', action='store_true',
                        help='log-scaled epoch axis')
    parser.add_argument('--reference', default=None, choices=['seed004'],
                        help='also lay the results beside these published errors')
    parser.add_argument('--no-html', action='store_true', help='skip report.html')
    parser.add_argument('--baseline', default=None, metavar='NAME',
                        help='the configuration every other one is compared with: its label '
                             'as in summary.md, or its run-directory name without _s<seed> '
                             '(e.g. cnnbn); default: the lowest mean test error at the '
                             'best-validation epoch')
    parser.add_argument('--all-pairs', action='store_true',
                        help='compare every pair of configurations, not only each one with '
                             'the baseline (Holm correction across all pairs)')
    parser.add_argument('--json', action='store_true',
                        help='also write summary.json: every statistic and verdict, the '
                             'baseline and the excluded runs, unrounded')
    args = parser.parse_args(argv)
    from chainer_compare.reporting.report import make_report
    group_by = [g.strip() for g in args.group_by.split(',') if g.strip()] if args.group_by else None
    make_report(args.paths, args.out, group_by, args.log_epochs, args.reference,
                not args.no_html, baseline=args.baseline, all_pairs=args.all_pairs,
                json_summary=args.json)


if __name__ == '__main__':
    run_cli(main)
