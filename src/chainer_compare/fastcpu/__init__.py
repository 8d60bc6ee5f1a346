"""Fast CPU convolution, pooling and batch normalization for Chainer, in plain NumPy.

Stock Chainer 7 spends most of a CPU convolution in ``im2col``, tensordot's
transposes and ``col2im`` rather than in the matrix multiply.  These
FunctionNodes keep activations channels-last in memory (NHWC, exposed to the
rest of Chainer as an ordinary NCHW-shaped view) and do each convolution as
one gather of patches plus one BLAS GEMM per pass; see docs/speed.md.

:mod:`chainer_compare.models.ops` calls these when the input is a NumPy array
and ``chainer.config.fast_cpu`` is True.  Semantics (shapes, ``cover_all``,
padding, average pooling dividing by the full window) are Chainer's.  Double
backward is not supported: it raises a clear error (turn the fast path off
with ``chainer.using_config('fast_cpu', False)`` / ``--no_fast_cpu``).
"""
from chainer_compare.fastcpu.batchnorm import (batch_normalization, convolution_inference,
                                               fixed_batch_normalization)
from chainer_compare.fastcpu.conv import convolution_2d
from chainer_compare.fastcpu.elementwise import add_relu, relu
from chainer_compare.fastcpu.linear import linear
from chainer_compare.fastcpu.pooling import average_pooling_2d, max_pooling_2d
from chainer_compare.fastcpu.shortcut import zero_pad_subsample

AVAILABLE = True

__all__ = ['AVAILABLE', 'add_relu', 'average_pooling_2d', 'batch_normalization',
           'convolution_2d', 'convolution_inference', 'fixed_batch_normalization', 'linear', 'max_pooling_2d', 'relu',
           'zero_pad_subsample']
