"""The training step: Chainer's StandardUpdater plus augmentation and a NaN guard.

Images stay in host memory and each minibatch is stacked and copied to the
training device by ``concat_examples`` (one 1.5 MB host-to-device copy per
CIFAR batch of 128, well under a millisecond), so the dataset is never
duplicated on the GPU and the stock ``SerialIterator`` (whose order and
position Chainer serializes for resume) is used unchanged.  The augmentation
then runs on the training device, batched, on the training batch only;
evaluation batches never pass through here.

A non-finite or exploding loss (:mod:`.divergence`) is detected *before*
``backward``/``update``, so the parameters (and the last snapshot) are never
touched by it.
"""
import time

import chainer
from chainer.dataset import convert
from chainer.training import updaters

from chainer_compare.training.divergence import LossWatch, TrainingDiverged  # noqa: F401


class TrainingUpdater(updaters.StandardUpdater):
    """StandardUpdater that augments the batch and stops on a diverged loss.

    It also counts the images trained on and the seconds spent in updates
    (evaluation excluded) for the images/s figure; both are serialized so a
    resumed run reports totals.
    """

    def __init__(self, iterator, optimizer, device, augment=None, rng=None):
        super().__init__(iterator, optimizer, converter=convert.concat_examples, device=device)
        self.augment = augment
        self.rng = rng
        self.train_seconds = 0.0
        self.images_seen = 0
        self.loss_watch = LossWatch()

    def _checked_loss(self, x, t):
        loss = self.get_optimizer('main').target(x, t)
        value = float(loss.array)  # one scalar to host: also keeps timing honest on GPU
        n_classes = self.get_optimizer('main').target.y.shape[1]  # the logits of this batch
        self.loss_watch.check(value, n_classes, self.epoch, self.iteration + 1)
        return loss

    def update_core(self):
        start = time.perf_counter()
        iterator = self.get_iterator('main')
        batch = iterator.next()
        x, t = self.converter(batch, self.input_device)
        if self.augment is not None:
            x = self.augment(x, self.rng)
        optimizer = self.get_optimizer('main')
        optimizer.update(self._checked_loss, x, t)
        if self.auto_new_epoch and iterator.is_new_epoch:
            optimizer.new_epoch(auto=True)
        self.images_seen += len(batch)
        self.train_seconds += time.perf_counter() - start

    @property
    def images_per_second(self):
        return self.images_seen / self.train_seconds if self.train_seconds > 0 else 0.0

    def serialize(self, serializer):
        super().serialize(serializer)
        self.train_seconds = float(serializer('train_seconds', self.train_seconds))
        self.images_seen = int(serializer('images_seen', self.images_seen))
        self.loss_watch.serialize(serializer)


def classifier(model):
    """``L.Classifier`` around ``model`` that also reports ``error`` = 1 - accuracy.

    Chainer's PlotReport plots reported keys as they are, so the error curves
    need an ``error`` key next to ``accuracy`` (train, validation and test).
    """
    return ErrorClassifier(model)


class ErrorClassifier(chainer.links.Classifier):
    def forward(self, *args, **kwargs):
        loss = super().forward(*args, **kwargs)
        if not self.compute_accuracy:
            return loss
        error = 1.0 - self.accuracy.array
        if chainer.config.train:
            chainer.report({'error': error}, self)
        else:
            # The Evaluator averages per-batch means; weighting each by its
            # batch size makes a short last batch count for what it holds, so
            # validation/test errors are exact fractions of the split.
            n = len(args[-1])
            chainer.report({'loss': (self.loss.array, n),
                            'accuracy': (self.accuracy.array, n),
                            'error': (error, n)}, self)
        return loss
