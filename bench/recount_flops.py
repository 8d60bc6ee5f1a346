#!/usr/bin/env python
"""Recompute the FLOP columns of ``make bench`` results files (not the timings).

    python bench/recount_flops.py bench/results.csv docs/results/bench-*-run9.csv ...

For every train/eval row: ``flops_per_image`` from bench/flops.py as it is now,
then ``gflop_per_s`` (x the row's images/s) and ``peak_fraction`` (/ the file's
own GEMM peak row).  Each file's provenance sidecar (``.provenance.json``) gets
a ``flops_recounted`` entry saying when, by which command and commit.  Written
for the runs whose count missed the convolutions of models with batch
normalization (the fast path folds them into one call in evaluation mode,
where the counting hook saw no convolution link; fixed in bench/flops.py).
"""
import argparse
import csv
import datetime
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'src'))
sys.path.insert(0, HERE)

import run_bench  # noqa: E402
import speed  # noqa: E402
from chainer_compare.errors import UserError, run_cli  # noqa: E402
from chainer_compare.provenance import git_commit  # noqa: E402
from chainer_compare.safeio import atomic_write_text  # noqa: E402


FIELDS = ('section', 'model', 'images_per_s', 'flops_per_image', 'gflop_per_s',
          'peak_fraction')


def read_results(path):
    """(rows, field names, GEMM peak) of a run_bench.py CSV; UserError naming the file."""
    try:
        with open(path, newline='') as f:
            reader = csv.DictReader(f)
            rows, fields = list(reader), list(reader.fieldnames or ())
    except OSError as error:
        raise UserError('{}: cannot read it ({})'.format(path, error.strerror))
    except (UnicodeDecodeError, csv.Error) as error:
        raise UserError('{}: not a CSV file ({})'.format(path, error))
    peaks = [r['gflop_per_s'] for r in rows
             if r.get('section') == 'gemm' and r.get('variant') == 'peak']
    if not set(FIELDS) <= set(fields) or not peaks:
        raise UserError('{}: not a results file of bench/run_bench.py (needs the columns {} '
                        'and a gemm peak row)'.format(path, ', '.join(FIELDS)))
    return rows, fields, float(peaks[0])


def recount(path, rows, fields, peak, counts):
    changed = 0
    for row in rows:
        if row['section'] not in ('train', 'eval') or row['model'] not in counts:
            continue
        flops = int(round(counts[row['model']][row['section']]))
        changed += str(flops) != row['flops_per_image']
        rate = flops * float(row['images_per_s']) / 1e9
        row.update(flops_per_image=str(flops), gflop_per_s='{:.4f}'.format(rate),
                   peak_fraction='{:.4f}'.format(rate / peak))
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, out.getvalue())
    return changed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('files', nargs='+', help='results CSVs written by bench/run_bench.py')
    args = p.parse_args(argv)
    bench_args = run_bench.parse_args([])
    if isinstance(bench_args.models, str):
        bench_args.models = [m for m in bench_args.models.split(',') if m]
    counts = run_bench.count_flops(bench_args, speed.synthetic_batch(1)[0].shape[1:])
    commit, dirty = git_commit()
    results = {path: read_results(path) for path in args.files}  # all checked, then written
    for path, (rows, fields, peak) in results.items():
        changed = recount(path, rows, fields, peak, counts)
        sidecar = os.path.splitext(path)[0] + '.provenance.json'
        if os.path.exists(sidecar):
            with open(sidecar) as f:
                provenance = json.load(f)
            provenance['flops_recounted'] = {
                'command': 'python bench/recount_flops.py ' + ' '.join(argv or sys.argv[1:]),
                'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%MZ'),
                'commit': commit + (' (with uncommitted changes)' if dirty else ''),
                'why': 'the run counted only the fully connected layers of models with batch '
                       'normalization (flops_per_image, gflop_per_s, peak_fraction recomputed; '
                       'timings unchanged)'}
            atomic_write_text(sidecar, json.dumps(provenance, indent=2) + '\n')
        print('{}: {} rows with a new FLOP count'.format(path, changed))


if __name__ == '__main__':
    run_cli(main)
