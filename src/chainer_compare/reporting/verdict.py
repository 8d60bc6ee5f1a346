"""A comparison's verdict in words, computed from its numbers.

The rule (docs/reporting.md, "Verdicts"):

* fewer than two counted runs on a side: no verdict (one run has no spread);
* **better** / **worse** when the Holm-adjusted t-test p-value (paired by seed
  when both sides ran the same seeds, Welch otherwise) is below 0.05 *and* the
  95 % confidence interval of the difference excludes 0; the sign of A − B
  (error, points) says which.  Where t is undefined because the spread is zero
  (every seed gave the same difference), the exact test's p-value takes its
  place, so two seeds that agree can never make a verdict on their own;
* otherwise **no detectable difference**, with the number of seeds per side a
  t-test would need to detect a true difference of DETECTABLE_PT points at this
  spread (80 % power, two-sided 0.05).

Whenever the exact sign-flip/permutation test cannot reach p < 0.05 at all with
these n, the text says so, so "not significant" is never mistaken for evidence
of no difference.
"""
from chainer_compare.reporting.stats import ALPHA

DETECTABLE_PT = 1.0  # the difference "would need about N seeds" refers to, in points
MINUS = '\u2212'


def signed(value, digits=2):
    text = '{:+.{}f}'.format(value, digits)
    return text.replace('-', MINUS)


def number(value, digits=2):
    return '{:.{}f}'.format(value, digits).replace('-', MINUS)


def p_text(p):
    return 'p < 0.001' if p < 0.001 else 'p = {:.2g}'.format(p)


def _sample_sizes(pair):
    if pair.paired:
        return '{} paired seeds'.format(pair.a.n)
    return '{} and {} seeds'.format(pair.a.n, pair.b.n)


def exact_test_caveat(pair, verdict_given=False):
    """The sentence saying the exact test cannot reach 0.05 with these n, or ''.

    After a better/worse verdict it says what the verdict then rests on; otherwise
    it says why no test at these n could have confirmed a difference.
    """
    smallest = pair.smallest_exact_p
    if smallest is None or smallest < ALPHA:
        return ''
    limit = 'the exact {} test cannot go below p = {:.2g} with {}'.format(
        pair.exact_test, smallest, _sample_sizes(pair))
    if verdict_given:
        return ('{}, so this verdict rests on the t-test\'s normality assumption: run more '
                'seeds to confirm it without one'.format(limit))
    return '{}, so it cannot confirm anything at 0.05: run more seeds'.format(limit)


def numbers_text(pair):
    """'−1.40 pt, 95 % CI −2.10 … −0.70, p = 0.004, P(better) = 0.96' (p Holm-adjusted)."""
    d = pair.difference
    parts = ['{} pt'.format(signed(d['mean_difference']))]
    if d['ci_low'] is not None:
        parts.append('95 % CI {} \u2026 {}'.format(number(d['ci_low']), number(d['ci_high'])))
    if pair.holm_p is not None:
        parts.append(p_text(pair.holm_p))
    if pair.p_better is not None:
        parts.append('P(better) = {:.2f}'.format(pair.p_better))
    return ', '.join(parts)


def verdict(pair):
    """(kind, sentence): kind is 'better', 'worse', 'no detectable difference' or 'no verdict'."""
    n = min(pair.a.n, pair.b.n)
    if n == 0:
        return 'no verdict', 'no finished run on one side: no verdict'
    if n == 1:
        return 'no verdict', 'n = 1: no verdict, run more seeds'
    d = pair.difference
    caveat = exact_test_caveat(pair)
    low, high = d['ci_low'], d['ci_high']
    if pair.holm_p is not None and pair.holm_p < ALPHA and (high < 0 or low > 0):
        kind = 'better' if d['mean_difference'] < 0 else 'worse'
        text = '{} ({})'.format(kind, numbers_text(pair))
        caveat = exact_test_caveat(pair, verdict_given=True)
        return kind, text + ('; ' + caveat if caveat else '')
    kind = 'no detectable difference'
    if d['mean_difference'] == 0 and low == high == 0:
        return kind, kind + ': identical results on every run (zero spread)'
    text = '{} ({})'.format(kind, numbers_text(pair))
    if pair.seeds_needed is not None:
        text += '; with this spread, detecting {:g} pt would need about {} seeds per side'.format(
            DETECTABLE_PT, pair.seeds_needed)
    return kind, text + ('; ' + caveat if caveat else '')
