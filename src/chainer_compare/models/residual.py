"""Seed 004's residual network with stochastic depth and swapout, ``residual``.

Source: shared/seeds/004_201a1022eb97dcdc.txt (classes ``ResidualBlock`` and
``ResidualNet`` of github.com/dsanno/chainer-cifar).
"""
import chainer
import chainer.functions as F
from chainer import initializers

from chainer_compare.models import ops
from chainer_compare.models.blocks import (ConvBlock, dropout,
                                           global_average_pooling, pooled_size,
                                           random_uniform)
from chainer_compare.models.registry import register_model

#: Blocks per stage when ``--res_depth`` is not given: seed 004's default
#: (``ResidualNet(depth=18)`` and its train.py), i.e. the 110-layer network.
#: The article's runs pass ``--res_depth 12`` (74 layers).
DEFAULT_RES_DEPTH = 18
#: Largest skip probability (the deepest block) with ``--skip_depth``.
MAX_SKIP_RATIO = 0.5


def skip_ratios(res_depth):
    """Skip probability of each block, in order, for stochastic depth.

    Seed 004: 0 for the first block rising linearly to 0.5 for the last, over
    the blocks that keep the shape; the two downsampling blocks never skip.
    """
    stride2 = downsampling_indices(res_depth)
    n_plain = 3 * res_depth - len(stride2)
    ratios, k = [], 0
    for index in range(3 * res_depth):
        if index in stride2:
            ratios.append(0.0)
            continue
        ratios.append(MAX_SKIP_RATIO * k / (n_plain - 1) if n_plain > 1 else 0.0)
        k += 1
    return ratios


def downsampling_indices(res_depth):
    """Block indices that halve the map and double the channels (first of stages 2, 3)."""
    return (res_depth, 2 * res_depth)


class ResidualBlock(chainer.Chain):
    """conv3-BN-ReLU-conv3-BN plus the shortcut, then ReLU (seed 004).

    ``skip_ratio`` > 0: in training the whole residual branch is skipped for
    the minibatch with that probability (one draw from the global RNG per
    block per minibatch); at test time the branch is scaled by
    ``1 - skip_ratio``.  ``swapout``: in training, branch and shortcut each
    pass through their own dropout(0.5) before the sum (the seed's
    experimental swapout).  Convolutions use He normal initialization (the
    seed's Chainer 1 ``wscale=sqrt(2)``), with biases as in the seed.
    """

    def __init__(self, in_channels, out_channels, stride=1, skip_ratio=0.0,
                 swapout=False):
        super().__init__()
        self.out_channels, self.stride = out_channels, stride
        self.skip_ratio, self.swapout = skip_ratio, swapout
        init = initializers.HeNormal()
        with self.init_scope():
            self.conv1 = ops.Convolution2D(in_channels, out_channels, 3, stride,
                                           1, initialW=init)
            self.bn1 = ops.BatchNormalization(out_channels)
            self.conv2 = ops.Convolution2D(out_channels, out_channels, 3, 1, 1,
                                           initialW=init)
            self.bn2 = ops.BatchNormalization(out_channels)

    def forward(self, x):
        # Seed 004's parameter-free shortcut: zero channels prepended, 1x1 avg-pool stride 2.
        shortcut = ops.zero_pad_subsample(x, self.out_channels, self.stride)
        train = chainer.config.train
        if train and self.skip_ratio > 0:
            xp = chainer.backend.get_array_module(x)
            if random_uniform(xp) < self.skip_ratio:
                # The input is a ReLU output, so this equals relu(shortcut).
                return chainer.as_variable(shortcut)
        h = ops.convolution_batch_normalization(self.conv1, self.bn1, x, relu=True)
        h = ops.convolution_batch_normalization(self.conv2, self.bn2, h)
        if not train and self.skip_ratio > 0:
            h = h * (1.0 - self.skip_ratio)
        if self.swapout:
            return F.relu(dropout(h, 0.5) + dropout(shortcut, 0.5))
        return ops.add_relu(h, shortcut)


# Recipe of seed 004: Momentum SGD, lr 0.1.
@register_model('residual', default_optimizer='sgd', default_lr=0.1)
class ResidualNet(chainer.Chain):
    """Seed 004's ResNet: conv3-BN-ReLU, 3 stages of ``res_depth`` residual blocks, GAP, FC.

    Stages have 16, 32, 64 channels (times ``res_width``); stages 2 and 3 start
    with a stride-2 block.  ``res_depth`` n gives 6n+2 weighted layers (12 →
    74, the article's net; 18 → 110, the default).  ``skip_depth``: stochastic
    depth with skip probability linear from 0 (first block) to 0.5 (last).
    ``swapout``: seed 004's experimental swapout.  The final average pooling
    covers the whole map (8×8 for 32-pixel inputs as in the seed, 7×7 for 28).

    Source: seed 004 (Chainer CIFAR-10 study).  Reported on CIFAR-10 with
    ``--res_depth 12``, MomentumSGD lr 0.1, batch 128, 300 epochs, lr ×0.1 every
    100, crop+mirror augmentation: 8.06% test error; with ``--skip_depth``
    7.42%.
    """

    options = ('res_depth', 'res_width', 'skip_depth', 'swapout')

    def __init__(self, in_channels, image_size, n_classes,
                 res_depth=DEFAULT_RES_DEPTH, res_width=1, skip_depth=False,
                 swapout=False):
        super().__init__()
        for flag, value in (('--res_depth', res_depth), ('--res_width', res_width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError('{} must be a positive integer, got {!r}'
                                 .format(flag, value))
        if pooled_size(pooled_size(image_size, 3, 2, 1, False), 3, 2, 1, False) < 1:
            raise ValueError('image size {} is too small'.format(image_size))
        self.res_depth, self.res_width = res_depth, res_width
        self.skip_depth, self.swapout = bool(skip_depth), bool(swapout)
        widths = [16 * res_width, 32 * res_width, 64 * res_width]
        ratios = skip_ratios(res_depth) if skip_depth else [0.0] * (3 * res_depth)
        stride2 = downsampling_indices(res_depth)
        with self.init_scope():
            self.bconv1 = ConvBlock(in_channels, widths[0], 3, 1, 1, batchnorm=True)
            self.blocks = chainer.ChainList()
            channels = widths[0]
            for index, ratio in enumerate(ratios):
                out_channels = widths[index // res_depth]
                self.blocks.append(ResidualBlock(
                    channels, out_channels, 2 if index in stride2 else 1,
                    skip_ratio=ratio, swapout=self.swapout))
                channels = out_channels
            self.fc = ops.Linear(channels, n_classes)

    def forward(self, x):
        h = self.bconv1(x)
        for block in self.blocks.children():
            h = block(h)
        return self.fc(global_average_pooling(h))
