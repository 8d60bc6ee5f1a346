"""Winograd F(2x2, 3x3) (fastcpu/winograd.c) against the direct kernels and float64 Chainer.

test_fastcpu.py's convolution cases with 64+ channels (vgg's) already run
through it in the forward pass, the data gradient and the weight gradient;
here every edge the
tiling has is checked on its own: odd and tiny images (partial 2x2 blocks),
non-square ones, pads 0-2 (windows reaching past the image on either side),
the added gradient (``acc``), the ReLU in the store, and blocks of tiles
spanning several images.
"""
import os
import subprocess
import sys

import chainer
import chainer.functions as F
import numpy
import pytest

from chainer_compare.fastcpu import _direct, _native

pytestmark = pytest.mark.requires('kernels')

# (name, n, c_in, c_out, h, w, pad)
CASES = [
    ('vgg-8x8', 3, 256, 256, 8, 8, 1),
    ('odd-7x7', 2, 128, 256, 7, 7, 1),
    ('non-square', 2, 64, 64, 5, 9, 1),
    ('one-pixel', 3, 64, 64, 1, 1, 1),
    ('2x2', 2, 64, 128, 2, 2, 1),
    ('pad0-valid', 2, 64, 64, 9, 6, 0),
    ('pad2', 2, 64, 96, 6, 7, 2),
    ('many-images', 40, 64, 64, 4, 4, 1),  # blocks of tiles cross image boundaries
    ('wide-block', 2, 96, 64, 32, 32, 1),
]


def _arrays(n, c_in, c_out, h, w, seed=0):
    rng = numpy.random.RandomState(seed)
    x = rng.standard_normal((n, h, w, c_in)).astype(numpy.float32)  # NHWC
    W = (rng.standard_normal((c_out, c_in, 3, 3)) / numpy.sqrt(9 * c_in)).astype(numpy.float32)
    b = rng.standard_normal(c_out).astype(numpy.float32)
    return x, W, b


def _reference(x, W, b, pad):
    """float64 Chainer, NHWC out."""
    y = F.convolution_2d(x.transpose(0, 3, 1, 2).astype(numpy.float64), W.astype(numpy.float64),
                         None if b is None else b.astype(numpy.float64), pad=pad).array
    return y.transpose(0, 2, 3, 1)


def _conv(x, W, b, pad, winograd, acc=None, relu=False):
    n, h, w, _ = x.shape
    out_hw = (h + 2 * pad - 2, w + 2 * pad - 2)
    with chainer.using_config('fast_cpu_winograd', winograd):
        kernel_w = _direct.kernel_weights(W)
        return _direct._run(x, kernel_w, b, (1, 1), out_hw, pad=(pad,) * 4, acc=acc, relu=relu)


@pytest.fixture
def kernel_calls(monkeypatch):
    """The names of the kernels _native.run ran."""
    calls, real = [], _native.run

    def spy(kernel, *args, **kwargs):
        calls.append(kernel)
        return real(kernel, *args, **kwargs)
    monkeypatch.setattr(_native, 'run', spy)
    return calls


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize('with_bias', [True, False], ids=['bias', 'nobias'])
def test_winograd_matches_float64_chainer_and_the_direct_kernels(case, with_bias,
                                                                 kernel_calls):
    _, n, c_in, c_out, h, w, pad = case
    x, W, b = _arrays(n, c_in, c_out, h, w)
    b = b if with_bias else None
    expected = _reference(x, W, b, pad)
    got = _conv(x, W, b, pad, winograd=True)
    assert 'winograd_forward' in kernel_calls
    direct = _conv(x, W, b, pad, winograd=False)
    assert kernel_calls.count('winograd_forward') == 1 and 'conv_forward' in kernel_calls
    scale = float(numpy.abs(expected).max())
    # float32 Winograd is no less accurate than the direct sum here (it sums
    # c_in products per element instead of 9 c_in).
    assert numpy.abs(got - expected).max() <= 2e-6 * scale
    assert numpy.abs(got - expected).max() <= 2 * numpy.abs(direct - expected).max() + 1e-7 * scale


