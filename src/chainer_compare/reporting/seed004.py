"""Seed 004's seven CIFAR-10 configurations, its flags and its published errors.

scripts/seed004.sh launches exactly these commands; ``plot.py --reference
seed004`` lays the results of matching configurations beside the published
test errors (% after 300 epochs, shared/seeds/004_*.txt).
"""
from chainer_compare.reporting.summary import DASH, Stat, dataset_label


class Reference(object):
    def __init__(self, name, flags, published, model, preprocessing,
                 res_depth=None, skip_depth=False):
        self.name = name
        self.flags = flags.split()    # after "-g GPU"
        self.published = published    # test error, percent
        self.model = model
        self.preprocessing = preprocessing
        self.res_depth = res_depth
        self.skip_depth = skip_depth

    def matches(self, config):
        args = config.args
        if args.get('model') != self.model or bool(args.get('skip_depth')) != self.skip_depth:
            return False
        if self.res_depth is not None and args.get('res_depth') != self.res_depth:
            return False
        name, prep = dataset_label(args, config.runs[0].metadata).split(' / ')
        return name in ('cifar10', '?') and prep == self.preprocessing


# The flags after "-g 0" of each command in the seed, verbatim (only CNNBN+ZCA's
# prefix differs: the seed reused "cnnbn", which would clash with CNNBN's run).
SEED004 = [
    Reference('CNN', '-m cnn -b 128 -p cnn --optimizer adam --iter 300 '
              '--lr_decay_iter 100', 18.94, 'cnn', 'image'),
    Reference('CNN + ZCA', '-m cnn -b 128 -p cnn_zca --optimizer adam --iter 300 '
              '--lr_decay_iter 100 -d dataset/image_norm_zca.pkl', 18.76, 'cnn', 'image_norm_zca'),
    Reference('CNNBN', '-m cnnbn -b 128 -p cnnbn --optimizer adam --iter 300 '
              '--lr_decay_iter 100', 12.40, 'cnnbn', 'image'),
    Reference('CNNBN + ZCA', '-m cnnbn -b 128 -p cnnbn_zca --optimizer adam '
              '--iter 300 --lr_decay_iter 100 -d dataset/image_norm_zca.pkl', 12.27, 'cnnbn',
              'image_norm_zca'),
    Reference('VGG', '-m vgg -b 128 -p vgg_adam --optimizer adam --iter 300 '
              '--lr_decay_iter 100', 7.65, 'vgg', 'image'),
    Reference('ResNet-74', '-m residual -b 128 -p residual --res_depth 12 '
              '--optimizer sgd --lr 0.1 --iter 300 --lr_decay_iter 100', 8.06, 'residual',
              'image', res_depth=12),
    Reference('ResNet-74 + stochastic depth', '-m residual -b 128 -p '
              'residual_skip --skip_depth --res_depth 12 --optimizer sgd --lr 0.1 --iter 300 '
              '--lr_decay_iter 100', 7.42, 'residual', 'image', res_depth=12, skip_depth=True),
]
REFERENCES = {'seed004': SEED004}

HEADER = ('seed 004 configuration', 'published test error (%)', 'our configuration',
          'test error at best epoch (%)', 'final test error (%)', 'difference (points)',
          'epochs')


def compare(configs, references):
    """One row per reference: published error beside the matching configuration."""
    rows = []
    for ref in references:
        found = [c for c in configs if ref.matches(c)]
        if not found:
            rows.append([ref.name, '{:.2f}'.format(ref.published), 'not run', DASH, DASH,
                         DASH, DASH])
            continue
        for c in found:
            ours = c.stats['test_error_at_best']
            diff = DASH if ours.n == 0 else '{:+.2f}'.format(ours.mean * 100 - ref.published)
            epochs = sorted({r.metrics['epochs'] for r in c.runs})
            rows.append([ref.name, '{:.2f}'.format(ref.published), c.label, ours.format(),
                         c.stats['final_test_error'].format(), diff,
                         '/'.join(str(e) for e in epochs)])
    return rows


def published_and_ours(configs, references):
    """(name, published %, Stat of our test error at best or None) for the bar chart."""
    out = []
    for ref in references:
        found = [c for c in configs if ref.matches(c)]
        stat = Stat(r.metrics['test_error_at_best'] for c in found for r in c.runs) if found else None
        out.append((ref.name, ref.published, stat))
    return out


def commands(gpu='0', seeds=(), extra=()):
    """The train.py argument lists; with seeds, one run per seed named <prefix>_seed<N>."""
    out = []
    for ref in SEED004:
        for seed in list(seeds) or [None]:
            flags = list(ref.flags)
            if seed is not None:
                at = flags.index('-p') + 1
                flags[at] = '{}_seed{}'.format(flags[at], seed)
                flags += ['--seed', str(seed)]
            out.append(['src/train.py', '-g', str(gpu)] + flags + list(extra))
    return out


def main(argv=None):
    """Print the command lines, shell-quoted, one per line (scripts/seed004.sh runs them)."""
    import argparse
    import shlex
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument('--gpu', default='0', help='value for train.py -g (-1 = CPU)')
    parser.add_argument('--seeds', default='', help='space/comma separated seeds; '
                        'empty = one run per configuration with the default seed')
    parser.add_argument('extra', nargs='*', help='more train.py flags, after --')
    args = parser.parse_args(argv)
    seeds = [s for s in args.seeds.replace(',', ' ').split() if s]
    for command in commands(args.gpu, seeds, args.extra):
        print(shlex.join(command))


if __name__ == '__main__':
    main()
