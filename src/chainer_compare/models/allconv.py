"""Seed 000's All-Convolutional Net, ``allconv``.

Source: shared/seeds/000_43df14b0aa5a448f.txt (a Keras implementation of
Springenberg et al., "Striving for Simplicity: The All Convolutional Net",
arXiv:1412.6806, model All-CNN-C).
"""
import chainer
import chainer.functions as F
from chainer import initializers

from chainer_compare.models.blocks import ConvBlock, dropout, global_average_pooling
from chainer_compare.models.registry import register_model

# (out_channels, ksize, stride, pad, relu?, dropout after) per layer; the
# article's Keras code leaves the two stride-2 "pooling" convolutions linear
# (All-CNN-C in the paper puts a ReLU there too) and follows each by dropout
# 0.5.  The last 1×1 convolution outputs one map per class.
_LAYERS = ((96, 3, 1, 1, True, 0.0),
           (96, 3, 1, 1, True, 0.0),
           (96, 3, 2, 1, False, 0.5),
           (192, 3, 1, 1, True, 0.0),
           (192, 3, 1, 1, True, 0.0),
           (192, 3, 2, 1, False, 0.5),
           (192, 3, 1, 1, True, 0.0),
           (192, 1, 1, 0, True, 0.0))


# Recipe of seed 000: SGD lr 0.1, momentum 0.9, Nesterov.
@register_model('allconv', default_optimizer='nesterov', default_lr=0.1)
class AllConvNet(chainer.Chain):
    """All-CNN-C: 3×3 convs 96-96-96/2 → 192-192-192/2 → 3×3 192, 1×1 192, 1×1 classes → GAP.

    Stride-2 convolutions replace max pooling and global average pooling
    replaces the FC layers; dropout 0.5 after each stride-2 convolution.
    Glorot-uniform weights and zero biases (the Keras defaults the article
    used).  The article trains it with SGD lr 0.1, Nesterov momentum 0.9,
    batch 32 and shift augmentation (10%).

    Source: seed 000 (All-Convolutional Net article).  Reported: "more than
    90% accuracy" on CIFAR-10 (≈10% test error) after 350 epochs.
    """

    options = ()

    def __init__(self, in_channels, image_size, n_classes):
        super().__init__()
        init = initializers.GlorotUniform()
        self.dropouts = tuple(layer[5] for layer in _LAYERS) + (0.0,)
        with self.init_scope():
            self.convs = chainer.ChainList()
            channels = in_channels
            for out_channels, ksize, stride, pad, relu, _ in _LAYERS:
                self.convs.append(ConvBlock(
                    channels, out_channels, ksize, stride, pad,
                    activation=F.relu if relu else None, initialW=init))
                channels = out_channels
            self.convs.append(ConvBlock(channels, n_classes, 1, activation=None,
                                        initialW=init))

    def forward(self, x):
        h = x
        for block, ratio in zip(self.convs.children(), self.dropouts):
            h = dropout(block(h), ratio)
        return global_average_pooling(h)
