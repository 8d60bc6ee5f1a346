#!/usr/bin/env python
"""``make bench``: training and inference images/s, this project vs stock Chainer vs PyTorch.

For each model of bench/bench_models.py (cnn, cnnbn, vgg, ``residual`` =
ResNet-20, seed 004's ResNet-74 plain and with stochastic depth) at batch 128
it times full training steps, then inference passes (test mode, no graph, as
the Evaluator runs them), of
  (a) this project's default CPU path (``create_model`` + fast_cpu on),
  (b) stock Chainer (fast_cpu off: ``chainer.functions`` convolution/pooling),
  (c) PyTorch on the identical architecture (bench/torch_models.py),
all in one process, round-robin, warm-up excluded, median of the repetitions,
and prints the ratios (a)/(b) and (a)/(c).  It measures the machine's float32
GEMM GFLOP/s (numpy.matmul) and reports, per model, the FLOPs per image
(bench/flops.py) and the fraction of that peak (a) and (c) reach.  It also
times augmentation (images/s, vs training) and runs the data-stage benchmark
(bench/bench_data.py), records the BLAS/thread configuration (threadpoolctl)
and writes ``RESULTS.md`` and ``results.csv`` into ``--out-dir``.

    python bench/run_bench.py            # full run (about 10 minutes on 2 cores)
    python bench/run_bench.py --quick --out-dir /tmp/b   # smoke run, tiny batches
"""
import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (os.path.join(ROOT, 'src'), HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

import chainer_compare.compat  # noqa: E402,F401  (before chainer)

import flops  # noqa: E402
import speed  # noqa: E402
from bench_env import environment, gpu_environment, provenance  # noqa: E402
from bench_models import BENCH_MODELS, is_stochastic  # noqa: E402
from report import render_gpu_markdown, render_markdown  # noqa: E402
from chainer_compare.models import create_model  # noqa: E402
from chainer_compare.safeio import atomic_write_text  # noqa: E402

MODELS = tuple(BENCH_MODELS)
AUGMENTATIONS = ('crop,flip', 'crop', 'flip', 'rotate', 'erasing', 'cutout')
CSV_FIELDS = ('section', 'model', 'variant', 'batch', 'images_per_s', 'best_images_per_s',
              'worst_images_per_s', 'median_step_s', 'cpu_per_wall', 'flops_per_image',
              'gflop_per_s', 'peak_fraction', 'reps', 'note')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true',
                   help='smoke run: batch 8, 1 repetition, tiny data stage '
                        '(checks the script, not the speed)')
    p.add_argument('--models', default=','.join(MODELS),
                   help='comma-separated models to time (default: %(default)s)')
    p.add_argument('--batch', type=int, default=128,
                   help='minibatch size of training and of inference (default 128, the '
                        'trainer\'s --batch_size, which its Evaluators use too)')
    p.add_argument('--reps', type=int, default=5,
                   help='timed steps per variant after warm-up; the median is reported (default 5)')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps per variant (default 2)')
    p.add_argument('--big-reps', type=int, default=3,
                   help='--reps for the big nets (the ResNet-74 rows), every variant alike: '
                        'stock Chainer takes several s per step there, and stochastic depth '
                        'needs the same seeds in every variant (default 3)')
    p.add_argument('--big-warmup', type=int, default=1,
                   help='--warmup for the big nets (default 1)')
    p.add_argument('--res-depth', type=int, default=3,
                   help='residual blocks per stage for `residual` (default 3: ResNet-20)')
    p.add_argument('--gemm-sizes', default='1024,2048,3072',
                   help='sides n of the n x n float32 numpy.matmul timed for the peak '
                        'GFLOP/s (default %(default)s)')
    p.add_argument('--gpu', type=int, default=-1,
                   help='time training on this GPU instead: Chainer on CuPy vs PyTorch CUDA; '
                        'writes RESULTS-gpu.md and results-gpu.csv (no inference, GEMM or '
                        'data sections) (default -1: the CPU comparison)')
    p.add_argument('--no-torch', action='store_true', help='skip PyTorch even if installed')
    p.add_argument('--no-eval', action='store_true', help='skip the inference section')
    p.add_argument('--no-data', action='store_true', help='skip the data-stage benchmark')
    p.add_argument('--out-dir', default=HERE,
                   help='where RESULTS.md and results.csv go (default: bench/)')
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.reps, args.warmup = min(args.batch, 8), 1, 1
        args.big_reps, args.big_warmup = 1, 1
    args.gemm_sizes = [int(n) for n in args.gemm_sizes.split(',') if n.strip()]
    return args


def model_spec(name, args):
    """(registered model name, create_model options) of bench row ``name``."""
    spec = BENCH_MODELS[name]
    options = dict(spec.options)
    if name == 'residual':
        options['res_depth'] = args.res_depth
    return spec.model, options


def count_flops(args, in_shape):
    """{bench model: {'train': FLOPs/image, 'eval': FLOPs/image}} (bench/flops.py).

    A stochastic-depth model also gets 'timed_train': the mean training FLOPs of
    the seeds its timed rounds use, to show how far their draws are from the
    expectation the peak fraction is computed with.
    """
    counts = {}
    for name in args.models:
        model_name, options = model_spec(name, args)
        model = create_model(model_name, in_channels=in_shape[0], image_size=in_shape[1],
                             n_classes=10, **options)
        counts[name] = flops.model_flops(model, in_shape)
        if is_stochastic(name):
            seeds = range(args.big_reps if BENCH_MODELS[name].big else args.reps)
            counts[name]['timed_train'] = sum(
                flops.realized_train_flops(model, in_shape, seed) for seed in seeds) / len(seeds)
    return counts


