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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n-train', type=int, default=50000,
                        help='training images (default 50000)')
    parser.add_argument('--n-test', type=int, default=10000, help='test images (default 10000)')
    parser.add_argument('--out', default=os.path.join(ROOT, 'bench', 'out'),
                        help='work directory (default bench/out)')
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    archive = os.path.join(args.out, 'cifar-10-random-py2-{}-{}.tar.gz'.format(
        args.n_train, args.n_test))
    if not os.path.exists(archive):
        build_archive(archive + '.tmp', args.n_train, args.n_test)
        os.replace(archive + '.tmp', archive)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, 'src'))
    start = time.time()
    child = subprocess.run([sys.executable, os.path.join(ROOT, 'src', 'dataset.py'), '--archive',
                            archive, '--skip-verify', '--force', '--out',
                            os.path.join(args.out, 'dataset')],
                           env=env, capture_output=True, text=True)
    wall = time.time() - start
    if child.returncode:
        sys.exit('bench: dataset.py failed: ' + child.stderr)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_gb = usage.ru_maxrss * 1024 / 1e9
    print(child.stderr.strip())
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({'n_train': args.n_train, 'n_test': args.n_test, 'wall_s': round(wall, 1),
                      'peak_rss_gb': round(peak_gb, 2), 'cpu_s': round(cpu, 1),
                      # < cpus when other work shared the cores (wall_s is then inflated)
                      'cpu_per_wall': round(cpu / wall, 2), 'cpus': os.cpu_count(),
                      'load_avg_1min': round(os.getloadavg()[0], 1),
                      'numpy': numpy.__version__}, indent=1))


if __name__ == '__main__':
    main()
