#!/usr/bin/env python
"""``make bench``: training images/s of this project vs stock Chainer vs PyTorch (CPU).

For each model (cnn, cnnbn, vgg, residual with res_depth 3 = ResNet-20) at
batch 128 it times full training steps of
  (a) this project's default CPU path (``create_model`` + fast_cpu on),
  (b) stock Chainer (fast_cpu off: ``chainer.functions`` convolution/pooling),
  (c) PyTorch on the identical architecture (bench/torch_models.py),
all in one process, round-robin, warm-up excluded, median of the repetitions,
and prints the ratios (a)/(b) and (a)/(c).  It also times augmentation
(images/s, vs training) and runs the data-stage benchmark (bench/bench_data.py),
records the BLAS/thread configuration (threadpoolctl) and writes
``RESULTS.md`` and ``results.csv`` into ``--out-dir``.

    python bench/run_bench.py            # full run (several minutes on 2 cores)
    python bench/run_bench.py --quick --out-dir /tmp/b   # smoke run, tiny batches
"""
import argparse
import csv
import datetime
import io
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (os.path.join(ROOT, 'src'), HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

import chainer_compare.compat  # noqa: E402,F401  (before chainer)
import numpy  # noqa: E402

import speed  # noqa: E402
from report import render_gpu_markdown, render_markdown  # noqa: E402
from chainer_compare.safeio import atomic_write_text  # noqa: E402
from chainer_compare.device import describe as describe_device  # noqa: E402

MODELS = ('cnn', 'cnnbn', 'vgg', 'residual')
AUGMENTATIONS = ('crop,flip', 'crop', 'flip', 'rotate', 'erasing', 'cutout')
CSV_FIELDS = ('section', 'model', 'variant', 'batch', 'images_per_s', 'best_images_per_s',
              'worst_images_per_s', 'median_step_s', 'cpu_per_wall', 'reps', 'note')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true',
                   help='smoke run: batch 8, 1 repetition, tiny data stage (checks the script, '
                        'not the speed)')
    p.add_argument('--models', default=','.join(MODELS),
                   help='comma-separated models to time (default: %(default)s)')
    p.add_argument('--batch', type=int, default=128, help='minibatch size (default 128)')
    p.add_argument('--reps', type=int, default=5,
                   help='timed steps per variant after warm-up; the median is reported (default 5)')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps per variant (default 2)')
    p.add_argument('--res-depth', type=int, default=3,
                   help='residual blocks per stage for `residual` (default 3: ResNet-20)')
    p.add_argument('--gpu', type=int, default=-1,
                   help='time on this GPU instead: Chainer on CuPy vs PyTorch CUDA; writes '
                        'RESULTS-gpu.md and results-gpu.csv (default -1: the CPU comparison)')
    p.add_argument('--no-torch', action='store_true', help='skip PyTorch even if installed')
    p.add_argument('--no-data', action='store_true', help='skip the data-stage benchmark')
    p.add_argument('--out-dir', default=HERE,
                   help='where RESULTS.md and results.csv go (default: bench/)')
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.reps, args.warmup = min(args.batch, 8), 1, 1
    return args


def environment():
    """BLAS/thread configuration and machine facts recorded with the numbers."""
    import chainer
    from threadpoolctl import threadpool_info
    env = {
        'python': platform.python_version(), 'numpy': numpy.__version__,
        'chainer': chainer.__version__, 'device': describe_device(-1)['device'],
        'cpus': os.cpu_count(),
        'load_avg_1min_start': round(os.getloadavg()[0], 2),
        'blas': [{k: info.get(k) for k in ('internal_api', 'version', 'num_threads',
                                            'threading_layer', 'architecture')}
                 for info in threadpool_info()],
        'env': {k: os.environ.get(k) for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE',
                                               'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS',
                                               'MKL_NUM_THREADS')},
    }
    try:
        import torch
        env['torch'] = torch.__version__
        env['torch_threads'] = torch.get_num_threads()
        env['torch_mkldnn'] = bool(torch.backends.mkldnn.is_available())
    except ImportError:
        env['torch'] = None
    return env


def gpu_environment(gpu):
    """The card, CuPy/CUDA versions and whether Chainer uses cuDNN."""
    import chainer
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(gpu)
    name = props['name']
    return {'gpu': name.decode() if isinstance(name, bytes) else name,
            'cupy': cupy.__version__,
            'cuda_runtime': cupy.cuda.runtime.runtimeGetVersion(),
            'chainer_cudnn_enabled': bool(chainer.backends.cuda.cudnn_enabled),
            'chainer_use_cudnn': chainer.config.use_cudnn}


def bench_training(args, have_torch, log):
    rows = []
    x, t = speed.synthetic_batch(args.batch)
    for name in args.models:
        if args.gpu >= 0:
            steps = {'cupy': speed.chainer_gpu_step(name, x, t, args.res_depth, args.gpu)}
            if have_torch:
                steps['torch_cuda'] = speed.torch_cuda_step(name, x, t, args.res_depth, args.gpu)
        else:
            steps = {'fast': speed.chainer_step(name, x, t, True, args.res_depth),
                     'stock': speed.chainer_step(name, x, t, False, args.res_depth)}
            if have_torch:
                steps['torch'] = speed.torch_step(name, x, t, args.res_depth)
        wall, cpu = speed.time_round_robin(steps, args.warmup, args.reps)
        for variant in steps:
            row = dict(speed.summarize(args.batch, wall[variant], cpu[variant]),
                       section='train', model=name, variant=variant, batch=args.batch,
                       note='params={}'.format(steps[variant].n_params))
            rows.append(row)
            log('{:9s} {:6s} {:8.1f} images/s  (best {:.1f}, cpu/wall {:.2f})'.format(
                name, variant, row['images_per_s'], row['best_images_per_s'],
                row['cpu_per_wall']))
    return rows


