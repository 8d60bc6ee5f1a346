"""Optimizers, learning-rate schedules and the schedule extension in a Trainer."""
import math

import numpy
import pytest

import chainer
import chainer.functions as F
import chainer.links as L
from chainer import optimizers as chainer_optimizers
from chainer import training

from chainer_compare.errors import UserError
from chainer_compare.training import optimizers, schedules

CLASSES = {'sgd': chainer_optimizers.MomentumSGD,
           'nesterov': chainer_optimizers.NesterovAG,
           'adam': chainer_optimizers.Adam,
           'rmsprop': chainer_optimizers.RMSprop,
           'adadelta': chainer_optimizers.AdaDelta}


def linear(seed=0):
    numpy.random.seed(seed)
    return L.Linear(4, 3)


def step(optimizer, model, zero_grad=False):
    """One update; with ``zero_grad`` only the weight decay hook can act."""
    x = numpy.random.RandomState(1).randn(8, 4).astype(numpy.float32)
    t = numpy.arange(8, dtype=numpy.int32) % 3
    model.cleargrads()
    loss = F.softmax_cross_entropy(model(x), t)
    if zero_grad:
        loss = loss * 0
    loss.backward()
    optimizer.update()


def test_registry_matches_classes():
    assert set(optimizers.OPTIMIZERS) == set(CLASSES)


@pytest.mark.parametrize('name', optimizers.OPTIMIZERS)
def test_create_sets_class_lr_and_an_update_changes_params(name):
    lr = None if name == 'adadelta' else 0.05
    opt = optimizers.create_optimizer(name, lr=lr)
    assert type(opt) is CLASSES[name]
    attr = optimizers.lr_attribute(opt)
    assert attr == {'adam': 'alpha', 'adadelta': None}.get(name, 'lr')
    if attr:
        assert getattr(opt, attr) == 0.05
    model = linear()
    optimizers.setup_optimizer(opt, model, 0.0)
    before = model.W.array.copy()
    step(opt, model)
    assert not numpy.array_equal(model.W.array, before)


@pytest.mark.parametrize('name', optimizers.OPTIMIZERS)
def test_defaults(name):
    opt = optimizers.create_optimizer(name)
    expected = optimizers.default_lr(name)
    assert expected == {'sgd': 0.1, 'nesterov': 0.1, 'adam': 0.001,
                        'rmsprop': 0.001, 'adadelta': None}[name]
    if expected is not None:
        assert getattr(opt, optimizers.lr_attribute(opt)) == expected
    if name in ('sgd', 'nesterov'):
        assert opt.momentum == 0.9


@pytest.mark.parametrize('name', optimizers.OPTIMIZERS)
def test_weight_decay_hook(name):
    """With a zero loss gradient, only weight decay moves the weights."""
    moved = {}
    for rate in (0.0, 0.1):
        opt = optimizers.create_optimizer(name, weight_decay=rate)
        model = linear()
        optimizers.setup_optimizer(opt, model)  # rate remembered from create
        before = model.W.array.copy()
        step(opt, model, zero_grad=True)
        moved[rate] = not numpy.array_equal(model.W.array, before)
    assert moved == {0.0: False, 0.1: True}


def test_sgd_weight_decay_amount():
    opt = optimizers.create_optimizer('sgd', lr=0.5, momentum=0.0)
    model = linear()
    optimizers.setup_optimizer(opt, model, weight_decay=0.1)
    before = model.W.array.copy()
    step(opt, model, zero_grad=True)
    numpy.testing.assert_allclose(model.W.array, before * (1 - 0.5 * 0.1),
                                  rtol=1e-6)


@pytest.mark.parametrize('kwargs, flag', [
    (dict(name='lbfgs'), '--optimizer'),
    (dict(name='sgd', lr=-0.1), '--lr'),
    (dict(name='adam', lr=float('nan')), '--lr'),
    (dict(name='sgd', weight_decay=-1e-4), '--weight_decay'),
    (dict(name='adadelta', lr=0.1), '--lr'),
])
def test_create_errors_name_the_flag(kwargs, flag):
    with pytest.raises(UserError) as e:
        optimizers.create_optimizer(**kwargs)
    assert flag in str(e.value)
    if flag == '--optimizer':
        for name in optimizers.OPTIMIZERS:
            assert name in str(e.value)


