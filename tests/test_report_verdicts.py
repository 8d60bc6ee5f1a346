"""Verdicts: which runs count, the baseline, the words, and src/plot.py end to end."""
import csv
import json
import os

import numpy as np
import pytest
from scipy import stats as sps

from chainer_compare.errors import UserError
from chainer_compare.reporting import stats
from chainer_compare.reporting.compare import Comparison
from chainer_compare.reporting.runs import load_runs
from chainer_compare.reporting.summary import group_runs
from test_report_plot import make_run, run_plot


def add_run(root, config, seed, test_error, status='finished', test_images=None, **args):
    """One run named <config>_s<seed> whose test error at the best epoch is ``test_error``."""
    path = make_run(root, '{}_s{}'.format(config, seed), [0.4, 0.3], [0.5, test_error],
                    seed=seed, model=config, **args)
    if status != 'finished':
        with open(os.path.join(path, 'summary.json')) as f:
            summary = json.load(f)
        with open(os.path.join(path, 'summary.json'), 'w') as f:
            json.dump(dict(summary, status=status), f)
    if test_images:
        with open(os.path.join(path, 'metadata.json')) as f:
            meta = json.load(f)
        meta['dataset']['test_images'] = test_images
        with open(os.path.join(path, 'metadata.json'), 'w') as f:
            json.dump(meta, f)
    return path


def compare(root, **kwargs):
    runs, _ = load_runs([str(root)])
    return Comparison(group_runs(runs), **kwargs)


def pair_of(comparison, label):
    return next(p for p in comparison.pairs if p.a.label == label)


A = [0.200, 0.210, 0.195, 0.205, 0.215]  # errors per seed 1..5
B = [0.225, 0.231, 0.221, 0.236, 0.229]


def test_equal_seeds_are_paired_and_a_clear_win_is_better(tmp_path):
    for seed, (a, b) in enumerate(zip(A, B), 1):
        add_run(tmp_path, 'cnn', seed, a)
        add_run(tmp_path, 'cnnbn', seed, b)
    comparison = compare(tmp_path, baseline='cnnbn')
    assert comparison.baseline.label == 'cnnbn'
    pair = pair_of(comparison, 'cnn')
    assert pair.paired and pair.difference['test'] == 'paired t'
    d = 100 * (np.array(A) - np.array(B))
    assert pair.difference['mean_difference'] == pytest.approx(d.mean())
    assert pair.difference['p_value'] == pytest.approx(sps.ttest_rel(100 * np.array(A),
                                                                     100 * np.array(B)).pvalue)
    assert pair.exact_p == pytest.approx(2 / 32)  # every seed favours cnn: 2 of 32 sign flips
    assert pair.p_better == 1.0
    assert pair.verdict == 'better'
    assert pair.text.startswith('better (\u2212{:.2f} pt, 95 % CI'.format(-d.mean()))
    assert 'P(better) = 1.00' in pair.text
    assert 'cannot go below p = 0.062 with 5 paired seeds' in pair.text  # 2/32 > 0.05
    # default baseline = the lowest mean error: cnn; seen from there cnnbn is worse
    default = compare(tmp_path)
    assert default.baseline.label == 'cnn' and pair_of(default, 'cnnbn').verdict == 'worse'


def test_three_paired_seeds_say_the_exact_test_cannot_reach_005(tmp_path):
    for seed in (1, 2, 3):
        add_run(tmp_path, 'cnn', seed, 0.20 + 0.001 * seed)
        add_run(tmp_path, 'cnnbn', seed, 0.20 + 0.001 * seed + 0.0005 * (-1) ** seed)
    pair = pair_of(compare(tmp_path, baseline='cnnbn'), 'cnn')
    assert pair.paired and pair.smallest_exact_p == 0.25
    assert pair.verdict == 'no detectable difference'
    assert 'detecting 1 pt would need about {} seeds per side'.format(pair.seeds_needed) \
        in pair.text
    assert pair.seeds_needed == stats.seeds_needed(pair.spread, 1.0, True)
    assert 'cannot go below p = 0.25 with 3 paired seeds' in pair.text
    assert 'not significant' not in pair.text


def test_unequal_n_uses_welch(tmp_path):
    for seed, error in zip((1, 2, 3), (0.20, 0.21, 0.19)):
        add_run(tmp_path, 'cnn', seed, error)
    for seed, error in zip((1, 2), (0.30, 0.31)):
        add_run(tmp_path, 'vgg', seed, error)
    pair = pair_of(compare(tmp_path, baseline='vgg'), 'cnn')
    assert not pair.paired and pair.difference['test'] == 'Welch t'
    reference = sps.ttest_ind([20.0, 21.0, 19.0], [30.0, 31.0], equal_var=False)
    assert pair.difference['p_value'] == pytest.approx(reference.pvalue)
    assert pair.smallest_exact_p == pytest.approx(2 / 10) and pair.exact_test == 'permutation'
    assert pair.verdict == 'better'


