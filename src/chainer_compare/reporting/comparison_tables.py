"""The comparison as text: Markdown sections for summary.md, CSV columns for summary.csv.

Every number comes from a :class:`compare.Comparison`; nothing is computed here
except formatting.  Missing numbers (n = 1, no finished run) are an en dash in
Markdown and an empty cell in CSV.
"""
from chainer_compare.reporting.summary import DASH, markdown_table
from chainer_compare.reporting.verdict import number, signed

PAIR_COLUMNS = ('configuration A', 'vs B', 'n (A, B)', 'A \u2212 B test error (pt)',
                '95 % CI (pt)', 'test', 'p (t)', 'p (Holm)', 'exact p (smallest possible)',
                'P(A better) [95 % CI]', 'verdict')
NOISE_COLUMNS = ('configuration', 'name', 'n', 'test error at best epoch (%)',
                 'seed-to-seed std (pt)', 'test images', 'test-set sampling error (pt)',
                 'excluded runs')
RULE = ('Verdict rule: better/worse when the Holm-adjusted t-test p (paired by seed when both '
        'sides ran the same seeds, Welch otherwise) is below 0.05 and the 95 % CI of A \u2212 B '
        'excludes 0; no verdict from fewer than 2 finished runs a side.  Negative = A has the '
        'lower test error at the best-validation epoch.  See docs/reporting.md.')


def _opt(value, fmt=number):
    return DASH if value is None else fmt(value)


def _p(value):
    return DASH if value is None else ('< 0.001' if value < 0.001 else '{:.3g}'.format(value))


def pair_row(pair):
    d = pair.difference
    ci = (DASH if d['ci_low'] is None
          else '{} \u2026 {}'.format(number(d['ci_low']), number(d['ci_high'])))
    exact = DASH if pair.exact_p is None else '{} ({}{})'.format(
        _p(pair.exact_p), _p(pair.smallest_exact_p), '' if pair.exact_is_exact else ', sampled')
    better = DASH if pair.p_better is None else '{:.2f}'.format(pair.p_better)
    if pair.p_better_ci:
        better += ' [{:.2f}, {:.2f}]'.format(*pair.p_better_ci)
    return [pair.a.label, pair.b.label, '{}, {}'.format(pair.a.n, pair.b.n),
            _opt(d['mean_difference'], signed), ci,
            d['test'] if d['ci_low'] is not None else DASH, _p(d['p_value']), _p(pair.holm_p),
            exact, better, pair.text]


def noise_row(config):
    if config.n:
        std = DASH if config.seed_std is None else number(config.seed_std)
        error = '{} \u00b1 {} ({})'.format(number(config.mean), std, config.n)
    else:
        error = DASH
    images = DASH if config.test_images is None else '{:,}'.format(config.test_images)
    if config.test_images_source and config.test_images_source != 'metadata.json':
        images += ' ({})'.format(config.test_images_source)
    excluded = '; '.join('{} ({})'.format(run.name, why) for run, why in config.excluded)
    return [config.label, config.name, str(config.n), error, _opt(config.seed_std),
            images, _opt(config.test_set_se), excluded or DASH]


def verdicts_markdown(comparison):
    """The '## Verdicts' section of summary.md (and what make plots prints)."""
    if comparison.baseline is None:
        return '## Verdicts\n\nNo configuration has a finished run: nothing to compare.\n'
    against = ('every pair of configurations' if comparison.all_pairs
               else 'the baseline `{}` ({})'.format(comparison.baseline.label, 'chosen'
                                                    if comparison.baseline_chosen else
                                                    'the lowest mean test error'))
    lines = ['## Verdicts: test error at the best-validation epoch, against ' + against, '',
             RULE, '']
    if comparison.pairs:
        lines.append(markdown_table(PAIR_COLUMNS, [pair_row(p) for p in comparison.pairs]))
    else:
        lines.append('Only one configuration: nothing to compare it with.\n')
    lines += ['### Noise floors', '',
              'Seed-to-seed std: how much reruns of one configuration differ.  Test-set '
              'sampling error: sqrt(p (1 \u2212 p) / N) for N test images, how much the same '
              'model would score differently on another test set of that size.  Differences '
              'smaller than these are not worth reading.', '',
              markdown_table(NOISE_COLUMNS, [noise_row(c) for c in comparison.configs])]
    if comparison.excluded:
        lines += ['### Excluded runs (not in any statistic above)', '']
        lines += ['- `{}` ({}): {}'.format(run.name, c.label, why)
                  for c, run, why in comparison.excluded]
        lines.append('')
    return '\n'.join(lines)


CSV_COLUMNS = ('verdict', 'baseline', 'n_counted', 'excluded_runs', 'seed_std_pct',
               'test_images', 'test_set_se_pct', 'difference_vs_baseline_pct',
               'ci95_low_pct', 'ci95_high_pct', 't_test', 't_p', 'holm_p', 'exact_p',
               'smallest_exact_p', 'p_better', 'p_better_ci95_low', 'p_better_ci95_high',
               'verdict_text')


def csv_values(comparison, config):
    """CSV_COLUMNS for one configuration (a Configuration), its pair with the baseline."""
    stats_of = next(c for c in comparison.configs if c.config is config)
    pair = comparison.against_baseline(config)
    values = [comparison.verdict_label(config),
              comparison.baseline.label if comparison.baseline else '', stats_of.n,
              ';'.join(run.name for run, _ in stats_of.excluded), stats_of.seed_std,
              stats_of.test_images, stats_of.test_set_se]
    if pair is None:
        return values + [None] * (len(CSV_COLUMNS) - len(values))
    d = pair.difference
    ci = pair.p_better_ci or (None, None)
    return values + [d['mean_difference'], d['ci_low'], d['ci_high'], d['test'], d['p_value'],
                     pair.holm_p, pair.exact_p, pair.smallest_exact_p, pair.p_better,
                     ci[0], ci[1], pair.text]
