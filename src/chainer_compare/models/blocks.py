"""Building blocks shared by the model families.

* :func:`dropout` draws its mask from NumPy's / CuPy's *global* RNG (never
  cuDNN's private dropout state), so the trainer's snapshot of the RNG states
  makes a resumed run bit-identical to an uninterrupted one.
* :class:`ConvBlock` is convolution (through :mod:`.ops`, so the fast CPU path
  applies) + optional batch normalization + activation, in either order.
* :class:`ConvStages` stacks "stages" (a few ConvBlocks, then pooling and
  dropout) and computes the output size by arithmetic, so every model knows
  its flatten size before the first forward pass: parameters exist at
  construction, which optimizer setup and ChainerMN's broadcast rely on.
"""
import collections

import chainer
import chainer.functions as F
import chainer.links as L
import numpy
from chainer.utils import conv as conv_utils

from chainer_compare.fastcpu import random as fastcpu_random
from chainer_compare.models import ops


def dropout(x, ratio):
    """``F.dropout`` whose mask comes from the global NumPy/CuPy RNG.

    Identity in test mode (``chainer.config.train`` False) or for ratio 0.
    """
    if not chainer.config.train or ratio == 0:
        return x
    arr = x.array if isinstance(x, chainer.Variable) else x
    xp = chainer.backend.get_array_module(arr)
    # The mask in x's memory layout (channels-last on the fast CPU path), so
    # that x * mask keeps it and the next layer needs no conversion.  On NumPy
    # the compiled kernels draw it when they can: the same numbers from the
    # same stream, about 3x faster (fastcpu/random.py).
    mask = fastcpu_random.dropout_mask(arr, ratio) if xp is numpy else None
    if mask is None:
        if xp is numpy:
            uniform = numpy.random.random_sample(arr.shape)
        else:  # CuPy can draw float32 directly (half the memory)
            uniform = xp.random.random_sample(arr.shape, dtype=numpy.float32)
        mask = xp.empty_like(arr)
        xp.multiply(uniform >= ratio, arr.dtype.type(1.0 / (1.0 - ratio)), out=mask)
    return F.dropout(x, ratio, mask=mask)


def random_uniform(xp):
    """One draw in [0, 1) from the global RNG of ``xp`` (numpy or cupy)."""
    return float(xp.random.rand())


def pooled_size(size, ksize, stride=None, pad=0, cover_all=True):
    """Output side length of a convolution/pooling (Chainer's formula)."""
    return conv_utils.get_conv_outsize(size, ksize, stride or ksize, pad,
                                       cover_all=cover_all)


def global_average_pooling(h):
    """(N, C, H, W) → (N, C): average over the whole feature map."""
    h = ops.average_pooling_2d(h, h.shape[2:])
    return F.reshape(h, h.shape[:2])


class ConvBlock(chainer.Chain):
    """Convolution + optional BatchNormalization + activation.

    ``bn_after_activation`` gives Keras-article order conv → act → BN (seed
    001); the default is conv → BN → act (seed 004's ``BatchConv2D``).
    ``activation=None`` leaves the output linear.  ``bn_options`` go to
    ``L.BatchNormalization`` (e.g. ``decay``/``eps`` to match Keras).
    """

    def __init__(self, in_channels, out_channels, ksize, stride=1, pad=0,
                 activation=F.relu, batchnorm=False, bn_after_activation=False,
                 initialW=None, bn_options=None):
        super().__init__()
        self.activation = activation
        self.bn_after_activation = bn_after_activation
        with self.init_scope():
            self.conv = ops.Convolution2D(in_channels, out_channels, ksize,
                                          stride, pad, initialW=initialW)
            self.bn = (ops.BatchNormalization(out_channels, **(bn_options or {}))
                       if batchnorm else None)

    def forward(self, x):
        if (self.bn is not None and not self.bn_after_activation
                and self.activation in (F.relu, None)):
            # One fused node on CPU (one convolution in evaluation).
            return ops.convolution_batch_normalization(self.conv, self.bn, x,
                                                       relu=self.activation is F.relu)
        h = self.conv(x)
        if self.bn is not None and not self.bn_after_activation:
            h = self.bn(h)
        if self.activation is F.relu:
            h = ops.relu(h)
        elif self.activation is not None:
            h = self.activation(h)
        if self.bn is not None and self.bn_after_activation:
            h = self.bn(h)
        return h


Stage = collections.namedtuple('Stage', 'channels pool dropout')
Stage.__doc__ = """One stage of :class:`ConvStages`.

channels: output channels of each ConvBlock in the stage, e.g. ``(64, 64)``.
pool: ``(ksize, stride, cover_all)`` of the max pooling after the blocks, or None.
dropout: ratio of the dropout after the pooling (0 for none).
"""


class ConvStages(chainer.ChainList):
    """Stages of same-kernel ConvBlocks, each followed by max pooling + dropout.

    ``out_channels`` and ``out_size`` (side length after the last stage) are
    computed here by arithmetic; ``flat_size`` is what a following Linear sees.
    ``block_options`` go to every :class:`ConvBlock` (activation, batchnorm,
    initialW, ...).
    """

    def __init__(self, in_channels, image_size, stages, ksize, pad,
                 **block_options):
        super().__init__()
        self.stages = tuple(stages)
        channels, size = in_channels, image_size
        for stage in self.stages:
            blocks = chainer.ChainList()
            for out_channels in stage.channels:
                blocks.append(ConvBlock(channels, out_channels, ksize, 1, pad,
                                        **block_options))
                channels = out_channels
                size = pooled_size(size, ksize, 1, pad, cover_all=False)
            if stage.pool is not None:
                pool_ksize, pool_stride, cover_all = stage.pool
                size = pooled_size(size, pool_ksize, pool_stride, 0, cover_all)
            self.append(blocks)
        if size < 1:
            raise ValueError('image size {} is too small for this model'
                             .format(image_size))
        self.out_channels, self.out_size = channels, size
        self.flat_size = channels * size * size

    def forward(self, x):
        h = x
        for stage, blocks in zip(self.stages, self.children()):
            for block in blocks.children():
                h = block(h)
            if stage.pool is not None:
                pool_ksize, pool_stride, cover_all = stage.pool
                h = ops.max_pooling_2d(h, pool_ksize, pool_stride,
                                       cover_all=cover_all)
            h = dropout(h, stage.dropout)
        return h


def weighted_layers(model):
    """The Convolution2D and Linear links of ``model`` (how papers count depth)."""
    return [link for link in model.links()
            if isinstance(link, (L.Convolution2D, L.Linear))]


def count_parameters(model):
    """Number of scalar parameters (all initialized at construction)."""
    return sum(param.size for param in model.params())