def test_n_1_gives_no_verdict(tmp_path):
    add_run(tmp_path, 'cnn', 1, 0.10)
    add_run(tmp_path, 'vgg', 1, 0.30)
    add_run(tmp_path, 'vgg', 2, 0.31)
    pair = pair_of(compare(tmp_path, baseline='vgg'), 'cnn')
    assert pair.verdict == 'no verdict' and pair.text == 'n = 1: no verdict, run more seeds'
    assert pair.holm_p is None and pair.difference['ci_low'] is None


def test_identical_results_no_nan_and_a_sensible_verdict(tmp_path):
    for seed in (1, 2, 3):
        add_run(tmp_path, 'cnn', seed, 0.25)
        add_run(tmp_path, 'cnnbn', seed, 0.25)
    comparison = compare(tmp_path)
    pair = comparison.pairs[0]
    assert pair.verdict == 'no detectable difference'
    assert 'identical results' in pair.text
    document = json.dumps(comparison.to_json(), allow_nan=False)  # no NaN anywhere
    assert 'NaN' not in document


def test_failed_and_unfinished_runs_are_excluded_and_named(tmp_path):
    for seed, error in zip((1, 2, 3), (0.20, 0.21, 0.19)):
        add_run(tmp_path, 'cnn', seed, error)
    add_run(tmp_path, 'cnn', 4, 0.90, status='nan')
    add_run(tmp_path, 'cnn', 5, 0.95, status='interrupted')
    make_run(tmp_path, 'cnn_s6', [0.4], [0.6], summary=False, seed=6, model='cnn')  # running
    comparison = compare(tmp_path)
    cnn = comparison.configs[0]
    assert cnn.n == 3 and cnn.mean == pytest.approx(20.0)
    excluded = {run.name: why for _, run, why in comparison.excluded}
    assert sorted(excluded) == ['cnn_s4', 'cnn_s5', 'cnn_s6']
    assert 'diverged' in excluded['cnn_s4'] and 'interrupted' in excluded['cnn_s5']
    assert 'still running' in excluded['cnn_s6']
    assert [e['run'] for e in comparison.to_json()['excluded_runs']] == [
        'cnn_s4', 'cnn_s5', 'cnn_s6']


def test_noise_floors_use_the_recorded_test_set_size_else_say_assumed(tmp_path):
    for seed in (1, 2):
        add_run(tmp_path, 'cnn', seed, 0.20, test_images=2000)
        add_run(tmp_path, 'vgg', seed, 0.10 + 0.01 * seed)
    cnn, vgg = compare(tmp_path).configs
    assert cnn.test_images == 2000 and cnn.test_images_source == 'metadata.json'
    assert cnn.test_set_se == pytest.approx(100 * np.sqrt(0.2 * 0.8 / 2000))
    assert vgg.test_images == 10000 and vgg.test_images_source.startswith('assumed')
    assert vgg.seed_std == pytest.approx(100 * np.std([0.11, 0.12], ddof=1))


def test_holm_runs_across_all_pairs(tmp_path):
    for seed in (1, 2, 3, 4):
        add_run(tmp_path, 'cnn', seed, 0.20 + 0.004 * seed)
        add_run(tmp_path, 'cnnbn', seed, 0.21 + 0.006 * (seed % 3))
        add_run(tmp_path, 'vgg', seed, 0.25 + 0.002 * seed)
    comparison = compare(tmp_path, all_pairs=True)
    assert len(comparison.pairs) == 3
    raw = [p.difference['p_value'] for p in comparison.pairs]
    assert [p.holm_p for p in comparison.pairs] == pytest.approx(stats.holm(raw))
    assert all(p.b is comparison.baseline for p in comparison.pairs
               if comparison.baseline in (p.a, p.b))


def test_baseline_by_run_name_stem_or_label_and_a_clear_error(tmp_path):
    for seed in (1, 2):
        add_run(tmp_path, 'cnn', seed, 0.20)
        add_run(tmp_path, 'cnnbn', seed, 0.22, augment='flip')
    assert compare(tmp_path, baseline='cnnbn').baseline.name == 'cnnbn'
    label = compare(tmp_path).configs[1].label  # 'cnnbn, augment=flip'
    assert compare(tmp_path, baseline=label).baseline.label == label
    with pytest.raises(UserError, match=r'--baseline resnet: no such configuration; valid '
                                        r'names: .*cnn.*cnnbn'):
        compare(tmp_path, baseline='resnet')


