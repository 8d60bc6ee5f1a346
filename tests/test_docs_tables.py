"""Every measured figure in README.md and docs/ comes from a committed results
file (issue 12, point 5): the tables between ``<!-- table:NAME:start/end -->``
markers must equal what scripts/update_docs.py generates from bench/*.csv, and
every results file names the command, date, commit and machine behind it."""
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


def test_a_changed_figure_is_caught(tmp_path):
    module = _update_docs()
    for relative in ('README.md', 'docs/speed.md', 'docs/data.md'):
        os.makedirs(tmp_path / os.path.dirname(relative), exist_ok=True)
        shutil.copy(os.path.join(ROOT, relative), tmp_path / relative)
    shutil.copytree(os.path.join(ROOT, 'bench'), tmp_path / 'bench',
                    ignore=shutil.ignore_patterns('*.py', '__pycache__'))
    shutil.copytree(os.path.join(ROOT, 'docs', 'results'), tmp_path / 'docs' / 'results')
    csv_path = tmp_path / 'bench' / 'results.csv'
    csv_path.write_text(csv_path.read_text().replace('train,cnn,fast,128,183.8329',
                                                     'train,cnn,fast,128,283.8329'))
    regenerated = module.regenerated(str(tmp_path))
    current, new = regenerated['README.md']
    assert current != new and '`cnn` 284 / 54 / 252' in new
    assert regenerated['docs/speed.md'][0] != regenerated['docs/speed.md'][1]


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
