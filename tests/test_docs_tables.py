"""Every measured figure in README.md and docs/ comes from a committed results
file (issue 12, point 5): the tables between ``<!-- table:NAME:start/end -->``
markers must equal what scripts/update_docs.py generates from bench/*.csv, and
every results file names the command, date, commit and machine behind it."""
import csv
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'scripts', 'update_docs.py')


def _update_docs():
    spec = importlib.util.spec_from_file_location('update_docs', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_and_docs_tables_match_their_results_files():
    stale = [doc for doc, (current, new) in _update_docs().regenerated().items()
             if current != new]
    assert not stale, 'run python scripts/update_docs.py; out of date: {}'.format(stale)


def test_every_results_file_has_its_provenance():
    csvs = sorted(glob.glob(os.path.join(ROOT, 'bench', '*.csv')))
    assert csvs
    for path in csvs:
        with open(path[:-len('.csv')] + '.provenance.json') as f:
            provenance = json.load(f)
        for key in ('command', 'date', 'commit', 'machine'):
            assert provenance.get(key), '{}: provenance lacks {}'.format(path, key)


def copy_docs_tree(tmp_path):
    """The documents with tables and the results files they are built from, under tmp_path."""
    for relative in ('README.md', 'docs/speed.md', 'docs/data.md'):
        os.makedirs(tmp_path / os.path.dirname(relative), exist_ok=True)
        shutil.copy(os.path.join(ROOT, relative), tmp_path / relative)
    shutil.copytree(os.path.join(ROOT, 'bench'), tmp_path / 'bench',
                    ignore=shutil.ignore_patterns('*.py', '__pycache__'))
    shutil.copytree(os.path.join(ROOT, 'docs', 'results'), tmp_path / 'docs' / 'results')


def test_a_changed_figure_is_caught(tmp_path):
    module = _update_docs()
    copy_docs_tree(tmp_path)
    csv_path = tmp_path / 'bench' / 'results.csv'
    with open(csv_path, newline='') as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if (row['section'], row['model'], row['variant']) == ('train', 'cnn', 'fast'):
            row['images_per_s'] = '999.4'
    with open(csv_path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator='\n')
        writer.writeheader()
        writer.writerows(rows)
    regenerated = module.regenerated(str(tmp_path))
    current, new = regenerated['README.md']
    assert current != new and '`cnn` 999 / ' in new
    assert regenerated['docs/speed.md'][0] != regenerated['docs/speed.md'][1]


#: bench/results.csv as committed before issue 13 (e999c72): no ResNet-74 rows, no
#: inference section, no GEMM peak.
OLD_RESULTS = os.path.join(ROOT, 'tests', 'data', 'results-pre-issue13.csv')


def copy_old_results(tmp_path):
    copy_docs_tree(tmp_path)
    shutil.copy(OLD_RESULTS, tmp_path / 'bench' / 'results.csv')


def _with_issue13_rows(csv_path):
    """Rewrite the pre-issue-13 CSV as run_bench.py now writes it: the new
    columns, a GEMM section, ResNet-74 training rows and an inference section."""
    with open(csv_path, newline='') as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0]) + ['flops_per_image', 'gflop_per_s', 'peak_fraction']
    new = [{'section': 'gemm', 'variant': 'n=1024', 'gflop_per_s': '80.0'},
           {'section': 'gemm', 'variant': 'peak', 'gflop_per_s': '95.5'}]
    for row in rows:
        if row['section'] == 'train':
            row['peak_fraction'] = '0.25'
            new += [dict(row, model=model) for model in ('resnet74', 'resnet74-skip')
                    if row['model'] == 'residual']
            new.append(dict(row, section='eval', images_per_s='300.0', peak_fraction='0.3'))
    with open(csv_path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields, lineterminator='\n')
        writer.writeheader()
        writer.writerows(rows + new)


def test_update_docs_renders_the_new_rows_sections_and_columns(tmp_path):
    copy_old_results(tmp_path)
    _with_issue13_rows(tmp_path / 'bench' / 'results.csv')
    regenerated = _update_docs().regenerated(str(tmp_path))
    speed = regenerated['docs/speed.md'][1]
    assert '| model | (a) this project | (b) stock Chainer | (c) PyTorch | (a)/(b) | (a)/(c) | ' \
        '(a) % of peak | (c) % of peak |' in speed
    assert '| ResNet-74 | 99.6 | 29.1 | 207.5 | 3.42x | 0.48x | 25.0 % | 25.0 % |' in speed
    assert '| ResNet-74 + stochastic depth |' in speed
    assert 'GEMM peak 95.5 GFLOP/s' in speed and 'n=1024 80.0' in speed
    assert 'Inference (test mode' in speed and '| `cnn` | 300.0 | 300.0 | 300.0 |' in speed
    readme = regenerated['README.md'][1]
    assert 'ResNet-74 + stochastic depth 100 / 29 / 207 images/s' in readme
    assert 'inference (test mode), batch 128, CPU' in readme


def test_update_docs_leaves_out_what_an_old_results_file_lacks(tmp_path):
    """A CSV from before ResNet-74, inference and the GEMM peak: no such rows."""
    copy_old_results(tmp_path)
    tables = _update_docs().tables(str(tmp_path))
    speed, readme = tables[('docs/speed.md', 'speed-cpu')], tables[('README.md', 'speed')]
    assert 'ResNet-20' in speed and 'ResNet-74' not in speed and '% of peak' not in speed
    assert 'Inference' not in speed and 'inference' not in readme


def test_check_mode_exits_0_when_current():
    result = subprocess.run([sys.executable, SCRIPT, '--check'], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize('figure', [
    '9.94', '10.56', '12.2%', '11.7%', 'H100', '408 images/s', '40,000–92,000', '≈ 35 s',
    '≥ 20 s', '27 vs 29'])
def test_figures_without_a_file_are_gone(figure):
    for path in ['README.md'] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md'))):
        with open(os.path.join(ROOT, path), encoding='utf-8') as f:
            assert figure not in f.read(), '{}: unbacked figure {!r}'.format(path, figure)
