"""Seed 001's six-layer ELU + BatchNorm CNN, ``elu_cnn``.

Source: shared/seeds/001_ec440263135352bd.txt ("achieve 90% accuracy in
object recognition task on CIFAR-10", a Keras model).
"""
import chainer
import chainer.functions as F
from chainer import initializers

from chainer_compare.models import ops
from chainer_compare.models.blocks import ConvStages, Stage
from chainer_compare.models.registry import register_model

# Keras MaxPooling2D((2,2)) is 'valid' (floor): 32 → 16 → 8 → 4, 28 → 14 → 7 → 3.
_POOL = (2, 2, False)
_STAGES = (Stage((32, 32), _POOL, 0.2),
           Stage((64, 64), _POOL, 0.3),
           Stage((128, 128), _POOL, 0.4))
# Keras BatchNormalization defaults: momentum 0.99, epsilon 1e-3.
_KERAS_BN = {'decay': 0.99, 'eps': 1e-3}


# Recipe of seed 001: RMSprop lr 0.001.
@register_model('elu_cnn', default_optimizer='rmsprop', default_lr=0.001)
class EluCNN(chainer.Chain):
    """Six 3×3 convs (32,32 | 64,64 | 128,128), each conv → ELU → BN; pool + dropout per stage; one FC.

    Dropout 0.2 / 0.3 / 0.4 after the three 2×2 max poolings, then a single
    dense layer to the classes, in the article's order (activation before
    batch normalization).  Glorot-uniform weights, Keras BN momentum/epsilon.
    The article's L2 of 1e-4 on the conv kernels is the trainer's
    ``--weight_decay``; it trains with RMSprop lr 0.001 (0.0005 after epoch
    75, 0.0003 after 100), batch 64, 125 epochs, z-score inputs and
    rotation 15° / shift 10% / flip augmentation.

    Source: seed 001 (ELU+BN CNN article).  Reported: about 90% test accuracy
    on CIFAR-10 (≈10% test error).
    """

    options = ()

    def __init__(self, in_channels, image_size, n_classes):
        super().__init__()
        init = initializers.GlorotUniform()
        with self.init_scope():
            self.features = ConvStages(
                in_channels, image_size, _STAGES, ksize=3, pad=1,
                activation=F.elu, batchnorm=True, bn_after_activation=True,
                initialW=init, bn_options=_KERAS_BN)
            self.fc = ops.Linear(self.features.flat_size, n_classes, initialW=init)

    def forward(self, x):
        return self.fc(self.features(x))
