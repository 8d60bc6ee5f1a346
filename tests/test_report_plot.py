"""src/plot.py and the reporting package on synthetic run directories."""
import csv
import hashlib
import json
import os
import subprocess
import sys

import pytest

from chainer_compare.reporting import seed004
from chainer_compare.reporting.runs import load_runs
from chainer_compare.reporting.summary import Stat, group_runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLOT = os.path.join(ROOT, 'src', 'plot.py')
BASE_ARGS = {'gpu': -1, 'model': 'cnn', 'batch_size': 128, 'dataset': 'dataset/image.pkl',
             'prefix': 'x', 'iter': 3, 'lr': None, 'optimizer': 'adam', 'lr_decay_iter': '100',
             'lr_shape': 'multistep', 'augment': 'crop,mirror', 'res_depth': 3,
             'skip_depth': False, 'seed': 0, 'out': 'results', 'fast_cpu': True}


def make_run(root, name, val, test, summary=True, **args):
    """A run dir as src/train.py writes it; ``val``/``test`` are error fractions per epoch."""
    path = os.path.join(str(root), name)
    os.makedirs(path)
    log = [{'epoch': i + 1, 'iteration': 10 * (i + 1), 'elapsed_time': 2.0 * (i + 1),
            'lr': 0.001, 'main/loss': 2.0 / (i + 1), 'main/accuracy': 0.5,
            'validation/main/loss': 1.0, 'validation/main/accuracy': 1 - v,
            'test/main/loss': 1.0, 'test/main/accuracy': 1 - t}
           for i, (v, t) in enumerate(zip(val, test))]
    run_args = dict(BASE_ARGS, prefix=name, **args)
    with open(os.path.join(path, 'log'), 'w') as f:
        json.dump(log, f, indent=4)
    with open(os.path.join(path, 'args'), 'w') as f:
        json.dump(run_args, f)
    with open(os.path.join(path, 'metadata.json'), 'w') as f:
        json.dump({'device': {'device': 'CPU: test', 'cudnn_in_use': False},
                   'versions': {'chainer': '7.8.1'}, 'images_per_s': 1000.0,
                   'dataset': {'name': 'cifar10', 'preprocessing': preprocessing(run_args)}}, f)
    if summary:
        best = min(range(len(val)), key=lambda i: val[i])
        with open(os.path.join(path, 'summary.json'), 'w') as f:
            json.dump({'best_epoch': best + 1, 'best_validation_error': val[best],
                       'test_error_at_best': test[best], 'final_test_error': test[-1],
                       'epochs': len(val), 'wall_time_s': 2.0 * len(val),
                       'images_per_s': 1000.0, 'status': 'finished'}, f)
    return path


def preprocessing(args):
    return os.path.splitext(os.path.basename(args['dataset']))[0]


def tree_hashes(root):
    hashes = {}
    for dirpath, _, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, 'rb') as f:
                hashes[os.path.relpath(path, str(root))] = hashlib.sha256(f.read()).hexdigest()
    return hashes


