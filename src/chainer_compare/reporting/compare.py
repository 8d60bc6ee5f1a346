"""Configuration against configuration: which runs count, the baseline, every pair's numbers.

The metric is the test error at the best-validation epoch (the test set never
picked anything), in percentage points.  Only finished runs count: a run that
diverged, was interrupted or is still running is excluded and named.  Each
configuration is compared with the baseline (default: the lowest mean error),
or with every other one (``all_pairs``); Holm's correction runs across the
pairs of that one table.  The numbers come from :mod:`stats`, the words from
:mod:`verdict`.
"""
import re

from chainer_compare.errors import UserError
from chainer_compare.reporting import stats
from chainer_compare.reporting.summary import dataset_label
from chainer_compare.reporting.verdict import DETECTABLE_PT, verdict

METRIC = 'test_error_at_best'
# Standard test sets of the datasets src/dataset.py prepares: the fallback for
# runs whose metadata.json predates the recorded test-set size.
STANDARD_TEST_IMAGES = {'cifar10': 10000, 'cifar100': 10000, 'mnist': 10000,
                        'fashion-mnist': 10000}
# Study runs are named <config>_s<seed>; runs of the earlier seed004.sh <prefix>_seed<seed>.
_SEED_SUFFIX = re.compile(r'_s(?:eed)?\d+$')


def exclusion_reason(run):
    """Why a run does not count, or None when it does."""
    if run.status != 'finished':
        why = {'running': 'no summary.json: still running or killed',
               'nan': 'training diverged (status nan)',
               'interrupted': 'interrupted before the last epoch'}
        return why.get(run.status, 'status ' + run.status)
    if run.metrics.get(METRIC) is None:
        return 'no test error at the best-validation epoch recorded'
    return None


def test_set_size(run):
    """(number of test images, where it came from) for one run."""
    recorded = (run.metadata.get('dataset') or {}) if isinstance(
        run.metadata.get('dataset'), dict) else {}
    for source, value in (('metadata.json', recorded.get('test_images')),
                          ('summary.json', (run.summary or {}).get('test_images'))):
        if isinstance(value, int) and value > 0:
            return value, source
    name = dataset_label(run.args, run.metadata).split(' / ')[0]
    if name in STANDARD_TEST_IMAGES:
        return STANDARD_TEST_IMAGES[name], ('assumed: standard {} test set, not recorded in '
                                            'metadata.json'.format(name))
    return None, 'unknown: not recorded in metadata.json and not a standard dataset'


def configuration_name(config):
    """The run-directory name without its _s<seed> suffix, if every run shares it."""
    stems = {_SEED_SUFFIX.sub('', run.name) for run in config.runs}
    return stems.pop() if len(stems) == 1 else config.label


class ConfigStats(object):
    """One configuration's counted runs (values in points) and its noise floors."""

    def __init__(self, config):
        self.config = config
        self.label = config.label
        self.name = configuration_name(config)
        reasons = [(run, exclusion_reason(run)) for run in config.runs]
        self.excluded = [(run, why) for run, why in reasons if why]
        self.runs = [run for run, why in reasons if not why]
        self.values = [100.0 * run.metrics[METRIC] for run in self.runs]
        self.seeds = [run.args.get('seed') for run in self.runs]
        self.n = len(self.values)
        self.mean = sum(self.values) / self.n if self.n else None
        self.seed_std = stats.sample_std(self.values)
        sizes = [test_set_size(run) for run in self.runs]
        counts = {n for n, _ in sizes if n}
        self.test_images = counts.pop() if len(counts) == 1 else None
        self.test_images_source = '; '.join(sorted({s for _, s in sizes})) or None
        se = stats.binomial_standard_error(None if self.mean is None else self.mean / 100,
                                           self.test_images)
        self.test_set_se = None if se is None else 100.0 * se

    def to_json(self):
        return {'configuration': self.label, 'name': self.name, 'n': self.n,
                'runs': [r.name for r in self.runs], 'seeds': self.seeds,
                'test_error_at_best_pct': self.values, 'mean_pct': self.mean,
                'seed_std_pct': self.seed_std, 'test_images': self.test_images,
                'test_images_source': self.test_images_source,
                'test_set_se_pct': self.test_set_se,
                'excluded_runs': [r.name for r, _ in self.excluded]}


