"""The README demo section generator on a synthetic demo output directory."""
import json
import os
import subprocess
import sys

import pytest

from chainer_compare.errors import UserError
from chainer_compare.reporting import readme_demo
from test_report_plot import ROOT, run_plot
from test_report_verdicts import add_run

README = """# project

intro
<!-- demo:start -->
old, hand-written numbers
<!-- demo:end -->

## next section
"""


@pytest.fixture(scope='module')
def demo_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    for seed in (1, 2):
        add_run(root / 'demo', 'cnn', seed, 0.20 + 0.01 * seed, iter=3, train_size=4000)
        add_run(root / 'demo', 'cnnbn', seed, 0.23 + 0.013 * seed, iter=3, train_size=4000)
    proc = run_plot(root / 'demo', '--json')
    assert proc.returncode == 0, proc.stderr
    return root / 'demo'


def test_generator_writes_figure_record_and_readme_section(demo_dir, tmp_path):
    (tmp_path / 'README.md').write_text(README)
    written = readme_demo.generate(str(demo_dir), date='2026-12-03', wall_time_s=840,
                                   root=str(tmp_path))
    figure = tmp_path / 'docs' / 'demo' / 'fashion-mnist-demo-2026-12-03.png'
    assert figure.read_bytes() == (demo_dir / 'curves.png').read_bytes()
    record = json.loads((tmp_path / 'docs' / 'demo' / 'demo-2026-12-03.json').read_text())
    assert record['budget'] == {'epochs': [3], 'train_size': [4000], 'seeds': [1, 2]}
    assert record['baseline'] == 'cnn' and record['command'] == 'make demo'
    assert record['machine']['cpu_count'] == os.cpu_count() and record['wall_time_s'] == 840
    assert [r['test_error'] for r in record['table']] == ['21.50 \u00b1 0.71 (2)',
                                                          '24.95 \u00b1 0.92 (2)']
    readme = (tmp_path / 'README.md').read_text()
    assert 'old, hand-written' not in readme
    assert readme.startswith('# project\n\nintro\n<!-- demo:start -->\n### What `make demo`')
    assert readme.endswith('<!-- demo:end -->\n\n## next section\n')
    assert '14 min 0 s' in readme and '3 epochs on 4,000 training images; seeds 1, 2' in readme
    assert '](docs/demo/fashion-mnist-demo-2026-12-03.png)' in readme
    assert '| `cnnbn` | 24.95 \u00b1 0.92 (2) | ' in readme
    assert '- `cnnbn` vs `cnn`: worse (+3.45 pt, 95 % CI' in readme
    assert 'cannot go below p = 0.5 with 2 paired seeds' in readme
    assert len(written) == 3
    # running it again replaces the section instead of adding a second one
    readme_demo.generate(str(demo_dir), date='2026-12-03', root=str(tmp_path))
    assert (tmp_path / 'README.md').read_text().count('<!-- demo:start -->') == 1


def test_generator_refuses_a_readme_without_markers_and_a_dir_without_summary(demo_dir,
                                                                              tmp_path):
    (tmp_path / 'README.md').write_text('# no markers\n')
    with pytest.raises(UserError, match='README.md: needs exactly one'):
        readme_demo.generate(str(demo_dir), date='2026-12-03', root=str(tmp_path))
    assert (tmp_path / 'README.md').read_text() == '# no markers\n'
    proc = subprocess.run([sys.executable, '-m', 'chainer_compare.reporting.readme_demo',
                           str(tmp_path), '--root', str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and 'summary.json: missing' in proc.stderr
    assert proc.stderr.strip().count('\n') == 0


def test_the_project_readme_has_the_markers():
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    assert text.count('<!-- demo:start -->') == 1 and text.count('<!-- demo:end -->') == 1
