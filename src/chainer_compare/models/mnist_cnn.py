"""The two MNIST CNNs of seeds 002 and 003, ``mnist_cnn`` and ``keras_mnist_cnn``.

Sources: shared/seeds/002_d4d7444fc2552d0e.txt (a TensorFlow MNIST classifier
with batch-normalized dense layers and leaky ReLU) and
shared/seeds/003_6ad56b3db5783eef.txt (the Keras ``mnist_cnn.py`` example).
Both work on any of the datasets (1 or 3 channels, 28 or 32 pixels).
"""
import chainer
import chainer.functions as F
import chainer.links as L
from chainer import initializers

from chainer_compare.models import ops
from chainer_compare.models.blocks import ConvStages, Stage, dropout
from chainer_compare.models.registry import register_model

_VALID_POOL = (2, 2, False)  # TF/Keras 2×2 max pooling, stride 2, floor


def _leaky_relu(h):
    return F.leaky_relu(h, slope=0.2)  # tf.nn.leaky_relu's default alpha


# Recipe of seed 002: Adam, learning rate 0.0002.
@register_model('mnist_cnn', default_optimizer='adam', default_lr=0.0002)
class MnistCNN(chainer.Chain):
    """Seed 002: conv5-64 → pool → conv5-128 → pool → FC 1024 + BN → dropout 0.1 → FC, leaky ReLU.

    'same' 5×5 convolutions with leaky ReLU (slope 0.2), 2×2 max pooling, a
    1024-unit dense layer with batch normalization and leaky ReLU, dropout 0.1
    and a linear output layer.  Glorot-uniform weights (TensorFlow's default).
    Differences from the article's code, on purpose: its code swaps the
    widths (1024 conv filters, 64 dense units) against its own text ("64
    filters, then 128, and finally 1024 nodes"), which we follow; its output
    layer also goes through BN and leaky ReLU, ours gives plain logits; its BN
    epsilon 1e-8 is below cuDNN's minimum and momentum 0 keeps only the last
    batch's statistics, so ours uses Chainer's BN defaults.  The article trains
    with Adam lr 2e-4, beta1 0.5, batch 128, 10 epochs, inputs scaled to [0, 1].

    Source: seed 002 (TensorFlow MNIST CNN).  Reported: 99.17% test accuracy
    on MNIST (0.83% test error) after 10 epochs.
    """

    options = ()

    def __init__(self, in_channels, image_size, n_classes):
        super().__init__()
        init = initializers.GlorotUniform()
        stages = (Stage((64,), _VALID_POOL, 0.0), Stage((128,), _VALID_POOL, 0.0))
        with self.init_scope():
            self.features = ConvStages(in_channels, image_size, stages, ksize=5,
                                       pad=2, activation=_leaky_relu,
                                       initialW=init)
            self.fc1 = ops.Linear(self.features.flat_size, 1024, initialW=init)
            self.bn1 = L.BatchNormalization(1024)
            self.fc2 = ops.Linear(1024, n_classes, initialW=init)

    def forward(self, x):
        h = _leaky_relu(self.bn1(self.fc1(self.features(x))))
        return self.fc2(dropout(h, 0.1))


# Recipe of seed 003: Adadelta (no learning rate).
@register_model('keras_mnist_cnn', default_optimizer='adadelta')
class KerasMnistCNN(chainer.Chain):
    """Seed 003 (Keras example): conv3-32 → conv3-64 → pool → drop .25 → FC 128 → drop .5 → FC.

    Unpadded ('valid') 3×3 convolutions with ReLU (28 → 26 → 24 → pool 12),
    Glorot-uniform weights (Keras default).  The example trains with
    Adadelta, batch 128, 12 epochs, inputs scaled to [0, 1].

    Source: seed 003 (Keras MNIST CNN).  Reported: 99.25% test accuracy on
    MNIST (0.75% test error) after 12 epochs.
    """

    options = ()

    def __init__(self, in_channels, image_size, n_classes):
        super().__init__()
        init = initializers.GlorotUniform()
        stages = (Stage((32, 64), _VALID_POOL, 0.25),)
        with self.init_scope():
            self.features = ConvStages(in_channels, image_size, stages, ksize=3,
                                       pad=0, initialW=init)
            self.fc1 = ops.Linear(self.features.flat_size, 128, initialW=init)
            self.fc2 = ops.Linear(128, n_classes, initialW=init)

    def forward(self, x):
        h = F.relu(self.fc1(self.features(x)))
        return self.fc2(dropout(h, 0.5))