class Pair(object):
    """A against B: every number of the comparison, then the verdict in words."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.paired = a.n >= 2 and stats.pairs_by_seed(a.seeds, b.seeds)
        if self.paired:  # line the seeds up
            order = {seed: i for i, seed in enumerate(b.seeds)}
            values_a = a.values
            values_b = [b.values[order[seed]] for seed in a.seeds]
        else:
            values_a, values_b = a.values, b.values
        self.difference = stats.mean_difference(values_a, values_b, self.paired)
        self.exact_p, self.exact_is_exact = stats.exact_p(values_a, values_b, self.paired)
        self.exact_test = 'sign-flip' if self.paired else 'permutation'
        self.smallest_exact_p = stats.smallest_exact_p(a.n, b.n, self.paired)
        self.p_better = stats.probability_better(values_a, values_b)
        self.p_better_ci = stats.probability_better_interval(values_a, values_b)
        if self.paired:
            spread = stats.sample_std([x - y for x, y in zip(values_a, values_b)])
        elif a.seed_std is not None and b.seed_std is not None:
            spread = ((a.seed_std ** 2 + b.seed_std ** 2) / 2) ** 0.5
        else:
            spread = None
        self.spread = spread  # what the seed-count estimate is based on
        self.seeds_needed = stats.seeds_needed(spread, DETECTABLE_PT, self.paired)
        floors = [c.test_set_se for c in (a, b)]
        self.test_set_se = (None if None in floors
                            else (floors[0] ** 2 + floors[1] ** 2) ** 0.5)
        # The t-test's p decides; where t is undefined (zero spread) the exact test's.
        self.decision_p = (self.difference['p_value'] if self.difference['p_value'] is not None
                           else self.exact_p)
        self.decision_test = (self.difference['test'] if self.difference['p_value'] is not None
                              else None if self.exact_p is None else self.exact_test)
        self.holm_p = self.decision_p  # until Comparison adjusts across the whole table
        self.verdict, self.text = verdict(self)

    def to_json(self):
        d = self.difference
        return {'a': self.a.label, 'b': self.b.label, 'n_a': self.a.n, 'n_b': self.b.n,
                'paired_by_seed': self.paired, 'test': d['test'], 'df': d['df'],
                'mean_difference_pct': d['mean_difference'],
                'ci95_pct': [d['ci_low'], d['ci_high']], 't_p': d['p_value'],
                'decision_test': self.decision_test, 'holm_p': self.holm_p,
                'exact_test': self.exact_test,
                'exact_p': self.exact_p, 'exact_p_is_exact': self.exact_is_exact,
                'smallest_exact_p': self.smallest_exact_p, 'p_a_better': self.p_better,
                'p_a_better_ci95': list(self.p_better_ci) if self.p_better_ci else None,
                'spread_pct': self.spread, 'seeds_needed_for_1pt': self.seeds_needed,
                'test_set_se_of_difference_pct': self.test_set_se,
                'verdict': self.verdict, 'verdict_text': self.text}


class Comparison(object):
    """The table: per-configuration stats, the baseline and the pairs."""

    def __init__(self, configs, baseline=None, all_pairs=False):
        self.configs = [ConfigStats(c) for c in configs]
        self.all_pairs = all_pairs
        self.baseline = self._baseline(baseline)
        self.baseline_chosen = baseline is not None
        if all_pairs:  # the baseline, when in a pair, is always its B side
            todo = [(b, a) if a is self.baseline else (a, b)
                    for i, a in enumerate(self.configs) for b in self.configs[i + 1:]]
        elif self.baseline is not None:
            todo = [(c, self.baseline) for c in self.configs if c is not self.baseline]
        else:
            todo = []
        self.pairs = [Pair(a, b) for a, b in todo]
        for pair, adjusted in zip(self.pairs, stats.holm([p.decision_p for p in self.pairs])):
            pair.holm_p = adjusted
            pair.verdict, pair.text = verdict(pair)

    def _baseline(self, name):
        if name is None:  # the best configuration with at least one counted run
            counted = [c for c in self.configs if c.n]
            return min(counted, key=lambda c: c.mean) if counted else None
        for config in self.configs:
            if name in (config.label, config.name):
                if not config.n:
                    raise UserError('--baseline {}: that configuration has no finished run '
                                    'to compare against'.format(name))
                return config
        names = sorted({c.name for c in self.configs} | {c.label for c in self.configs})
        raise UserError('--baseline {}: no such configuration; valid names: {}'.format(
            name, ', '.join(names)))

    def against_baseline(self, config):
        """The pair of ``config`` (a Configuration) with the baseline, or None."""
        for pair in self.pairs:
            if pair.b is self.baseline and pair.a.config is config:
                return pair
        return None

    def verdict_label(self, config):
        """Short verdict of ``config`` (a Configuration) against the baseline, for tables."""
        if self.baseline is not None and self.baseline.config is config:
            return 'baseline'
        pair = self.against_baseline(config)
        return pair.verdict if pair else '\u2013'

    @property
    def excluded(self):
        return [(c, run, why) for c in self.configs for run, why in c.excluded]

    def to_json(self):
        return {'metric': METRIC + ' (test error at the best-validation epoch)',
                'unit': 'percentage points',
                'baseline': self.baseline.label if self.baseline else None,
                'baseline_rule': 'chosen with --baseline' if self.baseline_chosen else
                'lowest mean test error at the best-validation epoch',
                'all_pairs': self.all_pairs,
                'configurations': [c.to_json() for c in self.configs],
                'comparisons': [p.to_json() for p in self.pairs],
                'excluded_runs': [{'run': run.name, 'path': run.path, 'configuration': c.label,
                                   'status': run.status, 'reason': why}
                                  for c, run, why in self.excluded]}

