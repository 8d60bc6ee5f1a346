"""Seed 004's VGG-like network with batch normalization, ``vgg``.

Source: shared/seeds/004_201a1022eb97dcdc.txt (class ``VGG``; modelled on
"The Story of Kaggle CIFAR-10", which reached 94.15% with a 6-model ensemble).
"""
import chainer
import chainer.functions as F

from chainer_compare.models import ops
from chainer_compare.models.blocks import ConvStages, Stage, dropout
from chainer_compare.models.registry import register_model

# 2×2 max pooling, stride 2 (32 → 16 → 8 → 4; 28 → 14 → 7 → 4 with cover_all),
# then dropout 0.25, after each stage of 3×3 conv+BN+ReLU blocks.
_POOL = (2, 2, True)
_STAGES = (Stage((64, 64), _POOL, 0.25),
           Stage((128, 128), _POOL, 0.25),
           Stage((256, 256, 256, 256), _POOL, 0.25))


# Recipe of seed 004: --optimizer adam.
@register_model('vgg', default_optimizer='adam', default_lr=0.001)
class VGG(chainer.Chain):
    """Seed 004's ``VGG``: 8 conv3+BN+ReLU (64,64 | 128,128 | 256×4) + FC 1024-1024-classes.

    Each stage ends in 2×2 max pooling and dropout 0.25; dropout 0.5 precedes
    the first two FC layers.  Chainer's default (LeCun normal) initialization.

    Source: seed 004 (Chainer CIFAR-10 study).  Reported: 7.65% test error on
    CIFAR-10 (mean-subtracted), Adam, batch 128, 300 epochs, lr ×0.1 every
    100, crop+mirror augmentation (about 5.5 hours on the author's GPU).
    """

    options = ()

    def __init__(self, in_channels, image_size, n_classes):
        super().__init__()
        with self.init_scope():
            self.features = ConvStages(in_channels, image_size, _STAGES,
                                       ksize=3, pad=1, batchnorm=True)
            self.fc4 = ops.Linear(self.features.flat_size, 1024)
            self.fc5 = ops.Linear(1024, 1024)
            self.fc6 = ops.Linear(1024, n_classes)

    def forward(self, x):
        h = self.features(x)
        h = F.relu(self.fc4(dropout(h, 0.5)))
        h = F.relu(self.fc5(dropout(h, 0.5)))
        return self.fc6(h)
