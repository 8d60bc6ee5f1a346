"""The verdicts section of report.html: the pairs table with inline SVG difference bars.

Each bar shares one x-scale (test error points, A − B) so rows compare at a
glance: the 95 % CI as a line, the mean difference as a dot, a dashed line at 0
and a light band for ±1.96 test-set sampling errors of the difference (the
noise floor: differences inside it are not worth reading).  Green = better,
red = worse, grey = no detectable difference or no verdict.  Inline SVG keeps
the page one self-contained file.
"""
import html

from chainer_compare.reporting.comparison_tables import (NOISE_COLUMNS, PAIR_COLUMNS, RULE,
                                                         noise_row, pair_row)

WIDTH, HEIGHT, MARGIN = 220, 22, 8
COLOURS = {'better': '#1a7f37', 'worse': '#b00020'}
CSS = """
svg.ci-bar{display:block}td.verdict{max-width:34em}
.verdict-better{color:#1a7f37;font-weight:600}.verdict-worse{color:#b00020;font-weight:600}
"""


def _e(text):
    return html.escape(str(text), quote=True)


def _extent(pairs):
    """One x-range for every bar, always including 0."""
    points = [0.0]
    for pair in pairs:
        d = pair.difference
        points += [v for v in (d['mean_difference'], d['ci_low'], d['ci_high']) if v is not None]
        if pair.test_set_se:
            points += [1.96 * pair.test_set_se, -1.96 * pair.test_set_se]
    low, high = min(points), max(points)
    pad = 0.05 * (high - low) or 1.0
    return low - pad, high + pad


def ci_bar(pair, extent):
    """Inline SVG for one pair, or '' when there is no difference to draw."""
    d = pair.difference
    if d['mean_difference'] is None:
        return ''
    low, high = extent

    def x(value):
        return MARGIN + (value - low) / (high - low) * (WIDTH - 2 * MARGIN)

    colour = COLOURS.get(pair.verdict, '#666')
    mid = HEIGHT / 2
    parts = []
    if pair.test_set_se:
        band = 1.96 * pair.test_set_se
        parts.append('<rect class="noise-band" x="{:.1f}" y="2" width="{:.1f}" height="{}" '
                     'fill="#e8eef7"/>'.format(x(-band), x(band) - x(-band), HEIGHT - 4))
    parts.append('<line x1="{0:.1f}" x2="{0:.1f}" y1="1" y2="{1}" stroke="#999" '
                 'stroke-dasharray="2,2"/>'.format(x(0.0), HEIGHT - 1))
    if d['ci_low'] is not None:
        parts.append('<line class="ci" x1="{0:.1f}" x2="{1:.1f}" y1="{2}" y2="{2}" stroke="{3}" '
                     'stroke-width="3"/>'.format(x(d['ci_low']), x(d['ci_high']), mid, colour))
    parts.append('<circle class="mean" cx="{:.1f}" cy="{}" r="4" fill="{}"/>'.format(
        x(d['mean_difference']), mid, colour))
    title = 'A \u2212 B = {:+.2f} pt'.format(d['mean_difference'])
    if d['ci_low'] is not None:
        title += ', 95 % CI {:.2f} to {:.2f}'.format(d['ci_low'], d['ci_high'])
    return ('<svg class="ci-bar" role="img" width="{}" height="{}" viewBox="0 0 {} {}" '
            '><title>{}</title>{}</svg>'.format(
                WIDTH, HEIGHT, WIDTH, HEIGHT, _e(title), ''.join(parts)))


def _table(header, rows, table_id, row_class):
    head = ''.join('<th>{}</th>'.format(_e(h)) for h in header)
    body = ''.join('<tr class="{}">{}</tr>'.format(row_class, ''.join(rows_cells))
                   for rows_cells in rows)
    return '<table id="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'.format(
        table_id, head, body)


def verdicts_section(comparison):
    """HTML for the verdicts: the rule, the pairs with bars, the noise floors, exclusions."""
    if comparison.baseline is None:
        return '<h2>Verdicts</h2><p>No configuration has a finished run: nothing to compare.</p>'
    against = ('every pair of configurations' if comparison.all_pairs
               else 'the baseline <b>{}</b>'.format(_e(comparison.baseline.label)))
    out = ['<h2>Verdicts: test error at the best-validation epoch, against {}</h2>'.format(
        against), '<p class="meta">{}</p>'.format(_e(RULE))]
    extent = _extent(comparison.pairs)
    rows = []
    for pair in comparison.pairs:
        cells = ['<td>{}</td>'.format(_e(v)) for v in pair_row(pair)[:-1]]
        cells.append('<td class="ci-cell">{}</td>'.format(ci_bar(pair, extent)))
        cells.append('<td class="verdict verdict-{}">{}</td>'.format(
            _e(pair.verdict.split()[0]), _e(pair.text)))
        rows.append(cells)
    if rows:
        header = PAIR_COLUMNS[:-1] + ('difference and 95 % CI (band: test-set noise)',
                                      'verdict')
        out.append(_table(header, rows, 'verdict-table', 'pair-row'))
    else:
        out.append('<p>Only one configuration: nothing to compare it with.</p>')
    out.append('<h3>Noise floors</h3>')
    out.append(_table(NOISE_COLUMNS, [['<td>{}</td>'.format(_e(v)) for v in noise_row(c)]
                                      for c in comparison.configs], 'noise-table', 'noise-row'))
    if comparison.excluded:
        out.append('<div class="warn" id="excluded"><b>Excluded from the statistics</b><ul>{}'
                   '</ul></div>'.format(''.join(
                       '<li>{} ({}): {}</li>'.format(_e(run.name), _e(c.label), _e(why))
                       for c, run, why in comparison.excluded)))
    return '\n'.join(out)
