"""PyTorch twins of the benchmarked Chainer models (same layers, shapes and options).

Only for ``bench/run_bench.py``: the point is an identical architecture so that
images/s compare the frameworks, not the networks.  Matching details:

* every convolution has a bias (Chainer's ``L.Convolution2D`` default), also
  before BatchNormalization;
* Chainer's max pooling with ``cover_all=True`` equals PyTorch's
  ``ceil_mode=True`` for these sizes (32 -> 16 -> 8 -> 4 with 3x3 stride 2);
* the residual shortcut prepends zero channels and subsamples with a 1x1
  stride-2 average pooling (seed 004), i.e. ``x[:, :, ::2, ::2]``;
* dropout ratios and places as in ``chainer_compare.models``;
* stochastic depth (``skip_depth``) takes the skip probabilities from the
  Chainer model's own ``skip_ratios`` and draws, like it, one number per
  block per minibatch from NumPy's global RNG, so seeding NumPy gives both
  frameworks the same skipped blocks (bench/speed.py seeds every step).
"""
import numpy
import torch
from torch import nn
import torch.nn.functional as F

from chainer_compare.models.residual import skip_ratios


def conv_block(c_in, c_out, ksize, pad, batchnorm, stride=1, relu=True):
    layers = [nn.Conv2d(c_in, c_out, ksize, stride=stride, padding=pad, bias=True)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out))
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return layers


class SeedCNN(nn.Module):
    """``cnn`` / ``cnnbn``: 3 x (conv5 [+BN] + ReLU + maxpool 3/2 ceil), drop, fc1000, drop, fc."""

    def __init__(self, in_channels=3, n_classes=10, batchnorm=False, image_size=32):
        super().__init__()
        layers, channels = [], in_channels
        for out_channels in (64, 64, 128):
            layers += conv_block(channels, out_channels, 5, 2, batchnorm)
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            channels = out_channels
        layers.append(nn.Dropout(0.5))
        self.features = nn.Sequential(*layers)
        size = image_size
        for _ in range(3):
            size = -(-(size - 3) // 2) + 1
        self.fc1 = nn.Linear(128 * size * size, 1000)
        self.fc2 = nn.Linear(1000, n_classes)

    def forward(self, x):
        h = torch.flatten(self.features(x), 1)
        h = F.relu(self.fc1(h))
        return self.fc2(F.dropout(h, 0.5, self.training))


class VGG(nn.Module):
    """``vgg``: conv3-BN-ReLU stages (64,64 | 128,128 | 256x4), 2x2 pool + drop 0.25, 3 FC."""

    def __init__(self, in_channels=3, n_classes=10, image_size=32):
        super().__init__()
        layers, channels, size = [], in_channels, image_size
        for stage in ((64, 64), (128, 128), (256, 256, 256, 256)):
            for out_channels in stage:
                layers += conv_block(channels, out_channels, 3, 1, True)
                channels = out_channels
            layers += [nn.MaxPool2d(2, 2, ceil_mode=True), nn.Dropout(0.25)]
            size = -(-size // 2)
        self.features = nn.Sequential(*layers)
        self.fc4 = nn.Linear(256 * size * size, 1024)
        self.fc5 = nn.Linear(1024, 1024)
        self.fc6 = nn.Linear(1024, n_classes)

    def forward(self, x):
        h = torch.flatten(self.features(x), 1)
        h = F.relu(self.fc4(F.dropout(h, 0.5, self.training)))
        h = F.relu(self.fc5(F.dropout(h, 0.5, self.training)))
        return self.fc6(h)


class ResidualBlock(nn.Module):
    """As Chainer's: with ``skip_ratio`` > 0 a training step skips the branch with that
    probability and evaluation scales the branch by ``1 - skip_ratio``."""

    def __init__(self, c_in, c_out, stride, skip_ratio=0.0):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        self.skip_ratio = skip_ratio
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x):
        shortcut = x
        if self.c_out > self.c_in:
            zeros = x.new_zeros((x.shape[0], self.c_out - self.c_in) + tuple(x.shape[2:]))
            shortcut = torch.cat((zeros, shortcut), 1)
        if self.stride != 1:
            shortcut = shortcut[:, :, ::self.stride, ::self.stride]
        if self.training and self.skip_ratio > 0 and numpy.random.rand() < self.skip_ratio:
            return shortcut  # x is a ReLU output, so this is relu(shortcut), as in Chainer
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        if not self.training and self.skip_ratio > 0:
            h = h * (1.0 - self.skip_ratio)
        return F.relu(h + shortcut)


class ResidualNet(nn.Module):
    """``residual`` (no swapout): 6n+2 layers (n=3: ResNet-20, 12: ResNet-74), with
    stochastic depth when ``skip_depth``."""

    def __init__(self, in_channels=3, n_classes=10, res_depth=3, skip_depth=False):
        super().__init__()
        self.stem = nn.Sequential(*conv_block(in_channels, 16, 3, 1, True))
        blocks, channels = [], 16
        ratios = skip_ratios(res_depth) if skip_depth else [0.0] * (3 * res_depth)
        for stage, width in enumerate((16, 32, 64)):
            for index in range(res_depth):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(ResidualBlock(channels, width, stride,
                                            ratios[stage * res_depth + index]))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, n_classes)

    def forward(self, x):
        h = self.blocks(self.stem(x))
        return self.fc(h.mean(dim=(2, 3)))


def create_torch_model(name, in_channels=3, image_size=32, n_classes=10, res_depth=3,
                       skip_depth=False):
    """The PyTorch twin of ``chainer_compare.models.create_model(name, ...)``."""
    if name == 'cnn':
        return SeedCNN(in_channels, n_classes, False, image_size)
    if name == 'cnnbn':
        return SeedCNN(in_channels, n_classes, True, image_size)
    if name == 'vgg':
        return VGG(in_channels, n_classes, image_size)
    if name == 'residual':
        return ResidualNet(in_channels, n_classes, res_depth, skip_depth)
    raise ValueError('no PyTorch twin for model {!r}'.format(name))
