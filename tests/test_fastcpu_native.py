"""Building and loading the compiled kernels (fastcpu/_native.py) as a fresh process sees it."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = '''
import sys, warnings
sys.path.insert(0, {src!r})
import chainer_compare.compat, numpy, chainer
from chainer_compare.fastcpu import _native, convolution_2d
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    lib = _native.library()
x = numpy.ones((2, 16, 5, 5), numpy.float32)
W = numpy.ones((16, 16, 3, 3), numpy.float32)
y = convolution_2d(x, W, None, pad=1).array
print('loaded', lib is not None)
print('center', float(y[0, 0, 2, 2]))
print('warnings', [str(w.message) for w in caught])
'''


def _probe(tmp_path, **env):
    full_env = dict(os.environ, CHAINER_COMPARE_CACHE=str(tmp_path / 'cache'), **env)
    child = subprocess.run([sys.executable, '-c', PROBE.format(src=os.path.join(ROOT, 'src'))],
                           capture_output=True, text=True, env=full_env, timeout=120)
    assert child.returncode == 0, child.stderr
    return dict(line.split(' ', 1) for line in child.stdout.splitlines())


@pytest.mark.requires('kernels')
def test_kernels_are_built_once_into_the_cache_and_loaded(tmp_path):
    first = _probe(tmp_path)
    assert first['loaded'] == 'True' and first['warnings'] == '[]'
    assert first['center'] == '144.0'  # 3x3 window x 16 channels of ones
    built = os.listdir(tmp_path / 'cache')
    assert len(built) == 1 and built[0].startswith('kernels-') and built[0].endswith('.so')
    mtime = os.path.getmtime(tmp_path / 'cache' / built[0])
    assert _probe(tmp_path)['loaded'] == 'True'  # the second process reuses it
    assert os.listdir(tmp_path / 'cache') == built
    assert os.path.getmtime(tmp_path / 'cache' / built[0]) == mtime


def test_without_a_compiler_the_numpy_path_runs_with_one_warning(tmp_path):
    result = _probe(tmp_path, CC=str(tmp_path / 'no-such-cc'))
    assert result['loaded'] == 'False'
    assert 'compiled kernels unavailable' in result['warnings']
    assert 'using NumPy + BLAS' in result['warnings']
    assert result['center'] == '144.0'
    assert not os.path.exists(tmp_path / 'cache') or not os.listdir(tmp_path / 'cache')


def test_switch_off_by_environment_is_silent(tmp_path):
    result = _probe(tmp_path, CHAINER_COMPARE_NATIVE='0')
    assert result == {'loaded': 'False', 'center': '144.0', 'warnings': '[]'}


def test_a_failing_compile_is_reported_and_leaves_no_partial_library(tmp_path):
    fake_cc = tmp_path / 'bad-cc'
    fake_cc.write_text('#!/bin/sh\n[ "$1" = --version ] && echo fake 1.0 && exit 0\n'
                       'echo "kernels.c:1: error: broken" >&2; exit 1\n')
    fake_cc.chmod(0o755)
    result = _probe(tmp_path, CC=str(fake_cc))
    assert result['loaded'] == 'False' and 'error: broken' in result['warnings']
    assert os.listdir(tmp_path / 'cache') == []


TILES_PROBE = '''
import sys
sys.path.insert(0, {src!r})
import chainer_compare.compat, numpy, chainer, chainer.functions as F
from chainer_compare.fastcpu import _direct, _native, convolution_2d
lib = _native.library()
print('wide', lib.conv_wide_tiles())
_direct.limits = lambda pass_='forward': (1 << 30, 1 << 30)  # every layer on the kernels
rng = numpy.random.RandomState(0)
worst = 0.0
# 16/32/64/128-channel blocks, 5x5, stride 2, a row wider than any tile, and
# Winograd (3x3 stride 1, 64+ channels; 96 outputs: 16-channel blocks, odd size)
for c_in, c_out, size, k, stride in [(16, 16, 30, 3, 1), (32, 32, 9, 3, 1), (64, 64, 8, 3, 2),
                                     (64, 128, 8, 5, 1), (128, 64, 6, 3, 1), (3, 32, 7, 3, 1),
                                     (64, 96, 7, 3, 1)]:
    assert _direct.applies(numpy.zeros(1, numpy.float32),
                           numpy.zeros((c_out, c_in, k, k), numpy.float32), None)
    x = rng.standard_normal((3, c_in, size, size)).astype(numpy.float32)
    W = rng.standard_normal((c_out, c_in, k, k)).astype(numpy.float32)
    grads = []
    for conv in (convolution_2d, F.convolution_2d):
        xv, Wv = chainer.Variable(x), chainer.Variable(W)
        y = conv(xv, Wv, None, stride=stride, pad=k // 2)
        y.grad = numpy.cos(numpy.arange(y.size, dtype=numpy.float32)).reshape(y.shape)
        y.backward()
        grads.append((y.array, xv.grad, Wv.grad))
    for fast, stock in zip(*grads):
        worst = max(worst, float(numpy.abs(fast - stock).max() / numpy.abs(stock).max()))
print('worst', worst)
'''


@pytest.mark.requires('kernels')
@pytest.mark.parametrize('cflags,wide', [('', None), ('-DVC=8', 0), ('-mno-avx512f', 0)],
                         ids=['native', '8-float-tiles', 'avx2'])
def test_every_tile_build_matches_chainer(tmp_path, cflags, wide):
    """The default build and the other tile configurations (built here with extra
    flags) compute the same convolutions and gradients as Chainer."""
    env = dict(os.environ, CHAINER_COMPARE_CACHE=str(tmp_path / 'cache'),
               CHAINER_COMPARE_CFLAGS=cflags)
    child = subprocess.run([sys.executable, '-c', TILES_PROBE.format(src=os.path.join(ROOT, 'src'))],
                           capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode == 0, child.stderr
    result = dict(line.split(' ', 1) for line in child.stdout.splitlines())
    if wide is not None:
        assert int(result['wide']) == wide
    assert float(result['worst']) < 1e-5


@pytest.mark.requires('kernels')
def test_pool_runs_thousands_of_back_to_back_jobs_exactly_once_per_element():
    """Workers arriving late to a job must never run a chunk of the next one,
    nor one chunk twice: every element of every job is written exactly once."""
    import numpy
    from chainer_compare.fastcpu import _native
    rng = numpy.random.RandomState(0)
    for size in rng.randint(1, 5000, 3000):
        x = rng.standard_normal(size).astype(numpy.float32)
        out = numpy.full(size, numpy.nan, numpy.float32)
        _native.run('relu_forward', size, x, out)
        numpy.testing.assert_array_equal(out, numpy.maximum(x, 0))
        counts = numpy.zeros(size, numpy.int64)

        def count(lo, hi):
            counts[lo:hi] += 1
        _native.split_batch(int(size), count)
        assert (counts == 1).all()


@pytest.mark.requires('kernels')
def test_pool_serves_several_calling_threads_and_a_forked_child():
    """Jobs from two Python threads at once are run one after the other; a
    child forked after the workers started runs kernels on its own workers."""
    import threading
    import numpy
    from chainer_compare.fastcpu import _native
    x = numpy.arange(-50000, 50000, dtype=numpy.float32)
    errors = []

    def hammer():
        try:
            for _ in range(300):
                out = numpy.empty_like(x)
                _native.run('relu_forward', x.size, x, out)
                numpy.testing.assert_array_equal(out, numpy.maximum(x, 0))
        except AssertionError as error:
            errors.append(error)
    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: kernels on freshly started workers, result through the pipe
        ok = True
        try:
            for _ in range(50):
                out = numpy.empty_like(x)
                _native.run('relu_forward', x.size, x, out)
                ok = ok and bool((out == numpy.maximum(x, 0)).all())
            if _native.threads() > 1:  # the child's own workers were started
                ok = ok and len(os.listdir('/proc/self/task')) >= _native.threads()
        finally:
            os.write(write, b'1' if ok else b'0')
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b'1'
    os.waitpid(pid, 0)


def test_one_thread_runs_one_chunk(monkeypatch):
    from chainer_compare.fastcpu import _native
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    assert _native.chunks(1000) == 1
    assert _native.split_batch(1000, lambda lo, hi: (lo, hi)) == [(0, 1000)]
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    assert _native.chunks(1000) == 2 * _native._threads.CHUNKS_PER_THREAD
    assert _native.chunks(3) == 3


_MASK_CASES = [((8, 64, 16, 16), 0.25, 0), ((3, 5, 7, 9), 0.5, 1), ((1000,), 0.5, 623),
               ((7, 1025), 0.1, 5), ((5, 313), 0.3, 3), ((2, 3, 4, 5), 0.5, 624),
               ((1,), 0.5, 623), ((313,), 0.5, 1), ((2, 16, 3, 3), 0.999, 10)]


@pytest.mark.requires('kernels')
@pytest.mark.parametrize('shape,ratio,drawn_before,layout', [
    case + (layout,) for case in _MASK_CASES
    for layout in (('C', 'channels-last') if len(case[0]) == 4 else ('C',))])
def test_dropout_mask_is_numpys_draw_bit_for_bit(shape, ratio, drawn_before, layout):
    """The kernels' mask equals (random_sample(shape) >= ratio) * scale from the
    global stream at any position, in the input's memory layout, and leaves the
    stream exactly where NumPy's draw would."""
    import numpy
    from chainer_compare.fastcpu import random as fast_random
    like = numpy.zeros(shape, numpy.float32)
    if layout == 'channels-last':
        like = like.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)
    numpy.random.seed(3)
    numpy.random.random_sample(drawn_before)
    mask = fast_random.dropout_mask(like, ratio)
    after = numpy.random.random_sample(7)
    numpy.random.seed(3)
    numpy.random.random_sample(drawn_before)
    expected = ((numpy.random.random_sample(shape) >= ratio)
                * numpy.float32(1 / (1 - ratio))).astype(numpy.float32)
    numpy.testing.assert_array_equal(mask, expected)
    assert mask.strides == like.strides
    numpy.testing.assert_array_equal(after, numpy.random.random_sample(7))
    assert fast_random.dropout_mask(like.astype(numpy.float64), ratio) is None  # NumPy draws


@pytest.mark.requires('kernels')
def test_a_kernel_called_from_inside_a_pool_chunk_runs_there():
    """Python work on the pool that itself calls a kernel (nested jobs) completes,
    on the calling chunk's thread, with the right result."""
    import numpy
    from chainer_compare.fastcpu import _native
    x = numpy.arange(-3000, 3000, dtype=numpy.float32).reshape(60, 100)
    out = numpy.empty_like(x)

    def rows(lo, hi):
        _native.run('relu_forward', (hi - lo) * 100, x[lo:hi], out[lo:hi])
        return hi - lo
    assert sum(_native.split_batch(60, rows)) == 60
    numpy.testing.assert_array_equal(out, numpy.maximum(x, 0))
