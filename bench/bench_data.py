#!/usr/bin/env python
"""Benchmark the data stage on CIFAR-10-sized random data (not a test).

Builds a CIFAR-10-format archive of random uint8 images (default 50000 train +
10000 test, 3x32x32; members pickled as Python 2 wrote the real archive's, by
the tests' ``data_fixtures.python2_dumps``), then runs ``src/dataset.py`` on it in a child process,
as a user would, and reports its wall time and peak RSS (the child's
``ru_maxrss``) together with its CPU time and the load average: the stage
needs both cores to itself for its target (issue 13: all four pickles in
<= 30 s wall and <= 2 GB peak RSS on a 2-core machine; docs/data.md explains
the floor), so on a shared machine read ``wall_s`` next to ``cpu_s``.

    python bench/bench_data.py            # writes under bench/out/ (git-ignored)
    python bench/bench_data.py --repeat 5 --json docs/results/data-stage-DATE.json
"""
import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import time

import numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
sys.path.insert(0, os.path.join(ROOT, 'src'))
sys.path.insert(0, os.path.join(ROOT, 'bench'))
import data_fixtures  # noqa: E402  (the CIFAR member format, shared with the tests)


def _add(tar, name, obj):
    data = data_fixtures.python2_dumps(obj)
    info = tarfile.TarInfo('cifar-10-batches-py/' + name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _batch(rng, n, label):
    return {b'batch_label': label.encode(), b'labels': rng.randint(0, 10, n).tolist(),
            b'data': rng.randint(0, 256, (n, 3072), dtype=numpy.uint8),
            b'filenames': [b'image_%05d.png' % i for i in range(n)]}


def build_archive(path, n_train, n_test, seed=0):
    rng = numpy.random.RandomState(seed)
    per_batch = n_train // 5
    with tarfile.open(path, 'w:gz', compresslevel=1) as tar:
        for i in range(5):
            _add(tar, 'data_batch_{}'.format(i + 1), _batch(
                rng, per_batch, 'training batch {} of 5'.format(i + 1)))
        _add(tar, 'test_batch', _batch(rng, n_test, 'testing batch 1 of 1'))
        _add(tar, 'batches.meta', {b'label_names': [b'class%d' % i for i in range(10)]})


def run_stage(archive, work):
    """One run of src/dataset.py on ``archive`` as a user runs it: its record."""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, 'src'))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    child = subprocess.run([sys.executable, os.path.join(ROOT, 'src', 'dataset.py'), '--archive',
                            archive, '--skip-verify', '--force', '--out',
                            os.path.join(work, 'dataset')],
                           env=env, capture_output=True, text=True)
    wall = time.time() - start
    if child.returncode:
        sys.exit('bench: dataset.py failed: ' + child.stderr)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime - before.ru_utime) + (usage.ru_stime - before.ru_stime)
    return {'wall_s': round(wall, 1),
            # ru_maxrss of the children: the largest of every run so far
            'peak_rss_gb': round(usage.ru_maxrss * 1024 / 1e9, 2), 'cpu_s': round(cpu, 1),
            # < cpus when other work shared the cores (wall_s is then inflated)
            'cpu_per_wall': round(cpu / wall, 2), 'cpus': os.cpu_count(),
            'load_avg_1min': round(os.getloadavg()[0], 1),
            'phases': [line for line in child.stderr.strip().splitlines() if line.endswith(' s)')]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n-train', type=int, default=50000,
                        help='training images (default 50000)')
    parser.add_argument('--n-test', type=int, default=10000, help='test images (default 10000)')
    parser.add_argument('--out', default=os.path.join(ROOT, 'bench', 'out'),
                        help='work directory (default bench/out)')
    parser.add_argument('--repeat', type=int, default=1,
                        help='runs of the stage, one after another (default 1)')
    parser.add_argument('--json', metavar='PATH',
                        help='also write every run, with the command, date, commit and '
                             'machine, to this results file')
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error('--repeat must be at least 1')
    os.makedirs(args.out, exist_ok=True)
    archive = os.path.join(args.out, 'cifar-10-random-py2-{}-{}.tar.gz'.format(
        args.n_train, args.n_test))
    if not os.path.exists(archive):
        build_archive(archive + '.tmp', args.n_train, args.n_test)
        os.replace(archive + '.tmp', archive)
    runs = []
    for _ in range(args.repeat):
        record = dict(run_stage(archive, args.out), n_train=args.n_train, n_test=args.n_test,
                      numpy=numpy.__version__)
        print('\n'.join(record['phases']))
        runs.append(record)
        print(json.dumps({k: v for k, v in record.items() if k != 'phases'}, indent=1))
    if args.json:
        from bench_env import environment, provenance
        from chainer_compare.safeio import atomic_write_text
        walls = sorted(r['wall_s'] for r in runs)
        result = {'provenance': dict(
                      provenance('bench_data.py', environment()), file=args.json,
                      command='python bench/bench_data.py ' + ' '.join(
                          argv if argv is not None else sys.argv[1:]),
                      switches={k: v for k, v in os.environ.items()
                                if k.startswith('CHAINER_COMPARE_')}),
                  'wall_s': {'median': walls[len(walls) // 2], 'min': walls[0],
                             'max': walls[-1]},
                  'runs': runs}
        atomic_write_text(args.json, json.dumps(result, indent=1) + '\n')


if __name__ == '__main__':
    main()
