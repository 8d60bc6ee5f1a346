"""Seed 004's seven CIFAR-10 configurations and their published errors.

studies/seed004.yaml holds the seed's flags (``make seed004`` runs it);
``plot.py --reference seed004`` lays the results of matching configurations
beside the published test errors (% after 300 epochs, shared/seeds/004_*.txt).
"""
from chainer_compare.reporting.summary import DASH, Stat, dataset_label


class Reference(object):
    def __init__(self, name, published, model, preprocessing, res_depth=None,
                 skip_depth=False):
        self.name = name
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


# The seed's rows, matched to runs by model, preprocessing and ResNet options.
SEED004 = [
    Reference('CNN', 18.94, 'cnn', 'image'),
    Reference('CNN + ZCA', 18.76, 'cnn', 'image_norm_zca'),
    Reference('CNNBN', 12.40, 'cnnbn', 'image'),
    Reference('CNNBN + ZCA', 12.27, 'cnnbn', 'image_norm_zca'),
    Reference('VGG', 7.65, 'vgg', 'image'),
    Reference('ResNet-74', 8.06, 'residual', 'image', res_depth=12),
    Reference('ResNet-74 + stochastic depth', 7.42, 'residual', 'image', res_depth=12,
              skip_depth=True),
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
