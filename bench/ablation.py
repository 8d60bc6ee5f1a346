#!/usr/bin/env python
"""What each design choice of the fast CPU path buys: training step time with one switched off.

Each configuration runs in its own process (the settings are process-wide:
environment variables, or a module constant set before the first step) and
times ``--steps`` training steps of batch 128 after two warm-up steps; the
configurations take turns for ``--rounds`` rounds, so load from other
processes hits them alike, and the median over all steps is reported.

    python bench/ablation.py --out docs/results/ablation-$(date +%F).json

Configurations (each one change from ``all on``):

* ``BLAS threads kept``: NumPy's BLAS keeps its own threads
  (``CHAINER_COMPARE_BLAS_THREADS=keep``; fastcpu/_process.py).
* ``malloc untouched``: glibc's thresholds left alone (``CHAINER_COMPARE_MALLOC=0``).
* ``one chunk per thread``: ``_threads.CHUNKS_PER_THREAD = 1``.
* ``8-float tiles``: the kernels built with ``-DVC=8`` (``CHAINER_COMPARE_CFLAGS``).
* ``one kernel thread``: ``OMP_NUM_THREADS=1``.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'src'))

#: name -> (environment additions, Python run before the first step)
CONFIGS = {
    'all on': ({}, ''),
    'BLAS threads kept': ({'CHAINER_COMPARE_BLAS_THREADS': 'keep'}, ''),
    'malloc untouched': ({'CHAINER_COMPARE_MALLOC': '0'}, ''),
    'one chunk per thread': ({}, 'from chainer_compare.fastcpu import _threads; '
                                 '_threads.CHUNKS_PER_THREAD = 1'),
    '8-float tiles': ({'CHAINER_COMPARE_CFLAGS': '-DVC=8'}, ''),
    'one kernel thread': ({'OMP_NUM_THREADS': '1'}, ''),
}
CHILD = '''
import sys, time, json
sys.path[:0] = [{src!r}, {bench!r}]
import speed
{setup}
x, t = speed.synthetic_batch(128)
step = speed.chainer_step({model!r}, {{'res_depth': 3}}, x, t, fast_cpu=True)
step(10000); step(10001)
times = []
for i in range({steps}):
    start = time.perf_counter()
    step(i)
    times.append(time.perf_counter() - start)
from chainer_compare.fastcpu import _native, _process, _threads
settings = {{'threads': _threads.threads(), 'chunks_per_thread': _threads.CHUNKS_PER_THREAD,
            'blas_single_threaded': _process.single_threaded_blas(),
            'malloc_keeps_freed': _process.keep_freed_memory(),
            'wide_tiles': bool(_native.library().conv_wide_tiles())}}
print(json.dumps({{'times': times, 'settings': settings}}))
'''


def run_config(name, model, steps):
    """(step times, the settings the child process ran with) of one configuration."""
    env_add, setup = CONFIGS[name]
    env = dict(os.environ, **env_add)
    if 'OMP_NUM_THREADS' not in env_add:
        env.pop('OMP_NUM_THREADS', None)
    code = CHILD.format(src=os.path.join(ROOT, 'src'), bench=HERE, setup=setup, model=model,
                        steps=steps)
    child = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                           env=env, timeout=1800)
    if child.returncode != 0:
        sys.exit('ablation: {} / {} failed: {}'.format(model, name, child.stderr[-2000:]))
    result = json.loads(child.stdout.strip().splitlines()[-1])
    return result['times'], result['settings']


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--models', default='residual,cnn',
                   help='comma-separated models (default residual,cnn; residual is ResNet-20)')
    p.add_argument('--steps', type=int, default=4, help='timed steps per process (default 4)')
    p.add_argument('--rounds', type=int, default=3, help='processes per configuration (default 3)')
    p.add_argument('--out', help='write the results as JSON here (default: print only)')
    args = p.parse_args(argv)
    from bench_env import environment, provenance
    from chainer_compare.safeio import atomic_write_text
    rows = []
    for model in args.models.split(','):
        times, settings = {name: [] for name in CONFIGS}, {}
        for _ in range(args.rounds):
            for name in CONFIGS:
                step_times, settings[name] = run_config(name, model, args.steps)
                times[name] += step_times
        base = statistics.median(times['all on'])
        for name in CONFIGS:
            median = statistics.median(times[name])
            rows.append({'model': model, 'config': name, 'median_step_s': round(median, 4),
                         'images_per_s': round(128 / median, 1),
                         'vs_all_on': round(median / base, 2), 'steps': len(times[name]),
                         'settings': settings[name]})
            print('{:9s} {:22s} {:.3f} s/step  {:6.1f} images/s  x{:.2f}'.format(
                model, name, median, 128 / median, median / base), flush=True)
    env = environment()
    command = 'python bench/ablation.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    result = {'provenance': dict(provenance('ablation.py', env), file=args.out, command=command),
              'batch': 128, 'rows': rows, 'environment': env}
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=1) + '\n')


if __name__ == '__main__':
    main()
