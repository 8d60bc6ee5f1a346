"""Validation/test errors are exact fractions of the split, not means of batch means."""
import chainer
import chainer.links as L
import numpy
from chainer.training import extensions

from chainer_compare.training.updater import classifier


def test_evaluator_weights_a_short_last_batch_by_its_size():
    rng = numpy.random.RandomState(0)
    model = classifier(L.Linear(4, 3))
    x = rng.rand(50, 4).astype(numpy.float32)
    t = rng.randint(0, 3, 50).astype(numpy.int32)
    with chainer.using_config('train', False):
        exact_error = float((model.predictor(x).array.argmax(1) != t).mean())
    batch_errors = [(model.predictor(x[i:i + 16]).array.argmax(1) != t[i:i + 16]).mean()
                    for i in range(0, 50, 16)]
    assert abs(numpy.mean(batch_errors) - exact_error) > 1e-3  # the case matters

    it = chainer.iterators.SerialIterator(chainer.datasets.TupleDataset(x, t), 16,
                                          repeat=False, shuffle=False)
    reporter = chainer.Reporter()
    reporter.add_observer('main', model)
    with reporter, chainer.using_config('train', False):
        result = extensions.Evaluator(it, model).evaluate()
    assert abs(float(result['main/error']) - exact_error) < 1e-6
    assert abs(float(result['main/accuracy']) - (1 - exact_error)) < 1e-6
