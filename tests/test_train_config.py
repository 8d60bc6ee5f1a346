"""train.py's flags, their validation, and the fixed validation split (in-process, fast)."""
import shlex

import numpy
import pytest

from chainer_compare.errors import UserError
from chainer_compare.training import config, split

# Seed 004's training commands, with -g -1 for this GPU-less machine.
SEED_004 = [
    '-g -1 -m cnn -b 128 -p cnn --optimizer adam --iter 300 --lr_decay_iter 100',
    '-g -1 -m cnn -b 128 -p cnn_zca --optimizer adam --iter 300 --lr_decay_iter 100 '
    '-d dataset/image_norm_zca.pkl',
    '-g -1 -m cnnbn -b 128 -p cnnbn --optimizer adam --iter 300 --lr_decay_iter 100',
    '-g -1 -m cnnbn -b 128 -p cnnbn --optimizer adam --iter 300 --lr_decay_iter 100 '
    '-d dataset/image_norm_zca.pkl',
    '-g -1 -m vgg -b 128 -p vgg_adam --optimizer adam --iter 300 --lr_decay_iter 100',
    '-g -1 -m residual -b 128 -p residual --res_depth 12 --optimizer sgd --lr 0.1 --iter 300 '
    '--lr_decay_iter 100',
    '-g -1 -m residual -b 128 -p residual_skip --skip_depth --res_depth 12 --optimizer sgd '
    '--lr 0.1 --iter 300 --lr_decay_iter 100',
    '-g -1 -m residual --skip_depth',
]


@pytest.mark.parametrize('command', SEED_004)
def test_seed_004_commands_parse(command):
    args = config.parse_args(shlex.split(command))
    assert args.gpu == -1 and args.iter in (300,) and args.lr > 0
    if '-b 128' in command:
        assert args.batch_size == 128 and args.lr_decay_iter == '100'
    if 'adam' in command:
        assert args.optimizer == 'adam' and args.lr == 0.001  # seed 004's Adam alpha
    if 'zca' in command:
        assert args.dataset == 'dataset/image_norm_zca.pkl'
    if '--skip_depth' in command:
        assert args.skip_depth and args.model == 'residual'


def test_defaults_and_aliases():
    args = config.parse_args([])
    assert (args.gpu, args.model, args.batch_size, args.iter) == (-1, 'cnn', 128, 300)
    assert args.dataset == 'dataset/image.pkl' and args.out == 'results'
    assert args.prefix == 'cnn_adam' and args.augment == 'crop,flip' and args.fast_cpu
    assert (args.optimizer, args.lr) == ('adam', 0.001)  # cnn's recipe (seed 004)
    assert config.parse_args(['--epoch', '7']).iter == 7
    assert config.parse_args(['--optimizer', 'adam', '--alpha', '0.01']).lr == 0.01
    assert not config.parse_args(['--no-fast-cpu']).fast_cpu
    assert config.parse_args(['--optimizer', 'adadelta']).lr is None
    assert config.explicit_flags(['-g', '0', '--iter', '3']) == {'gpu', 'iter'}


@pytest.mark.parametrize('argv, words', [
    (['-m', 'resnet9000'], ['--model', 'resnet9000', 'cnn', 'residual', 'vgg']),
    (['--optimizer', 'lbfgs'], ['--optimizer', 'adam', 'sgd']),
    (['--augment', 'crop,twirl'], ['--augment', 'twirl', 'flip']),
    (['--lr_shape', 'step'], ['--lr_shape', 'cosine', 'multistep']),
    (['--lr', '-0.1'], ['--lr', 'positive']),
    (['--lr', 'nan'], ['--lr']),
    (['-b', '0'], ['--batch_size']),
    (['--iter', '0'], ['--iter']),
    (['--weight_decay', '-1'], ['--weight_decay']),
    (['--lr_decay_iter', 'soon'], ['--lr_decay_iter']),
    (['--alpha', '0.1', '--optimizer', 'sgd'], ['--alpha', '--lr']),
    (['--optimizer', 'adadelta', '--lr', '0.1'], ['--lr', 'adadelta']),
    (['-p', 'a/b'], ['--prefix']),
    (['--bogus'], ['--bogus']),
    (['-g', 'zero'], ['-g/--gpu']),
])
def test_bad_flags_give_one_line(argv, words):
    with pytest.raises(UserError) as e:
        config.parse_args(argv)
    message = str(e.value)
    assert '\n' not in message
    for word in words:
        assert word in message


def test_split_is_fixed_and_disjoint():
    for n, held_out in ((50000, 5000), (60000, 5000), (64, 6)):
        train, valid = split.split_indices(n)
        assert len(valid) == held_out and len(train) == n - held_out
        assert not set(train.tolist()) & set(valid.tolist())
        again_train, again_valid = split.split_indices(n)
        assert numpy.array_equal(valid, again_valid)
    numpy.random.seed(123)  # the global RNG (set from --seed) must not change the split
    first = split.split_indices(1000)[1]
    numpy.random.seed(456)
    assert split.indices_sha256(first) == split.indices_sha256(split.split_indices(1000)[1])


class Data:
    """A stand-in for PreparedData: 40 training images whose labels are their indices."""
    train_x = numpy.arange(40 * 2, dtype=numpy.float32).reshape(40, 2)
    train_y = numpy.arange(40, dtype=numpy.int32)
    test_x, test_y = train_x[:4], train_y[:4]
    directory = 'here'


def test_split_views_do_not_copy():
    train, valid, test, info = split.make_datasets(Data)
    assert len(train) == 36 and len(valid) == 4 and info['held_out'] == 4
    seen = sorted(int(train[i][1]) for i in range(36)) + sorted(int(valid[i][1]) for i in range(4))
    assert sorted(seen) == list(range(40))
    assert info['indices_sha256'] == split.indices_sha256(split.split_indices(40)[1])
    train, valid, _, info = split.make_datasets(Data, use_validation=False)
    assert valid is None and len(train) == 40 and info['no_valid_data']


def test_train_size_keeps_a_fixed_subset_and_the_same_validation_split():
    full_train, full_valid, _, _ = split.make_datasets(Data)
    train, valid, test, info = split.make_datasets(Data, train_size=10)
    labels = sorted(int(train[i][1]) for i in range(len(train)))
    assert len(train) == 10 and info['train_size'] == 10
    assert set(labels) <= {int(full_train[i][1]) for i in range(len(full_train))}
    assert [valid[i][1] for i in range(4)] == [full_valid[i][1] for i in range(4)]
    again, _, _, _ = split.make_datasets(Data, train_size=10)
    assert labels == sorted(int(again[i][1]) for i in range(10))
    train, valid, _, info = split.make_datasets(Data, use_validation=False, train_size=7)
    assert valid is None and len(train) == 7 and 'train_size' in info['note']
    with pytest.raises(UserError, match='--train_size 37'):
        split.make_datasets(Data, train_size=37)


def test_train_size_must_be_positive():
    with pytest.raises(UserError, match='--train_size'):
        config.parse_args(['--train_size', '0'])
