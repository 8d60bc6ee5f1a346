"""Model registry and every registered model (parametrized over the registry).

A newly registered model is covered by the generic tests for free; the
residual network's depth, stochastic depth and swapout have their own tests.
"""
import chainer
import chainer.functions as F
import numpy
import pytest

from chainer_compare.errors import UserError
from chainer_compare.models import create_model, list_models, register_model
from chainer_compare.models import registry
from chainer_compare.models.blocks import count_parameters, weighted_layers
from chainer_compare.models import ops
from chainer_compare.models.residual import (ResidualBlock, downsampling_indices,
                                             skip_ratios)

MODELS = list_models()
# (in_channels, image_size, n_classes): CIFAR-10, (Fashion-)MNIST, CIFAR-100.
CONFIGS = [(3, 32, 10), (1, 28, 10), (3, 32, 100)]
CONFIG_IDS = ['{}x{}x{}-{}'.format(c, s, s, k) for c, s, k in CONFIGS]
# Small residual nets keep the suite fast; other models ignore the option.
SMALL = {'res_depth': 1}
# Options that give each model train-time randomness (the rest have dropout).
RANDOM_OPTIONS = {'residual': {'res_depth': 2, 'skip_depth': True, 'swapout': True}}


def make(name, config=CONFIGS[1], seed=0, **options):
    numpy.random.seed(seed)
    channels, size, n_classes = config
    return create_model(name, in_channels=channels, image_size=size,
                        n_classes=n_classes, **dict(SMALL, **options))


def batch(config=CONFIGS[1], n=2, seed=1):
    channels, size, n_classes = config
    rng = numpy.random.RandomState(seed)
    x = rng.standard_normal((n, channels, size, size)).astype(numpy.float32)
    t = rng.randint(0, n_classes, size=n).astype(numpy.int32)
    return x, t


def forward(model, x, train, seed=None):
    if seed is not None:
        numpy.random.seed(seed)
    with chainer.using_config('train', train), chainer.no_backprop_mode():
        return model(x).array


# --- registry -------------------------------------------------------------

def test_list_models_sorted_and_complete():
    assert MODELS == sorted(MODELS)
    assert set(MODELS) >= {'cnn', 'cnnbn', 'vgg', 'residual', 'allconv',
                           'elu_cnn', 'mnist_cnn', 'keras_mnist_cnn'}


def test_unknown_model_lists_valid_names():
    with pytest.raises(UserError) as info:
        create_model('resnet', in_channels=3, image_size=32, n_classes=10)
    message = str(info.value)
    assert "'resnet'" in message
    for name in MODELS:
        assert name in message


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match='res_dept'):
        create_model('cnn', in_channels=3, image_size=32, n_classes=10, res_dept=3)


def test_options_a_model_does_not_use_are_ignored():
    a = make('cnn', res_depth=5, res_width=2, skip_depth=True, swapout=True)
    b = make('cnn')
    assert count_parameters(a) == count_parameters(b)


def test_option_none_takes_the_model_default():
    model = make('residual', res_depth=None)
    assert len(weighted_layers(model)) == 6 * 18 + 2  # seed 004's default depth


@pytest.mark.parametrize('kwargs', [
    {'image_size': 4}, {'n_classes': 1}, {'in_channels': 0}, {'res_depth': 0},
    {'res_width': 0}])
def test_bad_shape_or_option_is_a_user_error(kwargs):
    args = dict(in_channels=3, image_size=32, n_classes=10)
    args.update(kwargs)
    name = 'residual' if 'res_' in ''.join(kwargs) else 'cnn'
    with pytest.raises(UserError):
        create_model(name, **args)


def test_registering_a_taken_name_fails_and_new_models_are_listed():
    with pytest.raises(ValueError, match='already registered'):
        @register_model('cnn')
        class Other(chainer.Chain):
            pass

    @register_model('_test_dummy')
    class Dummy(chainer.Chain):
        def __init__(self, in_channels, image_size, n_classes):
            super().__init__()
    try:
        assert '_test_dummy' in list_models()
        assert isinstance(make('_test_dummy'), Dummy)
    finally:
        del registry._REGISTRY['_test_dummy']


# --- every model ----------------------------------------------------------

