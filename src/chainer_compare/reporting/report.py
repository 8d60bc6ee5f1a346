"""`make plots`: read run dirs, write the summary tables, figures and report.html."""
import os
import sys

from chainer_compare.errors import UserError
from chainer_compare.reporting import comparison_tables, html, plots, seed004, summary_json
from chainer_compare.reporting.compare import Comparison
from chainer_compare.reporting.runs import is_run_dir, load_runs
from chainer_compare.reporting.summary import (COLUMNS, group_runs, markdown_table,
                                               summary_csv, table_rows)
from chainer_compare.safeio import atomic_write_text


def default_out(paths):
    """The one results dir given (not a run dir), else ./results."""
    dirs = [p for p in paths if os.path.isdir(p) and not is_run_dir(p)]
    return dirs[0] if len(paths) == 1 and dirs else 'results'


def make_report(paths, out=None, group_by=None, log_epochs=False, reference=None,
                html_report=True, stream=sys.stdout, baseline=None, all_pairs=False,
                json_summary=False):
    """Write summary.md/.csv, curves.png, report.html (+ <reference>.md/.png) into ``out``.

    ``baseline``: the configuration (label or run-name stem) the others are compared
    with (default: the best); ``all_pairs``: compare every pair; ``json_summary``:
    also write summary.json.  Returns the list of files written.  Run dirs are only read.
    """
    out = out or default_out(paths)
    if is_run_dir(out):
        raise UserError('--out {}: that is a run directory, which reporting never writes '
                        'into; choose another directory'.format(out))
    runs, skipped = load_runs(paths)
    for problem in skipped:
        print('plot: ' + str(problem), file=sys.stderr)
    if not runs:
        raise UserError('no readable run among {} run directories (see the lines above)'
                        .format(len(skipped)))
    for run in runs:
        for note in run.notes:
            print('plot: {}: {}'.format(run.path, note), file=sys.stderr)
    configs = group_runs(runs, group_by)
    comparison = Comparison(configs, baseline, all_pairs)  # a bad --baseline: before any write
    refs = seed004.REFERENCES.get(reference) if reference else None
    if reference and refs is None:
        raise UserError('--reference {}: unknown; choose one of: {}'.format(
            reference, ', '.join(sorted(seed004.REFERENCES))))
    written = []

    def write_text(name, text):
        path = os.path.join(out, name)
        atomic_write_text(path, text)
        written.append(path)

    def write_png(name, data):
        path = os.path.join(out, name)
        plots.save_png(data, path)
        written.append(path)

    table = markdown_table(COLUMNS, table_rows(configs, comparison))
    verdicts = comparison_tables.verdicts_markdown(comparison)
    write_text('summary.md', table + '\n' + verdicts)
    write_text('summary.csv', summary_csv(
        configs, comparison_tables.CSV_COLUMNS,
        lambda config: comparison_tables.csv_values(comparison, config)))
    if json_summary:
        write_text('summary.json', summary_json.dumps(summary_json.summary_document(
            configs, comparison, skipped, paths)))
    curves = plots.png_bytes(plots.curves_figure(configs, log_epochs))
    write_png('curves.png', curves)
    reference_part = None
    if refs:
        title = 'Seed {} published test errors beside ours'.format(reference[4:])
        rows = seed004.compare(configs, refs)
        write_text(reference + '.md', markdown_table(seed004.HEADER, rows))
        bars = plots.png_bytes(plots.reference_figure(
            seed004.published_and_ours(configs, refs), title))
        write_png(reference + '.png', bars)
        reference_part = (title, seed004.HEADER, rows, bars)
        print(markdown_table(seed004.HEADER, rows), file=stream)
    if html_report:
        page = html.render_report(configs, [str(s) for s in skipped],
                                  [('Error and loss curves', curves)], reference_part, paths,
                                  comparison)
        write_text('report.html', page)
    print(table, file=stream)
    print(verdicts, file=stream)
    print('{} runs in {} configurations ({} skipped); wrote {}'.format(
        len(runs), len(configs), len(skipped), ', '.join(written)), file=stream)
    return written
