#!/usr/bin/env python
"""Where a training step on the fast CPU path spends its time (cProfile, by category).

    python bench/profile_fast.py --model cnn --steps 3

Times ``--steps`` training steps (batch 128, after one warm-up step) under
cProfile and groups the functions' own time: the compiled kernels (conv
forward + data gradient, weight gradient, BN/ReLU/pooling, padding; a call
through ``_native.run`` is counted by the function that made it), BLAS GEMM
and patch gather where im2col + GEMM still runs, the rest of the fast
convolution (layout, bias), NumPy pooling, and Chainer's own functions
(linear, ReLU, BN, dropout, loss, optimizer).  cProfile sees the main thread
only: a kernel's time is the main thread's share of the batch plus its wait
for the other threads' chunks.
Prints the groups and the top functions.

``--pool`` instead times ``--steps`` steps of each of ``--model``
(comma-separated) without cProfile and reports, per step, from pool.c's
counters: the kernel jobs, the calling thread's time inside them (of which
waiting for the other threads' chunks), the time outside any job (Python, the
graph, NumPy on one thread), the workers' busy time and the CPU/wall share;
``--json PATH`` records them with the command, date, commit and machine.

    python bench/profile_fast.py --pool --model residual,vgg --steps 10 --json out.json
"""
import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (os.path.join(os.path.dirname(HERE), 'src'), HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

import speed  # noqa: E402

CATEGORIES = (  # (label, predicate on (file, function name)); first match wins
    ('conv kernels: forward + data gradient (C)', lambda f, n: n == '_run'
     and f.endswith('fastcpu/_direct.py')),
    ('conv kernels: weight gradient (C)', lambda f, n: n in (
        'backward_weights', '_winograd_weight_gradient')),
    ('waiting for Python threads (no compiled kernels)', lambda f, n: "'acquire' of" in n),
    ('BN / ReLU / pooling kernels (C)', lambda f, n: f.endswith((
        'fastcpu/_bn_kernels.py', 'fastcpu/elementwise.py', 'fastcpu/_pool_kernels.py'))),
    ('GEMM: im2col layers, linear (BLAS)', lambda f, n: n in (
        'gemm_rows', 'gemm_columns', 'gemm_partial') or "'matmul' of" in n),
    ('patch gather (im2col copy)', lambda f, n: n == 'gather'),
    ('padding (C)', lambda f, n: n == 'padded_nhwc'),
    ('fast conv: layout, weights, bookkeeping', lambda f, n: 'fastcpu/' in f and 'conv' in f
     or f.endswith(('fastcpu/_layout.py', 'fastcpu/_direct.py'))),
    ('fast pooling (NumPy)', lambda f, n: f.endswith('fastcpu/pooling.py')),
    ('Chainer linear (GEMM)', lambda f, n: 'functions/connection/linear' in f
     or "'dot' of" in n),
    ('Chainer activations/BN/dropout/loss', lambda f, n: '/chainer/functions/' in f),
    ('Chainer optimizer update', lambda f, n: '/chainer/optimizer' in f),
)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='cnn', help='model to profile (default cnn)')
    p.add_argument('--steps', type=int, default=3, help='profiled steps (default 3)')
    p.add_argument('--batch', type=int, default=128, help='minibatch (default 128)')
    p.add_argument('--top', type=int, default=12, help='functions listed (default 12)')
    p.add_argument('--pool', action='store_true',
                   help="per-step counters of the kernels' thread pool instead of cProfile")
    p.add_argument('--eval', action='store_true', help='with --pool: inference passes')
    p.add_argument('--json', help='with --pool: write the numbers and their provenance here')
    args = p.parse_args(argv)
    if args.pool:
        return pool_profile(args, argv)
    x, t = speed.synthetic_batch(args.batch)
    step = speed.chainer_step(args.model, {'res_depth': 3}, x, t, fast_cpu=True)
    step(0)
    profiler = cProfile.Profile()
    profiler.enable()
    for index in range(args.steps):
        step(index)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values())
    groups = {label: 0.0 for label, _ in CATEGORIES}
    groups['other (Python, graph bookkeeping, numpy calls)'] = 0.0
    for (filename, _, name), (_, _, tottime, _, callers) in stats.stats.items():
        if name == 'run' and filename.replace(os.sep, '/').endswith('fastcpu/_native.py'):
            # A kernel on the pool: its time goes to the caller's category.
            parts = [(caller, timing[2]) for caller, timing in callers.items()]
        else:
            parts = [((filename, 0, name), tottime)]
        for (file, _, function), seconds in parts:
            file = file.replace(os.sep, '/')
            label = next((lb for lb, match in CATEGORIES if match(file, function)),
                         'other (Python, graph bookkeeping, numpy calls)')
            groups[label] += seconds
    print('{}: {} steps of batch {}, {:.2f} s per step (profiled)'.format(
        args.model, args.steps, args.batch, total / args.steps))
    for label, seconds in sorted(groups.items(), key=lambda kv: -kv[1]):
        print('  {:48s} {:6.1f}%  {:.3f} s/step'.format(label, 100 * seconds / total,
                                                        seconds / args.steps))
    print()
    stats.sort_stats('tottime').print_stats(args.top)


def pool_profile(args, argv):
    from chainer_compare.fastcpu import _native
    x, t = speed.synthetic_batch(args.batch)
    results = {}
    for model in args.model.split(','):
        step = speed.chainer_step(model, {'res_depth': 3}, x, t, fast_cpu=True,
                                  train=not args.eval)
        step(0)
        step(1)
        rows = []
        for index in range(args.steps):
            before, start, cpu = _native.pool_stats(), time.perf_counter(), time.process_time()
            step(index)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            after = _native.pool_stats()
            delta = {k: after[k] - before[k] for k in after}
            rows.append({'wall_s': wall, 'cpu_per_wall': cpu / wall, 'jobs': delta['jobs'],
                         'in_pool_s': delta['in_pool_s'],
                         'waiting_s': delta['caller_wait_s'],
                         'outside_pool_s': wall - delta['in_pool_s'],
                         'worker_busy_s': delta['worker_busy_s']})
        medians = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        results[model] = {'median': medians, 'steps': rows}
        print('{} ({} steps, medians): {:.4f} s, CPU/wall {:.2f}, {} jobs, in jobs {:.4f} s '
              '(waiting {:.4f}), outside {:.4f} s, workers busy {:.4f} s'.format(
                  model, args.steps, medians['wall_s'], medians['cpu_per_wall'],
                  int(medians['jobs']), medians['in_pool_s'], medians['waiting_s'],
                  medians['outside_pool_s'], medians['worker_busy_s']))
    if args.json:
        from bench_env import environment, provenance
        from chainer_compare.safeio import atomic_write_text
        record = {'provenance': dict(
                      provenance('profile_fast.py', environment()), file=args.json,
                      command='python bench/profile_fast.py ' + ' '.join(
                          argv if argv is not None else sys.argv[1:])),
                  'mode': 'inference' if args.eval else 'training', 'batch': args.batch,
                  'models': results}
        atomic_write_text(args.json, json.dumps(record, indent=1) + '\n')


if __name__ == '__main__':
    main()
