"""Defaults that train: each model's seed recipe (optimizer, learning rate) and the divergence rule.

Seed 004 trains cnn, cnnbn and vgg with Adam and only its ResNet with SGD at
0.1; SGD 0.1 on mean-subtracted 0-255 pixels blows a ``cnn`` up within a few
iterations.  So ``-m cnn`` with every other flag at its default must train,
and a loss that explodes without reaching NaN must not be called finished.
"""
import json

import pytest

from test_train_support import run_train, write_tiny_dataset

RECIPES = {  # model: (optimizer, lr) of its source article (shared/seeds/)
    'cnn': ('adam', 0.001), 'cnnbn': ('adam', 0.001), 'vgg': ('adam', 0.001),
    'residual': ('sgd', 0.1), 'allconv': ('nesterov', 0.1), 'elu_cnn': ('rmsprop', 0.001),
    'mnist_cnn': ('adam', 0.0002), 'keras_mnist_cnn': ('adadelta', None)}


@pytest.mark.parametrize('model', sorted(RECIPES))
def test_each_model_defaults_to_its_seed_recipe(model):
    from chainer_compare.training import config
    args = config.parse_args(['-m', model])
    assert (args.optimizer, args.lr) == RECIPES[model]
    assert args.prefix == '{}_{}'.format(model, RECIPES[model][0])
    # The same command line gives the same recorded args (studies compare them).
    assert vars(config.parse_args(['-m', model])) == vars(args)


@pytest.mark.parametrize('argv, expected', [
    (['-m', 'cnn', '--optimizer', 'sgd'], ('sgd', 0.1)),       # the optimizer's own default
    (['-m', 'cnn', '--lr', '0.01'], ('adam', 0.01)),           # the recipe's optimizer, given lr
    (['-m', 'cnn', '--alpha', '0.002'], ('adam', 0.002)),
    (['-m', 'mnist_cnn', '--optimizer', 'adam'], ('adam', 0.0002)),  # same optimizer: recipe lr
    (['-m', 'residual', '--optimizer', 'adam'], ('adam', 0.001)),
    (['-m', 'keras_mnist_cnn', '--optimizer', 'sgd'], ('sgd', 0.1)),
])
def test_explicit_flags_win(argv, expected):
    from chainer_compare.training import config
    args = config.parse_args(argv)
    assert (args.optimizer, args.lr) == expected


@pytest.fixture(scope='module')
def pixels_0_255(tmp_path_factory):
    """A tiny dataset whose image.pkl has the spread of mean-subtracted 0-255 pixels."""
    root = tmp_path_factory.mktemp('defaults')
    write_tiny_dataset(str(root / 'dataset'), n_train=96, n_test=16, shape=(1, 28, 28),
                       pixel_scale=64)
    return root


COMMON = ['-g', '-1', '-m', 'cnn', '-b', '16', '--iter', '1', '--train_size', '32',
          '-d', 'dataset/image.pkl']


@pytest.mark.slow
def test_cnn_with_default_flags_trains(pixels_0_255):
    proc = run_train(COMMON + ['--iter', '3', '-p', 'defaults'], pixels_0_255)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert 'adam' in first and '0.001' in first, first
    run = pixels_0_255 / 'results' / 'defaults'
    args = json.loads((run / 'args').read_text())
    assert (args['optimizer'], args['lr']) == ('adam', 0.001)
    losses = [e['main/loss'] for e in json.loads((run / 'log').read_text())]
    assert losses == sorted(losses, reverse=True), losses  # it learns


@pytest.mark.slow
def test_exploding_loss_is_diverged_not_finished(pixels_0_255):
    # seed 004's ResNet recipe on a cnn: the loss reaches ~1e10 in two updates, still finite
    proc = run_train(COMMON + ['--optimizer', 'sgd', '-p', 'exploded'], pixels_0_255)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert 'RuntimeWarning' not in proc.stderr  # no NumPy overflow noise
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'training diverged' in lines[0], proc.stderr
    summary = json.loads((pixels_0_255 / 'results' / 'exploded' / 'summary.json').read_text())
    assert summary['status'] == 'nan'
    assert not (pixels_0_255 / 'results' / 'exploded' / 'model_final.npz').exists()


def test_divergence_rule():
    from chainer_compare.training.divergence import LossWatch
    watch = LossWatch()
    watch.check(2.3, n_classes=10, epoch=0, iteration=1)  # first loss sets the reference
    watch.check(200.0, n_classes=10, epoch=0, iteration=2)  # < 100 x 2.3: a spike, not divergence
    with pytest.raises(Exception, match='diverged|exceeds'):
        watch.check(1e4, n_classes=10, epoch=0, iteration=3)
    with pytest.raises(Exception, match='nan'):
        LossWatch().check(float('nan'), n_classes=10, epoch=0, iteration=1)
    high_start = LossWatch()  # a large first loss (unscaled inputs) raises the bar
    high_start.check(500.0, n_classes=10, epoch=0, iteration=1)
    high_start.check(5000.0, n_classes=10, epoch=0, iteration=2)