def _check_forward_backward(name, config):
    model = make(name, config)
    x, t = batch(config)
    with chainer.using_config('train', True):
        y = model(x)
    assert y.shape == (len(x), config[2])
    assert y.dtype == numpy.float32
    model.cleargrads()
    F.softmax_cross_entropy(y, t).backward()
    params = list(model.namedparams())
    assert params
    for path, param in params:
        assert param.grad is not None, path
        assert numpy.isfinite(param.grad).all(), path
    assert any(numpy.abs(param.grad).sum() > 0 for _, param in params)


@pytest.mark.parametrize('config', CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize('name', MODELS)
def test_forward_backward(name, config):
    _check_forward_backward(name, config)


@pytest.mark.parametrize('name', MODELS)
def test_forward_backward_with_fast_cpu_off(name):
    # test_forward_backward ran with the default fast_cpu=True.
    with chainer.using_config('fast_cpu', False):
        _check_forward_backward(name, CONFIGS[0])


@pytest.mark.parametrize('name', MODELS)
def test_fast_cpu_path_agrees_with_stock_chainer(name):
    model = make(name)
    x, t = batch()
    results = []
    for fast_cpu in (False, True):
        with chainer.using_config('fast_cpu', fast_cpu), \
                chainer.using_config('train', False):
            model.cleargrads()
            y = model(x)
            F.sum(y * y).backward()
            results.append((y.array, [p.grad.copy() for p in model.params()]))
    (y0, g0), (y1, g1) = results
    numpy.testing.assert_allclose(y1, y0, rtol=1e-4, atol=1e-4)
    for a, b in zip(g1, g0):
        numpy.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * numpy.abs(b).max())


@pytest.mark.parametrize('name', MODELS)
def test_test_mode_is_deterministic_and_leaves_the_rng_alone(name):
    model = make(name, **RANDOM_OPTIONS.get(name, {}))
    x, _ = batch()
    numpy.random.seed(5)
    state = numpy.random.get_state()[1].copy()
    first = forward(model, x, train=False)
    assert (numpy.random.get_state()[1] == state).all()
    numpy.random.seed(6)
    numpy.testing.assert_array_equal(forward(model, x, train=False), first)


@pytest.mark.parametrize('name', MODELS)
def test_train_mode_randomness_comes_from_the_global_rng(name):
    model = make(name, **RANDOM_OPTIONS.get(name, {}))
    x, _ = batch()
    a = forward(model, x, train=True, seed=10)
    b = forward(model, x, train=True, seed=10)
    c = forward(model, x, train=True, seed=11)
    numpy.testing.assert_array_equal(a, b)
    assert not numpy.array_equal(a, c)


@pytest.mark.parametrize('name', MODELS)
def test_momentum_sgd_steps_reduce_the_loss(name):
    model = make(name)
    x, t = batch(n=4)
    optimizer = chainer.optimizers.MomentumSGD(lr=0.01)
    optimizer.setup(model)

    def loss():
        numpy.random.seed(3)  # the same dropout masks every time
        with chainer.using_config('train', True):
            return F.softmax_cross_entropy(model(x), t)

    before = float(loss().array)
    for _ in range(3):
        optimizer.update(loss)
    after = float(loss().array)
    assert numpy.isfinite(after) and after < before


@pytest.mark.parametrize('name', MODELS)
def test_save_and_load_npz_round_trip(name, tmp_path):
    model = make(name, seed=0)
    x, _ = batch()
    forward(model, x, train=True, seed=1)  # moves BN running statistics
    path = str(tmp_path / 'model.npz')
    chainer.serializers.save_npz(path, model, compression=False)
    expected = forward(model, x, train=False)
    restored = make(name, seed=1)
    assert not numpy.array_equal(forward(restored, x, train=False), expected)
    from chainer_compare import npzfile  # never allow_pickle=True
    npzfile.load_npz(path, restored)
    numpy.testing.assert_array_equal(forward(restored, x, train=False), expected)


# --- residual network -----------------------------------------------------

@pytest.mark.parametrize('depth', [1, 2, 12])
def test_residual_has_6n_plus_2_weighted_layers(depth):
    model = make('residual', CONFIGS[0], res_depth=depth)
    assert len(weighted_layers(model)) == 6 * depth + 2
    assert len(model.blocks) == 3 * depth


def test_residual_width_multiplies_channels():
    model = make('residual', CONFIGS[0], res_width=2)
    assert model.bconv1.conv.W.shape[0] == 32
    assert model.fc.W.shape[1] == 128


