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
# 16/32/64/128-channel blocks, 5x5, stride 2, and a row wider than any tile
for c_in, c_out, size, k, stride in [(16, 16, 30, 3, 1), (32, 32, 9, 3, 1), (64, 64, 8, 3, 2),
                                     (64, 128, 8, 5, 1), (128, 64, 6, 3, 1), (3, 32, 7, 3, 1)]:
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