def bench_augmentation(args, log):
    rows = []
    for spec in AUGMENTATIONS:
        try:
            rate = speed.augmentation_throughput(spec, args.batch, max(3, args.reps),
                                                 gpu=args.gpu)
        except ImportError as e:
            log('augmentation unavailable: {}'.format(e))
            return rows
        rows.append({'section': 'augment', 'model': '', 'variant': spec, 'batch': args.batch,
                     'images_per_s': rate, 'reps': max(3, args.reps), 'note': ''})
        log('augment {:10s} {:10.0f} images/s'.format(spec, rate))
    return rows


def bench_data(args, log):
    script = os.path.join(HERE, 'bench_data.py')
    if not os.path.exists(script):
        log('data stage: bench/bench_data.py not present, skipped')
        return []
    cmd = [sys.executable, script, '--out', os.path.join(args.out_dir, 'out')]
    if args.quick:
        cmd += ['--n-train', '500', '--n-test', '100']
    child = subprocess.run(cmd, capture_output=True, text=True)
    if child.returncode:
        log('data stage failed: ' + child.stderr.strip()[-500:])
        return [{'section': 'data', 'variant': 'dataset.py', 'note': 'failed'}]
    result = json.loads(child.stdout[child.stdout.rindex('{'):])
    log('data stage: {}'.format(result))
    return [{'section': 'data', 'variant': 'dataset.py', 'batch': result.get('n_train'),
             'median_step_s': result.get('wall_s'),
             'note': 'peak_rss_gb={} n_test={}'.format(result.get('peak_rss_gb'),
                                                        result.get('n_test'))}]


def ratio(rows, model, a, b):
    rate = {r['variant']: r['images_per_s'] for r in rows
            if r['section'] == 'train' and r['model'] == model}
    return rate[a] / rate[b] if a in rate and b in rate else None


def write_outputs(args, env, rows, elapsed):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction='ignore',
                            lineterminator='\n')
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (round(v, 4) if isinstance(v, float) else v)
                         for k, v in row.items()})
    suffix = '-gpu' if args.gpu >= 0 else ''
    render = render_gpu_markdown if args.gpu >= 0 else render_markdown
    atomic_write_text(os.path.join(args.out_dir, 'results{}.csv'.format(suffix)), buf.getvalue())
    atomic_write_text(os.path.join(args.out_dir, 'RESULTS{}.md'.format(suffix)),
                      render(args, env, rows, elapsed, ratio))
    atomic_write_text(os.path.join(args.out_dir, 'results{}.provenance.json'.format(suffix)),
                      json.dumps(provenance('results{}.csv'.format(suffix), env), indent=2)
                      + '\n')


def provenance(csv_name, env):
    """The sidecar every results file has (scripts/update_docs.py builds the docs'
    tables from the CSV and cites this): command, date, commit, machine."""
    from chainer_compare.provenance import git_commit
    commit, dirty = git_commit()
    machine = '{}, {} CPUs'.format(env['device'], env['cpus'])
    if env.get('gpu'):
        machine += ', {} (CuPy {})'.format(env['gpu'], env.get('cupy'))
    return {'file': 'bench/' + csv_name,
            'command': 'python bench/run_bench.py ' + ' '.join(sys.argv[1:]),
            'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%MZ'),
            'commit': commit if not dirty else '{} (with uncommitted changes)'.format(commit),
            'machine': machine}


def main(argv=None):
    args = parse_args(argv)
    args.models = [m.strip() for m in args.models.split(',') if m.strip()]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        sys.exit('--models: no benchmark for {}; choose from {}'.format(
            ', '.join(unknown), ', '.join(MODELS)))

    def log(message):
        print(message, flush=True)
    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
        log('PyTorch not installed (pip install torch==2.13.0): column (c) skipped')
    start = time.time()
    env = environment()
    if args.gpu >= 0:
        env.update(gpu_environment(args.gpu))
        args.no_data = True  # the data stage runs on the CPU: the CPU bench covers it
    log('BLAS: {}  torch threads: {}'.format(env['blas'], env.get('torch_threads')))
    rows = bench_training(args, have_torch, log)
    rows += bench_augmentation(args, log)
    if not args.no_data:
        rows += bench_data(args, log)
    env['load_avg_1min_end'] = round(os.getloadavg()[0], 2)
    elapsed = time.time() - start
    write_outputs(args, env, rows, elapsed)
    for model in args.models:
        if args.gpu >= 0:
            log('{:9s} cupy/torch_cuda {}'.format(
                model, _fmt(ratio(rows, model, 'cupy', 'torch_cuda'))))
        else:
            log('{:9s} fast/stock {}  fast/torch {}'.format(
                model, _fmt(ratio(rows, model, 'fast', 'stock')),
                _fmt(ratio(rows, model, 'fast', 'torch'))))
    log('wrote RESULTS{0}.md and results{0}.csv in {1}'.format(
        '-gpu' if args.gpu >= 0 else '', args.out_dir))


def _fmt(value):
    return '-' if value is None else '{:.2f}x'.format(value)


if __name__ == '__main__':
    main()