def test_default_lr_unknown_name():
    with pytest.raises(UserError, match='--optimizer'):
        optimizers.default_lr('sgdd')


# ------------------------------------------------------------------ schedules
def test_multistep_boundaries():
    lr = lambda e: schedules.learning_rate_at(e, 0.1, decay_epochs=(100, 200))
    assert lr(0) == 0.1 and lr(99.9) == 0.1
    assert lr(100) == pytest.approx(0.01) and lr(199.99) == pytest.approx(0.01)
    assert lr(200) == pytest.approx(0.001) and lr(299.9) == pytest.approx(0.001)
    assert schedules.learning_rate_at(
        60, 1.0, decay_epochs=(50,), decay_factor=0.5) == 0.5


def test_cosine_endpoints_and_monotonic():
    lr = lambda e: schedules.learning_rate_at(e, 0.2, shape='cosine',
                                              total_epochs=10)
    assert lr(0) == pytest.approx(0.2)
    assert lr(5) == pytest.approx(0.1)
    assert lr(10) == pytest.approx(0.0, abs=1e-12)
    values = [lr(e) for e in numpy.linspace(0, 10, 101)]
    assert all(b < a for a, b in zip(values, values[1:]))


def test_cosine_starts_after_warmup():
    lr = lambda e: schedules.learning_rate_at(
        e, 0.2, shape='cosine', warmup_epochs=2, total_epochs=12)
    assert lr(2) == pytest.approx(0.2)
    assert lr(7) == pytest.approx(0.1)
    assert lr(1) == pytest.approx(0.1)  # halfway up the ramp


def test_warmup_linear_ramp():
    ipe = 10  # iterations per epoch; 2 warmup epochs = 20 updates
    lrs = [schedules.learning_rate_at(j / float(ipe), 1.0, warmup_epochs=2,
                                      iterations_per_epoch=ipe)
           for j in range(25)]
    numpy.testing.assert_allclose(lrs[:20], numpy.arange(1, 21) / 20.0)
    assert lrs[20:] == [1.0] * 5
    assert schedules.learning_rate_at(1.0, 0.4, warmup_epochs=4) == 0.1


def test_warmup_combines_with_multistep():
    assert schedules.learning_rate_at(
        1.5, 1.0, decay_epochs=(1,), warmup_epochs=3) == pytest.approx(0.05)


def test_bad_shape_or_missing_total():
    with pytest.raises(ValueError):
        schedules.learning_rate_at(0, 0.1, shape='step')
    with pytest.raises(ValueError):
        schedules.learning_rate_at(0, 0.1, shape='cosine')
    with pytest.raises(UserError, match='--warmup'):
        schedules.learning_rate_at(0, 0.1, shape='cosine', warmup_epochs=5,
                                   total_epochs=5)


@pytest.mark.parametrize('spec, total, expected', [
    ('100', 300, (100, 200)),
    (100, 300, (100, 200)),
    ('100', 250, (100, 200)),
    ('100', 3, ()),
    ('150,225', 300, (150, 225)),
    ('0.5', 2, (0.5, 1.0, 1.5)),
    (None, 300, ()),
    ('none', 300, ()),
])
def test_parse_decay(spec, total, expected):
    assert schedules.parse_decay(spec, total) == expected


@pytest.mark.parametrize('spec', ['abc', '0', '-5', '200,100', '100,300',
                                  '10,,20', 'inf'])
def test_parse_decay_errors(spec):
    with pytest.raises(UserError, match='--lr_decay_iter'):
        schedules.parse_decay(spec, 300)


