#!/usr/bin/env python
"""The compiled convolution kernels against im2col + GEMM, layer by layer (not a test).

For the convolution shapes of the registered models at batch 128 it times
``fastcpu.convolution_2d`` forward and backward (data + weight gradients) with
the kernels on and off (``fast_cpu_kernels``) -- and, where the layer runs as
Winograd F(2x2, 3x3), also on the direct kernels (``fast_cpu_winograd`` off,
``kernels_direct_*``) -- interleaved, best of
``--reps``, and reports GFLOP/s (2 x multiply-adds per pass); plus the raw
forward kernel on one thread and OpenBLAS's square sgemm on one and on all
threads, the yardsticks.  Writes JSON with the command, date, commit and
machine: the numbers behind ``fastcpu._direct.limits()`` and docs/speed.md.

    python bench/bench_kernels.py --out docs/results/kernels-$(date +%F).json
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'src'))
sys.path.insert(0, HERE)

import chainer_compare.compat  # noqa: E402,F401  (before chainer)
import chainer  # noqa: E402
import numpy  # noqa: E402

from chainer_compare import fastcpu  # noqa: E402
from chainer_compare.fastcpu import _direct, _layout, _native, _process  # noqa: E402
from chainer_compare.safeio import atomic_write_text  # noqa: E402

# (label, Cin, Cout, input side, kernel side, stride): the models' layers
LAYERS = [
    ('cnn conv1', 3, 64, 32, 5, 1), ('cnn conv2', 64, 64, 16, 5, 1),
    ('cnn conv3', 64, 128, 8, 5, 1), ('ResNet 16ch', 16, 16, 32, 3, 1),
    ('ResNet 16->32 s2', 16, 32, 32, 3, 2), ('ResNet 32ch', 32, 32, 16, 3, 1),
    ('ResNet 64ch', 64, 64, 8, 3, 1), ('vgg 64ch', 64, 64, 32, 3, 1),
    ('vgg 64->128', 64, 128, 16, 3, 1), ('vgg 128ch', 128, 128, 16, 3, 1),
    ('vgg 128->256', 128, 256, 8, 3, 1), ('vgg 256ch', 256, 256, 8, 3, 1),
]


def best_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def time_layer(c_in, c_out, size, k, stride, batch, reps, kernels, winograd=True):
    rng = numpy.random.RandomState(0)
    x = rng.standard_normal((batch, size, size, c_in)).astype(numpy.float32).transpose(0, 3, 1, 2)
    W = (rng.standard_normal((c_out, c_in, k, k)) / numpy.sqrt(c_in * k * k)).astype(numpy.float32)
    with chainer.using_config('fast_cpu_kernels', kernels), \
            chainer.using_config('fast_cpu_winograd', winograd):
        x_var, W_var = chainer.Variable(x, requires_grad=c_in > 3), chainer.Variable(W)
        def forward():
            return fastcpu.convolution_2d(x_var, W_var, None, stride=stride, pad=k // 2)
        forward_ms = best_ms(forward, reps)
        y = forward()
        gy = rng.standard_normal(y.shape).astype(numpy.float32)

        def backward():
            x_var.cleargrad()
            W_var.cleargrad()
            y.grad = gy
            y.backward()
        return forward_ms, best_ms(backward, reps), y.shape


def gemm_gflops(n, threads, reps):
    """Square sgemm on ``threads`` BLAS threads (None: all, as BLAS was before the fast path)."""
    from threadpoolctl import threadpool_limits
    a = numpy.random.rand(n, n).astype(numpy.float32)
    with _process.blas_threads_restored(), threadpool_limits(threads):
        return 2 * n ** 3 / best_ms(lambda: a @ a, reps) / 1e6


def raw_forward_gflops(c_in, c_out, size, k, batch, reps):
    """The forward kernel alone on one thread (no padding copy, no Chainer)."""
    lib = _native.library()
    p = k // 2
    xp = numpy.random.rand(batch, size + 2 * p, size + 2 * p, c_in).astype(numpy.float32)
    w = numpy.random.rand(k, k, c_in, c_out).astype(numpy.float32)
    y = numpy.empty((batch, size, size, c_out), numpy.float32)
    ms = best_ms(lambda: lib.conv_forward(
        xp.ctypes.data, w.ctypes.data, None, y.ctypes.data, 0, batch, size + 2 * p,
        size + 2 * p, c_in, k, k, 1, 1, size, size, c_out, size * size * c_out, size * c_out,
        c_out), reps)
    return 2 * batch * size * size * c_out * c_in * k * k / ms / 1e6


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--batch', type=int, default=128, help='minibatch (default 128)')
    p.add_argument('--reps', type=int, default=5,
                   help='timed calls per variant, best kept (default 5)')
    p.add_argument('--out', help='write the results as JSON here (default: print only)')
    p.add_argument('--all-layers', action='store_true',
                   help='time the kernels on every layer, also beyond _direct.limits() '
                        '(where the rule sends a layer to im2col + GEMM; uses_kernels says so)')
    args = p.parse_args(argv)
    if _native.library() is None:
        p.error('the compiled kernels are unavailable: ' + _native.unavailable_reason())
    from bench_env import environment, provenance
    rows = []
    original_limits, rule = _direct.limits, _direct.limits()
    for label, c_in, c_out, size, k, stride in LAYERS:
        row = {'layer': label, 'cin': c_in, 'cout': c_out, 'size': size, 'k': k,
               'stride': stride, 'uses_kernels': _direct.applies(
                   numpy.zeros(1, numpy.float32), numpy.zeros((c_out, c_in, k, k), numpy.float32),
                   None)}
        if args.all_layers:
            _direct.limits = lambda pass_='forward': (1 << 30, 1 << 30)
        row['winograd'] = (k, stride) == (3, 1) and _direct.winograd_applies(c_in, c_out)
        variants = [('kernels', True, True), ('im2col_gemm', False, True)]
        if row['winograd']:
            variants.insert(1, ('kernels_direct', True, False))
        for name, kernels, winograd in variants:
            fwd, bwd, shape = time_layer(c_in, c_out, size, k, stride, args.batch, args.reps,
                                         kernels, winograd)
            # direct-convolution FLOPs for every variant (Winograd does fewer)
            gflop = 2 * numpy.prod(shape) * c_in * k * k / 1e9
            passes = 2 if c_in > 3 else 1  # the first layer has no data gradient
            row[name + '_forward_gflops'] = round(gflop / fwd * 1e3, 1)
            row[name + '_backward_gflops'] = round(passes * gflop / bwd * 1e3, 1)
        _direct.limits = original_limits
        if stride == 1:
            row['kernel_forward_1thread_gflops'] = round(
                raw_forward_gflops(c_in, c_out, size, k, args.batch, args.reps), 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    env = environment()
    env['kernel_threads'] = _native.threads()
    env['kernel_limits'] = {pass_: {'max_in_channels': limit[0], 'max_depth': limit[1]}
                            for pass_, limit in (('forward', rule),
                                                 ('data_gradient', _direct.limits('data_gradient')))}
    env['kernel_limits']['wide_tiles'] = bool(_native.library().conv_wide_tiles())
    env['winograd_min_channels'] = _direct.WINOGRAD_MIN_CHANNELS
    result = {'provenance': dict(provenance('bench_kernels.py', env), file=args.out,
                                 command='python bench/bench_kernels.py ' + ' '.join(
                                     argv if argv is not None else sys.argv[1:])),
              'batch': args.batch,
              'sgemm_2048_gflops': {'1 thread': round(gemm_gflops(2048, 1, args.reps), 1),
                                    'all threads': round(gemm_gflops(2048, None, args.reps), 1)},
              'layers': rows, 'environment': env}
    print(json.dumps(result['sgemm_2048_gflops']))
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=1) + '\n')


if __name__ == '__main__':
    main()