def test_skip_ratios_rise_linearly_from_0_to_half_except_downsampling():
    depth = 12
    ratios = numpy.array(skip_ratios(depth))
    down = list(downsampling_indices(depth))
    assert len(ratios) == 3 * depth
    assert (ratios[down] == 0).all()
    plain = numpy.delete(ratios, down)
    numpy.testing.assert_allclose(plain, numpy.linspace(0, 0.5, 3 * depth - 2))
    model = make('residual', CONFIGS[0], res_depth=depth, skip_depth=True)
    assert [b.skip_ratio for b in model.blocks] == list(ratios)
    plain_model = make('residual', CONFIGS[0], res_depth=2)
    assert all(b.skip_ratio == 0 for b in plain_model.blocks)


def _branch(block, x):
    h = F.relu(block.bn1(block.conv1(x)))
    return block.bn2(block.conv2(h)).array


def test_residual_block_scales_the_branch_by_survival_at_test_time():
    numpy.random.seed(0)
    block = ResidualBlock(4, 4, skip_ratio=0.3)
    x = numpy.abs(numpy.random.standard_normal((2, 4, 6, 6))).astype(numpy.float32)
    with chainer.using_config('train', False):
        expected = numpy.maximum(_branch(block, x) * 0.7 + x, 0)
        numpy.testing.assert_allclose(block(x).array, expected, rtol=1e-5, atol=1e-6)


def test_residual_block_skips_with_its_probability_using_the_global_rng():
    block = ResidualBlock(4, 4, skip_ratio=0.5)
    x = numpy.abs(numpy.random.RandomState(0).standard_normal(
        (2, 4, 6, 6))).astype(numpy.float32)
    outcomes = []
    for seed in range(16):
        numpy.random.seed(seed)
        should_skip = numpy.random.rand() < 0.5
        numpy.random.seed(seed)
        with chainer.using_config('train', True):
            y = block(x).array
        assert numpy.array_equal(y, x) == should_skip
        outcomes.append(should_skip)
    assert any(outcomes) and not all(outcomes)


@pytest.mark.parametrize('fast_cpu', [True, False])
def test_downsampling_shortcut_prepends_zero_channels_and_subsamples(fast_cpu):
    x = chainer.Variable(numpy.arange(2 * 3 * 5 * 5, dtype=numpy.float32).reshape(2, 3, 5, 5))
    with chainer.using_config('fast_cpu', fast_cpu):
        y = ops.zero_pad_subsample(x, 8, 2)
    assert y.shape == (2, 8, 3, 3)
    assert (y.array[:, :5] == 0).all()
    numpy.testing.assert_array_equal(y.array[:, 5:], x.array[:, :, ::2, ::2])
    gy = numpy.arange(y.size, dtype=numpy.float32).reshape(y.shape)
    y.grad = gy
    y.backward()
    expected = numpy.zeros_like(x.array)
    expected[:, :, ::2, ::2] = gy[:, 5:]
    numpy.testing.assert_array_equal(x.grad, expected)


def test_swapout_randomizes_training_but_not_testing():
    swap = make('residual', res_depth=1, swapout=True)
    plain = make('residual', res_depth=1)
    plain.copyparams(swap)
    assert all(b.swapout for b in swap.blocks)
    assert not any(b.swapout for b in plain.blocks)
    x, _ = batch()
    numpy.testing.assert_array_equal(forward(swap, x, train=False),
                                     forward(plain, x, train=False))
    assert not numpy.array_equal(forward(swap, x, train=True, seed=0),
                                 forward(swap, x, train=True, seed=1))
    numpy.testing.assert_array_equal(forward(plain, x, train=True, seed=0),
                                     forward(plain, x, train=True, seed=1))


def test_dropout_mask_comes_from_the_numpy_stream_and_keeps_the_layout():
    from chainer_compare.models.blocks import dropout
    x = numpy.arange(2 * 5 * 4 * 8, dtype=numpy.float32).reshape(2, 5, 4, 8) + 1
    channels_last = x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)  # NHWC memory
    numpy.random.seed(7)
    expected = x * (numpy.random.random_sample(x.shape) >= 0.25) / numpy.float32(0.75)
    for variant in (x, channels_last):
        numpy.random.seed(7)
        with chainer.using_config('train', True):
            y = dropout(chainer.Variable(variant), 0.25).array
        numpy.testing.assert_allclose(y, expected, rtol=1e-6)
        assert y.strides == variant.strides  # same memory layout as the input
    with chainer.using_config('train', False):
        assert dropout(x, 0.25) is x
