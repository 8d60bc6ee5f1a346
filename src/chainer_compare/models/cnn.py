"""Seed 004's shallow CNNs, ``cnn`` and ``cnnbn`` (a TensorFlow-tutorial-like net).

Source: shared/seeds/004_201a1022eb97dcdc.txt (the Chainer CIFAR-10 study,
github.com/dsanno/chainer-cifar, classes ``CNN`` and ``CNNBN``).
"""
import chainer
import chainer.functions as F

from chainer_compare.models import ops
from chainer_compare.models.blocks import ConvStages, Stage, dropout
from chainer_compare.models.registry import register_model

# Three 5×5 conv stages, each followed by 3×3 max pooling with stride 2
# (Chainer's default cover_all=True: 32 → 16 → 8 → 4, 28 → 14 → 7 → 3).  The
# seed applies dropout 0.5 to the last pooled map before the first FC layer.
_POOL = (3, 2, True)
_STAGES = (Stage((64,), _POOL, 0.0),
           Stage((64,), _POOL, 0.0),
           Stage((128,), _POOL, 0.5))


class _SeedCNN(chainer.Chain):
    """conv5-64 → pool → conv5-64 → pool → conv5-128 → pool → drop → fc1000 → drop → fc.

    Weights use Chainer's default initialization (LeCun normal, zero bias),
    which is what the seed's Chainer 1 ``wscale=1`` default amounts to.
    """

    batchnorm = False
    options = ()

    def __init__(self, in_channels, image_size, n_classes):
        super().__init__()
        with self.init_scope():
            self.features = ConvStages(in_channels, image_size, _STAGES,
                                       ksize=5, pad=2, batchnorm=self.batchnorm)
            self.fc1 = ops.Linear(self.features.flat_size, 1000)
            self.fc2 = ops.Linear(1000, n_classes)

    def forward(self, x):
        h = F.relu(self.fc1(self.features(x)))
        return self.fc2(dropout(h, 0.5))


# Recipe of seed 004: --optimizer adam (alpha 0.001).
@register_model('cnn', default_optimizer='adam', default_lr=0.001)
class CNN(_SeedCNN):
    """Seed 004's ``CNN``: three conv+ReLU+max-pool stages and two FC layers with dropout.

    Source: seed 004 (Chainer CIFAR-10 study).  Reported: 18.94% test error on
    CIFAR-10 (mean-subtracted), 18.76% with contrast normalization + ZCA;
    Adam, batch 128, 300 epochs, lr ×0.1 every 100, crop+mirror augmentation.
    """

    batchnorm = False


# Recipe of seed 004: --optimizer adam.
@register_model('cnnbn', default_optimizer='adam', default_lr=0.001)
class CNNBN(_SeedCNN):
    """Seed 004's ``CNNBN``: ``cnn`` with BatchNormalization after every convolution.

    Source: seed 004, trained exactly like ``cnn``.  Reported test error on
    CIFAR-10: 12.40% (mean-subtracted input), 12.27% (contrast normalization
    + ZCA), the study's evidence that batch normalization alone cuts the
    error by a third.
    """

    batchnorm = True
