"""Model families behind a timm-style registry.

``create_model(name, *, in_channels, image_size, n_classes, **options)`` builds
a registered ``chainer.Chain`` returning logits; ``list_models()`` lists the
names.  One family per module; importing this package registers them all:

==================  ==============  =============================================
name                module          source
==================  ==============  =============================================
``cnn``, ``cnnbn``  cnn.py          seed 004 (Chainer CIFAR-10 study)
``vgg``             vgg.py          seed 004
``residual``        residual.py     seed 004 (``--res_depth``, ``--res_width``,
                                    ``--skip_depth``, ``--swapout``)
``allconv``         allconv.py      seed 000 (All-Convolutional Net, Keras)
``elu_cnn``         elu_cnn.py      seed 001 (ELU + BN 6-conv CNN, Keras)
``mnist_cnn``       mnist_cnn.py    seed 002 (TensorFlow MNIST CNN, BN + leaky ReLU)
``keras_mnist_cnn`` mnist_cnn.py    seed 003 (Keras ``mnist_cnn.py`` example)
==================  ==============  =============================================
"""
from chainer_compare.models.registry import (KNOWN_OPTIONS, create_model,
                                             default_training, get_model_class,
                                             list_models, register_model)

# Imported for their @register_model side effect.
from chainer_compare.models import cnn, vgg, residual  # noqa: E402,F401
from chainer_compare.models import allconv, elu_cnn, mnist_cnn  # noqa: E402,F401

__all__ = ['KNOWN_OPTIONS', 'create_model', 'default_training', 'get_model_class',
           'list_models', 'register_model']
