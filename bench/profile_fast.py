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
"""
import argparse
import cProfile
import os
import pstats
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (os.path.join(os.path.dirname(HERE), 'src'), HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

import speed  # noqa: E402

CATEGORIES = (  # (label, predicate on (file, function name)); first match wins
    ('conv kernels: forward + data gradient (C)', lambda f, n: n == '_run'
     and f.endswith('fastcpu/_direct.py')),
    ('conv kernels: weight gradient (C)', lambda f, n: n == 'backward_weights'),
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
    args = p.parse_args(argv)
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


if __name__ == '__main__':
    main()
