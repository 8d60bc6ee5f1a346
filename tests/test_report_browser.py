"""results/report.html in a real headless browser (Debian's chromium)."""
import os
import re
import shutil
import subprocess

import pytest

from test_report_plot import make_results, run_plot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
ARTIFACT = os.path.join(ROOT, 'results', 'test-artifacts', 'report-screenshot.png')

pytestmark = [pytest.mark.browser, pytest.mark.requires('chromium')]  # tests/components.py


def browse(page, tmp_path, *extra, fragment=''):
    """Load ``page`` headless; return (stdout, console lines chromium logged)."""
    command = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
               '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync',
               '--user-data-dir=' + str(tmp_path / 'chromium-profile'),
               '--enable-logging=stderr', '--v=0'] + list(extra)
    command.append('file://' + str(page) + fragment)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if 'CONSOLE' in line]
    return proc.stdout, console


def js_errors(dom):
    found = re.search(r'<html[^>]*data-js-errors="([^"]*)"', dom)
    return found.group(1) if found else ''


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp('browser')
    make_results(root / 'results')
    proc = run_plot(root / 'results', '--out', root / 'out', '--reference', 'seed004')
    assert proc.returncode == 0, proc.stderr
    return root / 'out' / 'report.html'


def test_report_loads_without_errors_one_row_per_configuration(report, tmp_path):
    dom, console = browse(report, tmp_path, '--dump-dom')
    assert console == []
    assert js_errors(dom) == ''
    assert len(re.findall(r'<tr class="config-row"', dom)) == 3
    assert 'id="reference-table"' in dom and dom.count('<details class="run"') == 5


def test_report_sorts_by_column(report, tmp_path):
    dom, console = browse(report, tmp_path, '--dump-dom',
                          fragment='#sort=-test-error-at-best-epoch')
    assert console == [] and js_errors(dom) == ''
    assert 'data-sorted="test-error-at-best-epoch:desc"' in dom
    first_cells = re.findall(r'<tr class="config-row"><td>([^<]*)</td>', dom)
    assert first_cells == ['cnn', 'cnnbn', 'vgg']  # 22.0 > 12.4 > 7.65
    dom, _ = browse(report, tmp_path, '--dump-dom', fragment='#sort=test-error-at-best-epoch')
    first_cells = re.findall(r'<tr class="config-row"><td>([^<]*)</td>', dom)
    assert first_cells == ['vgg', 'cnnbn', 'cnn']


def test_console_error_detection_can_fail(tmp_path):
    page = tmp_path / 'broken.html'
    page.write_text('<html><head><script>window.onerror=function(m){document.documentElement.'
                    'setAttribute("data-js-errors",m)}</script></head><body>'
                    '<script>undefinedFunction();</script></body></html>')
    dom, console = browse(page, tmp_path, '--dump-dom')
    assert 'undefinedFunction' in js_errors(dom)
    assert any('Uncaught' in line for line in console)


def test_report_screenshot(report, tmp_path):
    shot = tmp_path / 'report.png'
    _, console = browse(report, tmp_path, '--screenshot=' + str(shot), '--window-size=1400,1800',
                        '--hide-scrollbars')
    assert console == []
    data = shot.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 20000
    os.makedirs(os.path.dirname(ARTIFACT), exist_ok=True)
    shutil.copyfile(str(shot), ARTIFACT)
    print('report screenshot: ' + ARTIFACT)


@pytest.fixture(scope='module')
def verdict_report(tmp_path_factory):
    """Two configurations on the same five seeds (a clear win) and one with a single run."""
    from test_report_verdicts import A, B, add_run
    root = tmp_path_factory.mktemp('verdicts')
    for seed, (a, b) in enumerate(zip(A, B), 1):
        add_run(root / 'results', 'cnn', seed, a)
        add_run(root / 'results', 'cnnbn', seed, b)
    add_run(root / 'results', 'vgg', 1, 0.5)
    add_run(root / 'results', 'vgg', 2, 0.9, status='nan')
    proc = run_plot(root / 'results', '--out', root / 'out', '--baseline', 'cnnbn')
    assert proc.returncode == 0, proc.stderr
    return root / 'out' / 'report.html'


# Appended to a copy of the page: measures what the browser laid out, into the DOM.
_MEASURE = """<script>(function(){var out=[];
document.querySelectorAll('#verdict-table svg.ci-bar').forEach(function(svg){
  var ci=svg.querySelector('line.ci'),dot=svg.querySelector('circle.mean');
  out.push([svg.getBoundingClientRect().width,ci?ci.getBoundingClientRect().width:-1,
            dot?dot.getBoundingClientRect().width:-1].join(','));});
document.documentElement.setAttribute('data-bars',out.join(';'));})();</script>"""


def test_verdict_column_and_ci_bars_render(verdict_report, tmp_path):
    page = tmp_path / 'measured.html'
    page.write_text(verdict_report.read_text().replace('</body>', _MEASURE + '</body>'))
    dom, console = browse(page, tmp_path, '--dump-dom', '--window-size=1400,1800')
    assert console == [] and js_errors(dom) == ''
    # the summary table's verdict column, one cell per configuration
    verdicts = re.findall(r'<tr class="config-row">.*?<td>([^<]*)</td></tr>', dom)
    assert verdicts == ['better', 'baseline', 'no verdict']
    assert len(re.findall(r'<tr class="pair-row"', dom)) == 2
    assert re.search(r'class="verdict verdict-better">better \(\u2212[0-9.]+ pt, 95 % CI', dom)
    assert 'n = 1: no verdict, run more seeds' in dom
    assert 'id="excluded"' in dom and 'vgg_s2' in dom  # the diverged run is named
    bars = re.search(r'data-bars="([^"]*)"', dom).group(1).split(';')
    widths = [[float(v) for v in bar.split(',')] for bar in bars]
    assert len(widths) == 2
    cnn_bar, vgg_bar = widths
    assert cnn_bar[0] > 100 and cnn_bar[1] > 1 and cnn_bar[2] > 1  # a CI line and its dot
    assert vgg_bar[1] == -1 and vgg_bar[2] > 1  # n = 1: a dot, no interval