def make_results(root):
    """Three seeds of cnn, one cnnbn, one vgg still running, three broken runs."""
    for seed, (v, t) in enumerate([(0.30, 0.20), (0.32, 0.22), (0.34, 0.24)], 1):
        # gpu and fast_cpu do not change the experiment: still one configuration
        make_run(root, 'cnn_seed%d' % seed, [0.5, v, v + 0.01], [0.5, t, t + 0.02], seed=seed,
                 gpu=seed - 2, fast_cpu=seed != 3)
    make_run(root, 'cnnbn', [0.2, 0.15, 0.1], [0.2, 0.15, 0.124], model='cnnbn')
    make_run(root, 'vgg', [0.4, 0.08], [0.4, 0.0765], summary=False, model='vgg')
    bad = make_run(root, 'corrupt_log', [0.1], [0.1], model='allconv')
    with open(os.path.join(bad, 'log'), 'w') as f:
        f.write('this is not json')
    bad = make_run(root, 'corrupt_args', [0.1], [0.1], model='allconv')
    with open(os.path.join(bad, 'args'), 'w') as f:
        f.write('{"model": "allconv", "seed"')
    bad = make_run(root, 'partial_log', [0.1, 0.2], [0.1, 0.2], summary=False, model='allconv')
    with open(os.path.join(bad, 'log')) as f:
        text = f.read()
    with open(os.path.join(bad, 'log'), 'w') as f:
        f.write(text[:len(text) // 2])


def run_plot(*argv):
    return subprocess.run([sys.executable, PLOT] + [str(a) for a in argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_stat_is_mean_and_sample_std():
    stat = Stat([0.20, 0.22, 0.24, None])
    assert stat.n == 3
    assert stat.mean == pytest.approx(0.22)
    assert stat.std == pytest.approx(0.02)  # ddof=1: sqrt((0.02² + 0 + 0.02²) / 2)
    assert stat.format() == '22.00 \u00b1 2.00 (3)'
    assert Stat([0.124]).format() == '12.40 \u00b1 \u2013 (1)'
    assert Stat([]).format() == '\u2013'


def test_grouping_ignores_seed_and_bookkeeping(tmp_path):
    make_results(tmp_path)
    runs, skipped = load_runs([str(tmp_path)])
    assert sorted(os.path.basename(s.path) for s in skipped) == [
        'corrupt_args', 'corrupt_log', 'partial_log']
    assert any('truncated' in s.reason for s in skipped)
    configs = group_runs(runs)
    assert [c.label for c in configs] == ['cnn', 'cnnbn', 'vgg']
    cnn, cnnbn, vgg = configs
    assert len(cnn.runs) == 3
    assert cnn.stats['test_error_at_best'].std == pytest.approx(0.02)
    assert cnn.stats['final_test_error'].mean == pytest.approx(0.24)
    # vgg has no summary.json: derived from its log and marked running
    assert vgg.runs[0].status == 'running'
    assert vgg.runs[0].metrics['best_epoch'] == 2
    assert vgg.stats['test_error_at_best'].mean == pytest.approx(0.0765)
    by_lr = group_runs(runs, ['optimizer'])
    assert len(by_lr) == 1 and len(by_lr[0].runs) == 5


def test_plot_cli_writes_tables_figures_report_and_leaves_runs_alone(tmp_path):
    results = tmp_path / 'results'
    make_results(results)
    before = tree_hashes(results)
    out = tmp_path / 'report'
    proc = run_plot(results, '--out', out, '--log-epochs')
    assert proc.returncode == 0, proc.stderr
    assert tree_hashes(results) == before
    skipped = [l for l in proc.stderr.splitlines() if 'skipped' in l]
    assert len(skipped) == 3
    for name, file in (('corrupt_log', 'log'), ('corrupt_args', 'args'), ('partial_log', 'log')):
        assert any(os.path.join(name, file) in line for line in skipped), proc.stderr
    md = (out / 'summary.md').read_text()
    table = md.split('\n\n')[0]  # the summary table, then the verdicts section
    assert table.count('\n') == 2 + 3 - 1
    assert '## Verdicts' in md and '`vgg` (vgg): no summary.json' in md
    assert '22.00 \u00b1 2.00 (3)' in md and '12.40 \u00b1 \u2013 (1)' in md
    assert 'running' in md and 'adam' in md and 'cifar10 / image' in md and 'CPU: test' in md
    with open(str(out / 'summary.csv')) as f:
        rows = list(csv.DictReader(f))
    assert [r['configuration'] for r in rows] == ['cnn', 'cnnbn', 'vgg']
    assert float(rows[0]['test_error_at_best_pct_mean']) == pytest.approx(22.0)
    assert float(rows[0]['test_error_at_best_pct_std']) == pytest.approx(2.0)
    assert rows[1]['test_error_at_best_pct_std'] == '' and rows[0]['n'] == '3'
    assert (out / 'curves.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    page = (out / 'report.html').read_text()
    assert page.count('class="config-row"') == 3
    assert 'corrupt_args' in page  # the skipped runs are listed in the report too
    for external in ('src="http', 'href="http', 'url(http', '<link'):
        assert external not in page


def test_plot_cli_empty_results_dir_is_one_clear_error(tmp_path):
    proc = run_plot(tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.count('\n') == 1 and 'no run directories' in proc.stderr
    assert os.listdir(str(tmp_path)) == []


def test_plot_cli_all_runs_broken_fails(tmp_path):
    bad = make_run(tmp_path, 'broken', [0.1], [0.1])
    with open(os.path.join(bad, 'log'), 'w') as f:
        f.write('[{"epoch": 1,')
    proc = run_plot(tmp_path)
    assert proc.returncode != 0 and 'broken' in proc.stderr and 'truncated' in proc.stderr


def test_seed004_study_and_reference_view(tmp_path):
    """studies/seed004.yaml is seed 004's seven commands, and its runs meet the references."""
    from chainer_compare.study import load_study
    study = load_study(os.path.join(ROOT, 'studies', 'seed004.yaml'))
    configs = []
    for run in study.runs:
        if run.config not in configs:
            configs.append(run.config)
    assert configs == ['cnn', 'cnn_zca', 'cnnbn', 'cnnbn_zca', 'vgg_adam', 'residual',
                       'residual_skip']
    assert sorted({r.seed for r in study.runs}) == [1, 2, 3, 4, 5]
    skip = next(r for r in study.runs if r.name == 'residual_skip_s1')
    for flag in ('--res_depth 12', '--skip_depth', '--optimizer sgd', '--lr 0.1', '--iter 300',
                 '--lr_decay_iter 100', '--batch_size 128'):
        assert flag in ' '.join(skip.argv), flag
    assert '--optimizer adam' in ' '.join(study.runs[0].argv)
    # Runs made from each configuration's flags land in their own row beside the published error.
    firsts = [next(r for r in study.runs if r.config == c) for c in configs]
    for i, run in enumerate(firsts[:6]):
        args = {'model': run.flags['model'], 'skip_depth': run.flags['skip_depth'],
                'dataset': run.flags['dataset'], 'res_depth': run.flags['res_depth']}
        make_run(tmp_path, run.name, [0.3, 0.2], [0.3, 0.1 + i / 100.0], **args)
    proc = run_plot(tmp_path, '--reference', 'seed004')
    assert proc.returncode == 0, proc.stderr
    rows = (tmp_path / 'seed004.md').read_text().splitlines()[2:]
    assert len(rows) == 7
    for i, (row, ref) in enumerate(zip(rows, seed004.SEED004)):
        cells = [c.strip() for c in row.strip('|').split('|')]
        assert cells[0] == ref.name and cells[1] == '%.2f' % ref.published
        if i < 6:
            assert cells[3] == '%.2f \u00b1 \u2013 (1)' % (10 + i)
            assert cells[5] == '%+.2f' % (10 + i - ref.published)
        else:
            assert cells[2] == 'not run'
    assert (tmp_path / 'seed004.png').stat().st_size > 1000


def test_same_data_by_another_path_is_one_configuration(tmp_path):
    make_run(tmp_path, 'a', [0.3], [0.2], seed=1, dataset='dataset/image_zca.pkl')
    make_run(tmp_path, 'b', [0.3], [0.3], seed=2, dataset='/elsewhere/dataset/image_zca.pkl')
    make_run(tmp_path, 'c', [0.3], [0.3], seed=3, dataset='dataset/image_norm_zca.pkl')
    runs, _ = load_runs([str(tmp_path)])
    configs = group_runs(runs)
    assert [(c.label, len(c.runs)) for c in configs] == [
        ('cifar10 / image_zca', 2), ('cifar10 / image_norm_zca', 1)]


def test_group_by_unknown_arg_is_one_clear_error(tmp_path):
    make_run(tmp_path, 'a', [0.3], [0.2])
    proc = run_plot(tmp_path, '--group-by', 'model,modle')
    assert proc.returncode == 2 and 'modle' in proc.stderr and proc.stderr.count('\n') == 1


def test_run_without_validation_split_and_broken_metadata_is_still_reported(tmp_path):
    path = make_run(tmp_path, 'novalid', [0.3, 0.2], [0.25, 0.15], summary=False,
                    no_valid_data=True)
    with open(os.path.join(path, 'log')) as f:
        log = json.load(f)
    for entry in log:
        del entry['validation/main/accuracy']
    with open(os.path.join(path, 'log'), 'w') as f:
        json.dump(log, f)
    with open(os.path.join(path, 'metadata.json'), 'w') as f:
        f.write('{"device": ')
    (run,), skipped = load_runs([str(tmp_path)])
    assert skipped == [] and run.status == 'running'
    assert run.metrics['best_epoch'] == 2 and run.metrics['best_validation_error'] is None
    assert run.metrics['test_error_at_best'] == pytest.approx(0.15)
    assert len(run.notes) == 1 and 'metadata.json' in run.notes[0]
    proc = run_plot(tmp_path, '--out', tmp_path / 'out', '--no-html')
    assert proc.returncode == 0 and 'metadata.json' in proc.stderr
    row = (tmp_path / 'out' / 'summary.md').read_text().splitlines()[2]
    assert '| \u2013 | 15.00 \u00b1 \u2013 (1) |' in row