def bench_gemm(args, log):
    """One row per GEMM size, then the ``peak`` row (the best of them)."""
    rows = []
    for n in args.gemm_sizes:
        rate = flops.gemm_gflops(n, reps=1 if args.quick else 3)
        rows.append({'section': 'gemm', 'variant': 'n={}'.format(n), 'gflop_per_s': rate,
                     'reps': 1 if args.quick else 3, 'note': 'numpy.matmul float32'})
        log('GEMM n={:5d} {:8.1f} GFLOP/s'.format(n, rate))
    best = max(rows, key=lambda r: r['gflop_per_s'])
    rows.append(dict(best, variant='peak', note='best of ' + ', '.join(
        r['variant'] for r in rows)))
    return rows


def bench_models(args, train, have_torch, counts, peak, log):
    """Rows of section ``train`` (training steps) or ``eval`` (inference passes)."""
    rows = []
    section = 'train' if train else 'eval'
    x, t = speed.synthetic_batch(args.batch)
    for name in args.models:
        model_name, options = model_spec(name, args)
        if args.gpu >= 0:
            steps = {'cupy': speed.chainer_step(model_name, options, x, t, train=train,
                                                gpu=args.gpu)}
            if have_torch:
                steps['torch_cuda'] = speed.torch_step(model_name, options, x, t, train, args.gpu)
        else:
            steps = {'fast': speed.chainer_step(model_name, options, x, t, True, train),
                     'stock': speed.chainer_step(model_name, options, x, t, False, train)}
            if have_torch:
                steps['torch'] = speed.torch_step(model_name, options, x, t, train)
        big = BENCH_MODELS[name].big
        wall, cpu = speed.time_round_robin(steps, args.big_warmup if big else args.warmup,
                                           args.big_reps if big else args.reps)
        # A stochastic-depth step's work varies with its draw: report the mean over
        # the (shared) seeds.  Evaluation runs every block, so it stays the median.
        mean = train and is_stochastic(name)
        for variant in steps:
            row = dict(speed.summarize(args.batch, wall[variant], cpu[variant], mean=mean),
                       section=section, model=name, variant=variant, batch=args.batch,
                       note='params={}{}'.format(steps[variant].n_params,
                                                 ' stat=mean' if mean else ''))
            if counts:
                if mean:
                    row['timed_flops_ratio'] = counts[name]['timed_train'] / counts[name]['train']
                    row['note'] += ' timed_flops/expected={:.3f}'.format(row['timed_flops_ratio'])
                row['flops_per_image'] = int(round(counts[name][section]))
                row['gflop_per_s'] = row['flops_per_image'] * row['images_per_s'] / 1e9
                row['peak_fraction'] = row['gflop_per_s'] / peak if peak else None
            rows.append(row)
            log('{:5s} {:13s} {:10s} {:8.1f} images/s  (best {:.1f}, cpu/wall {:.2f})'.format(
                section, name, variant, row['images_per_s'], row['best_images_per_s'],
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


def ratio(rows, model, a, b, section='train'):
    rate = {r['variant']: r['images_per_s'] for r in rows
            if r['section'] == section and r['model'] == model}
    return rate[a] / rate[b] if a in rate and b in rate else None


def write_outputs(args, env, rows, elapsed, record):
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
                      json.dumps(record, indent=2) + '\n')


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
    # The code measured is the checkout as the run starts (edits made while it
    # runs do not change what runs); the files written at the end are tracked,
    # so afterwards the checkout would always look modified.
    record = provenance('results{}.csv'.format('-gpu' if args.gpu >= 0 else ''), env)
    rows, counts, peak = [], None, None
    if args.gpu >= 0:
        # The data stage runs on the CPU (the CPU bench covers it); a CPU GEMM peak
        # says nothing about a GPU.
        args.no_data = args.no_eval = True
    else:
        rows += bench_gemm(args, log)
        peak = rows[-1]['gflop_per_s']
        counts = count_flops(args, speed.synthetic_batch(1)[0].shape[1:])
    log('BLAS: {}  torch threads: {}'.format(env['blas'], env.get('torch_threads')))
    rows += bench_models(args, True, have_torch, counts, peak, log)
    if not args.no_eval:
        rows += bench_models(args, False, have_torch, counts, peak, log)
    rows += bench_augmentation(args, log)
    if not args.no_data:
        rows += bench_data(args, log)
    env['load_avg_1min_end'] = round(os.getloadavg()[0], 2)
    elapsed = time.time() - start
    write_outputs(args, env, rows, elapsed, record)
    for section in ('train',) if args.no_eval else ('train', 'eval'):
        for model in args.models:
            if args.gpu >= 0:
                log('{:13s} cupy/torch_cuda {}'.format(
                    model, _fmt(ratio(rows, model, 'cupy', 'torch_cuda'))))
            else:
                log('{:5s} {:13s} fast/stock {}  fast/torch {}'.format(
                    section, model, _fmt(ratio(rows, model, 'fast', 'stock', section)),
                    _fmt(ratio(rows, model, 'fast', 'torch', section))))
    log('wrote RESULTS{0}.md and results{0}.csv in {1}'.format(
        '-gpu' if args.gpu >= 0 else '', args.out_dir))


def _fmt(value):
    return '-' if value is None else '{:.2f}x'.format(value)


if __name__ == '__main__':
    main()