# ----------------------------------------------------------- in a real Trainer
def make_trainer(out, name, base_lr, epochs, **kwargs):
    """A Linear-model Trainer; returns it and the list of rates each update saw."""
    rng = numpy.random.RandomState(0)
    data = chainer.datasets.TupleDataset(
        rng.randn(20, 4).astype(numpy.float32),
        (numpy.arange(20) % 3).astype(numpy.int32))
    iterator = chainer.iterators.SerialIterator(data, 5, shuffle=False)
    model = L.Classifier(linear())
    opt = optimizers.setup_optimizer(
        optimizers.create_optimizer(name, lr=base_lr), model, 0.0)
    attr = optimizers.lr_attribute(opt)
    seen = []
    opt.add_hook(lambda o: seen.append(getattr(o, attr)), name='record_lr')
    updater = training.updaters.StandardUpdater(iterator, opt)
    trainer = training.Trainer(updater, (epochs, 'epoch'), out=str(out))
    trainer.extend(training.extensions.LogReport())
    trainer.extend(training.extensions.observe_lr(observation_key='lr')
                   if attr == 'lr' else
                   training.extensions.observe_value(
                       'lr', lambda t: getattr(t.updater.get_optimizer('main'),
                                               attr)))
    trainer.extend(schedules.LearningRateSchedule(attr, base_lr, **kwargs))
    return trainer, seen


def run_trainer(out, name, base_lr, epochs, **kwargs):
    """Train; return (rates seen by each update, LogReport entries)."""
    trainer, seen = make_trainer(out, name, base_lr, epochs, **kwargs)
    trainer.run()
    return seen, trainer.get_extension('LogReport').log


@pytest.mark.parametrize('name', ['sgd', 'adam'])
def test_extension_sets_rate_before_each_update(tmp_path, name):
    kwargs = dict(decay_epochs=(2,), warmup_epochs=1.0, total_epochs=3)
    seen, log = run_trainer(tmp_path, name, 0.1, 3, **kwargs)
    assert len(seen) == 12  # 20 samples / batch 5 = 4 updates per epoch
    expected = [schedules.learning_rate_at(j / 4.0, 0.1,
                                           iterations_per_epoch=4, **kwargs)
                for j in range(12)]
    numpy.testing.assert_allclose(seen, expected)
    assert expected[0] == pytest.approx(0.025) and expected[4] == 0.1
    # The logged rate of each epoch is the one its last update used.
    numpy.testing.assert_allclose([entry['lr'] for entry in log],
                                  [seen[3], seen[7], seen[11]])
    assert log[2]['lr'] == pytest.approx(0.01)


def test_resumed_trainer_continues_the_schedule(tmp_path):
    """The extension keeps no state: a resumed run gets the same rates."""
    kwargs = dict(decay_epochs=(2,), warmup_epochs=1.5, total_epochs=3)
    full, _ = run_trainer(tmp_path / 'full', 'sgd', 0.1, 3, **kwargs)
    first, seen_first = make_trainer(tmp_path / 'a', 'sgd', 0.1, 1, **kwargs)
    first.run()
    chainer.serializers.save_npz(str(tmp_path / 'snapshot'), first)
    resumed, seen = make_trainer(tmp_path / 'b', 'sgd', 0.1, 3, **kwargs)
    from chainer_compare import npzfile  # never allow_pickle=True
    npzfile.load_npz(str(tmp_path / 'snapshot'), resumed)
    resumed.run()
    assert seen_first == full[:4]
    numpy.testing.assert_allclose(seen, full[4:])


def test_extension_cosine_in_trainer(tmp_path):
    seen, _ = run_trainer(tmp_path, 'nesterov', 0.2, 2, shape='cosine',
                          total_epochs=2)
    assert seen[0] == pytest.approx(0.2)
    assert all(b < a for a, b in zip(seen, seen[1:]))
    assert seen[-1] == pytest.approx(0.2 * 0.5 * (1 + math.cos(math.pi * 7 / 8)))


def test_extension_rejects_missing_attr_and_bad_shape():
    with pytest.raises(ValueError):
        schedules.LearningRateSchedule(None, 1.0)
    with pytest.raises(ValueError):
        schedules.LearningRateSchedule('lr', 0.1, shape='cosine')