def test_plot_cli_writes_verdicts_everywhere(tmp_path):
    results, out = tmp_path / 'results', tmp_path / 'out'
    for seed, (a, b) in enumerate(zip(A, B), 1):
        add_run(results, 'cnn', seed, a)
        add_run(results, 'cnnbn', seed, b)
    add_run(results, 'cnnbn', 9, 0.9, status='nan')
    add_run(results, 'vgg', 1, 0.5)
    proc = run_plot(results, '--out', out, '--json', '--baseline', 'cnnbn')
    assert proc.returncode == 0, proc.stderr
    assert 'Verdicts' in proc.stdout and 'better (' in proc.stdout
    md = (out / 'summary.md').read_text()
    header = md.splitlines()[0]
    assert header.rstrip(' |').endswith('verdict vs baseline')
    rows = {line.split(' | ')[0].strip('| '): line for line in md.splitlines()[2:5]}
    assert rows['cnn'].rstrip(' |').endswith('better')
    assert rows['cnnbn'].rstrip(' |').endswith('baseline')
    assert rows['vgg'].rstrip(' |').endswith('no verdict')
    assert 'n = 1: no verdict, run more seeds' in md
    assert '`cnnbn_s9` (cnnbn): training diverged' in md
    document = json.loads((out / 'summary.json').read_text())
    assert document['baseline'] == 'cnnbn'
    pair = next(c for c in document['comparisons'] if c['a'] == 'cnn')
    d = 100 * (np.array(A) - np.array(B))
    half = sps.t.ppf(0.975, 4) * d.std(ddof=1) / np.sqrt(5)
    assert pair['paired_by_seed'] and pair['n_a'] == pair['n_b'] == 5
    assert pair['mean_difference_pct'] == pytest.approx(d.mean())
    assert pair['ci95_pct'] == pytest.approx([d.mean() - half, d.mean() + half])
    assert pair['exact_p'] == pytest.approx(2 / 32) and pair['smallest_exact_p'] == 2 / 32
    assert pair['p_a_better'] == 1.0 and pair['verdict'] == 'better'
    configs = {c['configuration']: c for c in document['configurations']}
    assert configs['cnnbn']['n'] == 5 and configs['cnnbn']['excluded_runs'] == ['cnnbn_s9']
    assert configs['cnn']['seed_std_pct'] == pytest.approx(100 * np.std(A, ddof=1))
    assert configs['cnn']['args']['model'] == 'cnn'
    assert document['excluded_runs'][0]['run'] == 'cnnbn_s9'
    with open(str(out / 'summary.csv')) as f:
        csv_rows = {r['configuration']: r for r in csv.DictReader(f)}
    assert csv_rows['cnn']['verdict'] == 'better'
    assert float(csv_rows['cnn']['difference_vs_baseline_pct']) == pytest.approx(d.mean(),
                                                                                 rel=1e-5)
    page = (out / 'report.html').read_text()
    assert page.count('class="pair-row"') == 2 and page.count('<svg class="ci-bar"') == 2


def test_plot_cli_unknown_baseline_is_one_line_and_exit_2(tmp_path):
    add_run(tmp_path / 'results', 'cnn', 1, 0.2)
    add_run(tmp_path / 'results', 'vgg', 1, 0.3)
    proc = run_plot(tmp_path / 'results', '--out', tmp_path / 'out', '--baseline', 'nope')
    assert proc.returncode == 2
    assert proc.stderr.strip().count('\n') == 0
    assert '--baseline nope: no such configuration; valid names: cnn, vgg' in proc.stderr
    assert not (tmp_path / 'out').exists()


def test_zero_spread_difference_falls_back_to_the_exact_test(tmp_path):
    # every seed 3 points apart: t is x/0; the sign-flip test decides (2 seeds: p = 0.5)
    for seed in (1, 2):
        add_run(tmp_path, 'cnn', seed, 0.20 + 0.01 * seed)
        add_run(tmp_path, 'vgg', seed, 0.23 + 0.01 * seed)
    pair = pair_of(compare(tmp_path, baseline='cnn'), 'vgg')
    assert pair.difference['p_value'] is None and pair.decision_test == 'sign-flip'
    assert pair.holm_p == pytest.approx(0.5) and pair.verdict == 'no detectable difference'
    # ten seeds agreeing: the exact test reaches 2 / 2^10 and the verdict follows
    for seed in range(3, 11):
        add_run(tmp_path, 'cnn', seed, 0.20 + 0.01 * seed)
        add_run(tmp_path, 'vgg', seed, 0.23 + 0.01 * seed)
    pair = pair_of(compare(tmp_path, baseline='cnn'), 'vgg')
    assert pair.holm_p == pytest.approx(2 / 1024) and pair.verdict == 'worse'