@pytest.mark.parametrize('case', [CASES[1], CASES[2], CASES[6]], ids=['odd', 'non-square', 'pad2'])
def test_winograd_adds_acc_then_applies_relu(case):
    _, n, c_in, c_out, h, w, pad = case
    x, W, b = _arrays(n, c_in, c_out, h, w)
    out_h, out_w = h + 2 * pad - 2, w + 2 * pad - 2
    acc = numpy.random.RandomState(1).standard_normal((n, out_h, out_w, c_out)).astype(
        numpy.float32)
    expected = numpy.maximum(_reference(x, W, b, pad) + acc, 0)
    got = _conv(x, W, b, pad, winograd=True, acc=acc, relu=True)
    assert 0.2 < (got > 0).mean() < 0.8
    numpy.testing.assert_allclose(got, expected, atol=2e-6 * float(numpy.abs(expected).max()))


@pytest.mark.parametrize('c_in, c_out, applies', [(64, 64, True), (256, 128, True),
                                                   (32, 64, False), (64, 32, False),
                                                   (72, 64, False), (3, 64, False)])
def test_winograd_applies_to_wide_layers_only(c_in, c_out, applies):
    assert _direct.winograd_applies(c_in, c_out) == applies
    with chainer.using_config('fast_cpu_winograd', False):
        assert not _direct.winograd_applies(64, 64)


def test_environment_switch_turns_winograd_off():
    code = ('import chainer_compare.compat, chainer; from chainer_compare.fastcpu import _direct; '
            'print(chainer.config.fast_cpu_winograd, _direct.winograd_applies(256, 256))')
    for value, expected in (('0', 'False False'), ('1', 'True True'), ('off', 'True True')):
        env = dict(os.environ, CHAINER_COMPARE_WINOGRAD=value)
        child = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                               text=True, check=True)
        assert child.stdout.split() == expected.split()
        # a value it does not know keeps Winograd on, and says so
        assert ("CHAINER_COMPARE_WINOGRAD='off' not understood" in child.stderr) == (
            value == 'off')


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize('with_bias', [True, False], ids=['bias', 'nobias'])
def test_winograd_weight_gradient_matches_float64_chainer(case, with_bias, kernel_calls):
    _, n, c_in, c_out, h, w, pad = case
    x, W, _ = _arrays(n, c_in, c_out, h, w)
    gy = numpy.random.RandomState(2).standard_normal(
        (n, h + 2 * pad - 2, w + 2 * pad - 2, c_out)).astype(numpy.float32)
    x_var = chainer.Variable(x.transpose(0, 3, 1, 2).astype(numpy.float64))
    W_var = chainer.Variable(W.astype(numpy.float64))
    b_var = chainer.Variable(numpy.zeros(c_out))
    y = F.convolution_2d(x_var, W_var, b_var if with_bias else None, pad=pad)
    y.grad = gy.transpose(0, 3, 1, 2).astype(numpy.float64)
    y.backward()
    got = _direct.backward_weights(x, gy, W.shape, (1, 1), (pad, pad), bias=with_bias)
    assert 'winograd_backward_weights' in kernel_calls
    gw, gb = got if with_bias else (got, None)
    assert gw.shape == W.shape and gw.dtype == numpy.float32
    # float32 sums over every tile of a chunk (one chunk of 512 tiles with one
    # thread in 'wide-block'): a few float32 ulps of the largest entry
    numpy.testing.assert_allclose(gw, W_var.grad, atol=5e-6 * float(numpy.abs(W_var.grad).max()))
    if with_bias:
        numpy.testing.assert_allclose(gb, b_var.grad,
                                      atol=5e-6 * float(numpy.abs(b_var.grad).max()))
