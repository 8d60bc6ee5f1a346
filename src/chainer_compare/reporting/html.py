"""results/report.html: one self-contained static page (no external URL at all).

Figures are embedded as base64 PNG, CSS and the table-sorting JavaScript are
inline, so the file can be mailed, archived or opened offline.  The page
records any JavaScript error on ``<html data-js-errors=...>`` so a headless
browser test can see it in the DOM, and applies ``#sort=<column>`` (or
``#sort=-<column>`` for descending) from the URL on load.
"""
import base64
import datetime
import html
import json
import re

from chainer_compare.reporting import html_compare
from chainer_compare.reporting.summary import COLUMNS, table_rows

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#666}img{max-width:100%;border:1px solid #eee}
table{border-collapse:collapse;font-size:12.5px}th,td{border:1px solid #ddd;padding:4px 7px;
text-align:left;vertical-align:top}th{background:#f3f5f8;position:sticky;top:0}
#summary-table th{cursor:pointer;user-select:none}#summary-table th:hover{background:#e3e9f2}
th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}
td.num{text-align:right;white-space:nowrap}tbody tr:nth-child(even){background:#fafbfc}
.warn{background:#fff6e0;border:1px solid #f0d080;padding:8px 12px}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
.kv td:first-child{color:#555;white-space:nowrap}pre{margin:0;white-space:pre-wrap}
.status-running{color:#a06000}.status-nan,.status-interrupted{color:#b00020}
"""

# Sorting: numbers by data-sort (missing last), text otherwise; the column's
# aria-sort and the table's data-sorted record the state for people and tests.
_JS = """
(function(){
var table=document.getElementById('summary-table');
function key(td){var v=td.getAttribute('data-sort');return v===null?td.textContent:v;}
function sortBy(th,desc){
  var col=Array.prototype.indexOf.call(th.parentNode.children,th);
  var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  var numeric=th.getAttribute('data-type')==='num';
  rows.sort(function(a,b){
    var x=key(a.cells[col]),y=key(b.cells[col]);
    if(numeric){x=x===''?Infinity:parseFloat(x);y=y===''?Infinity:parseFloat(y);
      if(x===y)return 0;if(x===Infinity)return 1;if(y===Infinity)return -1;
      return desc?y-x:x-y;}
    return desc?y.localeCompare(x):x.localeCompare(y);});
  rows.forEach(function(r){body.appendChild(r);});
  Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort');});
  th.setAttribute('aria-sort',desc?'descending':'ascending');
  table.setAttribute('data-sorted',th.getAttribute('data-key')+(desc?':desc':':asc'));}
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th){
  th.addEventListener('click',function(){sortBy(th,th.getAttribute('aria-sort')==='ascending');});});
var m=/sort=(-?)([\\w-]+)/.exec(window.location.hash);
if(m){var th=table.querySelector('th[data-key="'+m[2]+'"]');if(th)sortBy(th,m[1]==='-');}
})();
"""

_ERROR_TRAP = """
window.onerror=function(msg,src,line){var e=document.documentElement;
e.setAttribute('data-js-errors',(e.getAttribute('data-js-errors')||'')+msg+' (line '+line+'); ');};
"""

NUMERIC_COLUMNS = {'epochs': 'epochs', 'best-validation epoch': 'best_epoch',
                   'validation error (%)': 'validation_error',
                   'test error at best epoch (%)': 'test_error_at_best',
                   'final test error (%)': 'final_test_error', 'wall time': 'wall_time_s',
                   'images/s': 'images_per_s'}


def column_key(title):
    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')


def _e(text):
    return html.escape(str(text), quote=True)


def _img(png, alt):
    return '<img alt="{}" src="data:image/png;base64,{}">'.format(
        _e(alt), base64.b64encode(png).decode('ascii'))


def _summary_table(configs, comparison):
    head = ''.join('<th data-key="{}" data-type="{}">{}</th>'.format(
        column_key(t), 'num' if t in NUMERIC_COLUMNS else 'text', _e(t)) for t in COLUMNS)
    body = []
    for config, row in zip(configs, table_rows(configs, comparison)):
        cells = []
        for title, text in zip(COLUMNS, row):
            stat = config.stats.get(NUMERIC_COLUMNS.get(title, ''))
            if stat is None:
                cells.append('<td>{}</td>'.format(_e(text)))
            else:
                value = '' if stat.mean is None else repr(stat.mean)
                cells.append('<td class="num" data-sort="{}">{}</td>'.format(value, _e(text)))
        body.append('<tr class="config-row">{}</tr>'.format(''.join(cells)))
    return ('<table id="summary-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'
            .format(head, '\n'.join(body)))


def _plain_table(header, rows, table_id):
    head = ''.join('<th>{}</th>'.format(_e(h)) for h in header)
    body = ''.join('<tr>{}</tr>'.format(''.join('<td>{}</td>'.format(_e(v)) for v in row))
                   for row in rows)
    return '<table id="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'.format(
        table_id, head, body)


def _kv_table(mapping):
    rows = []
    for key in sorted(mapping):
        value = mapping[key]
        if isinstance(value, (dict, list)):
            value = '<pre>{}</pre>'.format(_e(json.dumps(value, indent=1, sort_keys=True)))
        else:
            value = _e(value)
        rows.append('<tr><td>{}</td><td>{}</td></tr>'.format(_e(key), value))
    return '<table class="kv">{}</table>'.format(''.join(rows))


def _run_details(configs):
    parts = []
    for config in configs:
        for run in config.runs:
            status = run.status
            notes = ''.join('<p class="warn">{}</p>'.format(_e(n)) for n in run.notes)
            parts.append(
                '<details class="run"><summary>{} \u2014 <span class="status-{}">{}</span> '
                '\u2014 {}</summary>{}<h4>metrics</h4>{}<h4>args</h4>{}<h4>metadata '
                '(versions, device)</h4>{}</details>'.format(
                    _e(run.name), _e(status), _e(status), _e(config.label), notes,
                    _kv_table(run.metrics), _kv_table(run.args),
                    _kv_table(run.metadata) if run.metadata else '<p>no metadata.json</p>'))
    return '\n'.join(parts)


def render_report(configs, skipped, figures, reference=None, sources=(), comparison=None):
    """The whole page as a string.

    ``figures``: list of (title, png bytes); ``reference``: None or
    (title, header, rows, png bytes) for the seed-004 comparison; ``comparison``: a
    compare.Comparison for the verdict column and section.
    """
    n_runs = sum(len(c.runs) for c in configs)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width,initial-scale=1">',
           '<title>chainer_compare report</title>', '<script>', _ERROR_TRAP, '</script>',
           '<style>', _CSS, html_compare.CSS, '</style></head><body>',
           '<h1>Experiment comparison</h1>',
           '<p class="meta">{} runs in {} configurations from {}; generated {}. Errors are '
           'percentages; mean \u00b1 sample std (n) over runs that differ only in seed.</p>'
           .format(n_runs, len(configs), _e(', '.join(sources) or 'results'), stamp)]
    if skipped:
        out.append('<div class="warn" id="skipped"><b>Skipped runs</b><ul>{}</ul></div>'.format(
            ''.join('<li>{}</li>'.format(_e(s)) for s in skipped)))
    out.append('<h2>Summary (click a header to sort)</h2>')
    out.append(_summary_table(configs, comparison))
    if comparison is not None:
        out.append(html_compare.verdicts_section(comparison))
    for title, png in figures:
        out.append('<h2>{}</h2>{}'.format(_e(title), _img(png, title)))
    if reference:
        title, header, rows, png = reference
        out.append('<h2>{}</h2>'.format(_e(title)))
        out.append(_plain_table(header, rows, 'reference-table'))
        out.append('<p>{}</p>'.format(_img(png, title)))
    out.append('<h2>Runs</h2>')
    out.append(_run_details(configs))
    out += ['<script>', _JS, '</script></body></html>']
    return '\n'.join(out)
