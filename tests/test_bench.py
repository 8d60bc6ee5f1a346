"""``make bench``'s pieces (issue 13): the FLOP counter against hand counts, the
PyTorch twin's stochastic depth against Chainer's, and ``run_bench.py --quick``
end to end with its new sections, columns and the docs rendered from its CSV.
No test here asserts a timing."""
import csv
import json
import os
import subprocess
import sys

import numpy
import pytest

import chainer_compare.compat  # noqa: F401  (before chainer)
import chainer
import chainer.links as L

from chainer_compare.models import create_model
from chainer_compare.models.residual import skip_ratios

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'bench'))

import flops  # noqa: E402


def test_flops_of_cnn_match_a_hand_count():
    # cnn on 3x32x32: conv5 3->64 at 32x32, 64->64 at 16x16, 64->128 at 8x8 (pooling
    # 32->16->8->4 after each), fc 128*4*4->1000, fc 1000->10.  Multiply-adds:
    conv1 = 32 * 32 * 64 * 3 * 25           # 4,915,200
    conv2 = 16 * 16 * 64 * 64 * 25          # 26,214,400
    conv3 = 8 * 8 * 128 * 64 * 25           # 13,107,200
    fc = 2048 * 1000 + 1000 * 10            # 2,058,000
    forward = 2 * (conv1 + conv2 + conv3 + fc)
    model = create_model('cnn', in_channels=3, image_size=32, n_classes=10)
    counted = flops.model_flops(model, (3, 32, 32))
    assert counted['eval'] == forward == 92589600
    # Training: forward + backward (2x), less conv1's input gradient.
    assert counted['train'] == 3 * forward - 2 * conv1 == 267938400
    assert [path for path, _ in flops.layer_flops(model, (3, 32, 32))][0].endswith('conv')


@pytest.mark.parametrize('name', ['cnnbn', 'vgg', 'residual'])
def test_flops_count_every_convolution_of_models_with_batch_normalization(name):
    """In evaluation the fast path folds BN into the convolution and calls no
    link for it; the count must still see every convolution (once each)."""
    model = create_model(name, in_channels=3, image_size=32, n_classes=10, res_depth=3)
    convolutions = [link for _, link in model.namedlinks() if isinstance(link, L.Convolution2D)]
    counted = [path for path, _ in flops.layer_flops(model, (3, 32, 32))]
    assert len([p for p in counted if 'conv' in p.split('/')[-1]]) == len(convolutions)


class _Block(chainer.Chain):
    def __init__(self, skip_ratio):
        super().__init__()
        self.skip_ratio = skip_ratio
        with self.init_scope():
            self.fc = L.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)


class _Tiny(chainer.Chain):
    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.fc = L.Linear(4, 3)
            self.block = _Block(0.25)

    def forward(self, x):
        return self.block(self.fc(x))


def test_flops_weight_a_skippable_block_by_its_keep_probability():
    # fc: 2*12 = 24 FLOPs, first layer; block.fc: 2*6 = 12, runs with p 0.75.
    counted = flops.model_flops(_Tiny(), (4,))
    assert counted['eval'] == 36
    assert counted['train'] == pytest.approx(3 * (24 + 0.75 * 12) - 24)


def test_flops_of_stochastic_depth_are_the_expectation_over_skip_ratios():
    plain = create_model('residual', in_channels=3, image_size=32, n_classes=10, res_depth=2)
    skip = create_model('residual', in_channels=3, image_size=32, n_classes=10, res_depth=2,
                        skip_depth=True)
    layers = flops.layer_flops(plain, (3, 32, 32))
    keep = {'/blocks/{}/'.format(i): 1 - r for i, r in enumerate(skip_ratios(2))}
    expected = sum(f * next((k for prefix, k in keep.items() if path.startswith(prefix)), 1.0)
                   for path, f in layers)
    counted = flops.model_flops(skip, (3, 32, 32))
    assert counted['eval'] == flops.model_flops(plain, (3, 32, 32))['eval']
    assert counted['train'] == pytest.approx(3 * expected - layers[0][1])


def test_gemm_gflops_is_a_positive_rate():
    assert flops.gemm_gflops(64, reps=1) > 0


def _copy_chainer_weights(model, twin):
    """Chainer ResidualNet parameters -> the PyTorch twin (same names up to spelling)."""
    import torch
    names = {'W': 'weight', 'b': 'bias', 'gamma': 'weight', 'beta': 'bias'}
    state = twin.state_dict()
    for path, param in model.namedparams():
        parts = path.strip('/').replace('bconv1/conv', 'stem/0').replace(
            'bconv1/bn', 'stem/1').split('/')
        key = '.'.join(parts[:-1] + [names[parts[-1]]])
        assert state[key].shape == param.shape, key
        state[key] = torch.from_numpy(param.array.copy())
    twin.load_state_dict(state)
    for module in twin.modules():  # Chainer's BN epsilon
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eps = 2e-5


@pytest.mark.requires('torch')
def test_torch_twin_skips_the_same_blocks_and_scales_like_chainer():
    import torch
    from torch_models import create_torch_model
    model = create_model('residual', in_channels=3, image_size=32, n_classes=10, res_depth=2,
                         skip_depth=True)
    twin = create_torch_model('residual', 3, 32, 10, res_depth=2, skip_depth=True)
    _copy_chainer_weights(model, twin)
    x = numpy.random.RandomState(0).standard_normal((4, 3, 32, 32)).astype(numpy.float32)
    outputs = set()
    for seed in range(6):  # the same NumPy seed: the same skipped blocks, the same output
        numpy.random.seed(seed)
        with chainer.using_config('train', True), chainer.no_backprop_mode():
            y = model(x).array
        numpy.random.seed(seed)
        twin.train()
        with torch.no_grad():
            y_twin = twin(torch.from_numpy(x)).numpy()
        numpy.testing.assert_allclose(y, y_twin, rtol=1e-3, atol=1e-3)
        outputs.add(y.round(3).tobytes())
    assert len(outputs) > 1  # the seeds did skip different blocks
    twin.eval()
    with chainer.using_config('train', False), chainer.no_backprop_mode(), torch.no_grad():
        numpy.testing.assert_allclose(model(x).array, twin(torch.from_numpy(x)).numpy(),
                                      rtol=1e-3, atol=1e-3)


@pytest.mark.requires('torch')
def test_torch_twins_match_chainer_models():
    """bench/torch_models.py: same parameter count and output shape as the Chainer models."""
    import torch
    from bench_models import BENCH_MODELS
    from torch_models import create_torch_model
    for spec in BENCH_MODELS.values():
        model = create_model(spec.model, in_channels=3, image_size=32, n_classes=10,
                             **spec.options)
        twin = create_torch_model(spec.model, 3, 32, 10, **spec.options)
        assert sum(p.size for p in model.params()) == sum(p.numel() for p in twin.parameters())
        assert tuple(twin(torch.zeros(2, 3, 32, 32)).shape) == (2, 10)


@pytest.fixture(scope='module')
def quick_bench(tmp_path_factory):
    """One `run_bench.py --quick` (with a stochastic-depth row and the tiny data stage)."""
    out = tmp_path_factory.mktemp('bench')
    child = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'bench', 'run_bench.py'), '--quick',
         '--models', 'cnn,residual,resnet74-skip', '--out-dir', str(out)],
        capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr
    with open(out / 'results.csv') as f:
        rows = list(csv.DictReader(f))
    return out, rows, child.stdout


@pytest.mark.slow
def test_bench_quick_writes_results(quick_bench):
    """`bench/run_bench.py --quick` runs end to end and writes its tables (not timings)."""
    out, rows, stdout = quick_bench
    for section in ('train', 'eval'):
        got = {(r['model'], r['variant']) for r in rows if r['section'] == section}
        assert {(m, v) for m in ('cnn', 'residual', 'resnet74-skip')
                for v in ('fast', 'stock', 'torch')} <= got, section
        for r in rows:
            if r['section'] == section:
                assert float(r['images_per_s']) > 0
                assert int(r['flops_per_image']) > 0 and float(r['peak_fraction']) > 0
    assert any('stat=mean' in r['note'] for r in rows if r['model'] == 'resnet74-skip'
               and r['section'] == 'train')
    gemm = {r['variant'] for r in rows if r['section'] == 'gemm'}
    assert gemm == {'n=1024', 'n=2048', 'n=3072', 'peak'}
    text = (out / 'RESULTS.md').read_text()
    for needle in ('| cnn |', '| resnet74-skip |', '(a)/(b)', '## Inference', 'GEMM peak',
                   '% of peak', '3F - F_first', 'num_threads'):
        assert needle in text, needle
    assert 'fast/stock' in stdout
    with open(out / 'results.provenance.json') as f:
        provenance = json.load(f)
    assert {'command', 'date', 'commit', 'machine'} <= set(provenance)
    assert '--quick' in provenance['command']


@pytest.mark.slow
def test_update_docs_renders_a_new_run_bench_csv(quick_bench, tmp_path):
    from test_docs_tables import copy_docs_tree, _update_docs
    out, _, _ = quick_bench
    copy_docs_tree(tmp_path)
    for name in ('results.csv', 'results.provenance.json'):
        (tmp_path / 'bench' / name).write_text((out / name).read_text())
    regenerated = _update_docs().regenerated(str(tmp_path))
    speed = regenerated['docs/speed.md'][1]
    for needle in ('| ResNet-74 + stochastic depth |', '(a) % of peak', 'GEMM peak',
                   'Inference (test mode'):
        assert needle in speed, needle
    assert 'inference (test mode)' in regenerated['README.md'][1]


def test_realized_training_flops_replay_the_seeded_skips():
    plain = create_model('residual', in_channels=3, image_size=32, n_classes=10, res_depth=2)
    skip = create_model('residual', in_channels=3, image_size=32, n_classes=10, res_depth=2,
                        skip_depth=True)
    layers = flops.layer_flops(plain, (3, 32, 32))
    assert flops.realized_train_flops(plain, (3, 32, 32), 0) == \
        flops.model_flops(plain, (3, 32, 32))['train']
    ratios = skip_ratios(2)
    for seed in range(4):
        numpy.random.seed(seed)  # one draw per block with a skip probability, in order
        skipped = {i for i, r in enumerate(ratios) if r > 0 and numpy.random.rand() < r}
        ran = sum(f for path, f in layers
                  if not any(path.startswith('/blocks/{}/'.format(i)) for i in skipped))
        assert flops.realized_train_flops(skip, (3, 32, 32), seed) == 3 * ran - layers[0][1]


@pytest.mark.slow
@pytest.mark.requires('kernels')
def test_ablation_switches_each_setting_off_in_its_own_process(tmp_path):
    """`bench/ablation.py` as a user runs it: every configuration changes exactly the
    setting it names (read back from its process), and the JSON names its command."""
    out = tmp_path / 'ablation.json'
    child = subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'ablation.py'),
                            '--models', 'cnn', '--rounds', '1', '--steps', '1',
                            '--out', str(out)], capture_output=True, text=True, timeout=900,
                           env=dict(os.environ, CHAINER_COMPARE_CACHE=str(tmp_path / 'cache')))
    assert child.returncode == 0, child.stderr
    result = json.loads(out.read_text())
    assert '--rounds 1' in result['provenance']['command']
    settings = {row['config']: row['settings'] for row in result['rows']}
    base = settings['all on']
    assert base['blas_single_threaded'] and base['malloc_keeps_freed']
    assert base['chunks_per_thread'] > 1 and base['threads'] > 1
    changed = {'BLAS threads kept': 'blas_single_threaded', 'malloc untouched':
               'malloc_keeps_freed', 'one chunk per thread': 'chunks_per_thread',
               '8-float tiles': 'wide_tiles', 'one kernel thread': 'threads'}
    assert set(settings) == {'all on'} | set(changed)
    for config, key in changed.items():
        differs = {k for k in base if settings[config][k] != base[k]}
        if key == 'wide_tiles' and not base['wide_tiles']:
            assert differs == set()  # no AVX-512: the default build has 8-float tiles too
        else:
            assert differs == {key}, config
    assert all(row['images_per_s'] > 0 for row in result['rows'])


def test_bench_data_repeats_and_writes_its_results_file(tmp_path):
    """`bench/bench_data.py --repeat 2 --json` runs the data stage twice as a
    user would and records both runs, their phases and where they came from."""
    out = tmp_path / 'r.json'
    subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'bench_data.py'),
                    '--n-train', '300', '--n-test', '50', '--repeat', '2',
                    '--out', str(tmp_path / 'work'), '--json', str(out)],
                   check=True, capture_output=True, text=True,
                   env=dict(os.environ, CHAINER_COMPARE_DIRECT_IO='0'))
    result = json.loads(out.read_text())
    assert {'command', 'date', 'commit', 'machine'} <= set(result['provenance'])
    assert result['provenance']['switches']['CHAINER_COMPARE_DIRECT_IO'] == '0'
    assert len(result['runs']) == 2
    for run in result['runs']:
        assert run['wall_s'] > 0 and run['peak_rss_gb'] > 0 and run['n_train'] == 300
        assert [p.split(' (')[0] for p in run['phases']] == [
            'image, image_norm and their covariances', 'ZCA matrices, whitened and wrote everything']
    assert result['wall_s']['min'] <= result['wall_s']['median'] <= result['wall_s']['max']
    assert (tmp_path / 'work' / 'dataset' / 'manifest.json').exists()


@pytest.mark.requires('kernels')
def test_profile_fast_pool_counts_the_kernel_jobs_of_a_step(tmp_path):
    """`bench/profile_fast.py --pool --json` as a user runs it: per step, the
    kernel jobs and where the calling thread's time went add up to the step."""
    out = tmp_path / 'pool.json'
    subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'profile_fast.py'), '--pool',
                    '--model', 'residual', '--steps', '2', '--batch', '8', '--json', str(out)],
                   check=True, capture_output=True, text=True, timeout=600)
    result = json.loads(out.read_text())
    assert {'command', 'date', 'commit', 'machine'} <= set(result['provenance'])
    assert result['mode'] == 'training' and result['batch'] == 8
    steps = result['models']['residual']['steps']
    assert len(steps) == 2
    for step in steps:
        assert step['jobs'] > 50  # ResNet-20: every conv, BN and ReLU pass is a job
        assert 0 <= step['waiting_s'] <= step['in_pool_s'] <= step['wall_s']
        assert step['outside_pool_s'] == pytest.approx(step['wall_s'] - step['in_pool_s'])


def test_recount_flops_rewrites_only_the_flop_columns_and_notes_it(tmp_path):
    """`bench/recount_flops.py` as a user runs it: wrong FLOP counts are recomputed
    (timings kept), the provenance records it, and a file that is not a results
    CSV is refused by name before anything is written."""
    import csv
    import shutil
    csv_path = tmp_path / 'results.csv'
    shutil.copy(os.path.join(ROOT, 'bench', 'results.csv'), csv_path)
    shutil.copy(os.path.join(ROOT, 'bench', 'results.provenance.json'),
                tmp_path / 'results.provenance.json')
    with open(csv_path, newline='') as f:
        before = list(csv.DictReader(f))
    broken = [dict(r, flops_per_image='1280') if r['model'] == 'vgg' else r for r in before]
    with open(csv_path, 'w', newline='') as f:
        writer = csv.DictWriter(f, list(before[0]), lineterminator='\n')
        writer.writeheader()
        writer.writerows(broken)
    script = os.path.join(ROOT, 'bench', 'recount_flops.py')
    bad = tmp_path / 'bad.csv'
    bad.write_text('a,b\n1,2\n')
    child = subprocess.run([sys.executable, script, str(csv_path), str(bad)],
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == 2 and 'bad.csv: not a results file' in child.stderr
    with open(csv_path, newline='') as f:
        assert [r['flops_per_image'] for r in csv.DictReader(f)] == [
            r['flops_per_image'] for r in broken]  # nothing written
    child = subprocess.run([sys.executable, script, str(csv_path)], capture_output=True,
                           text=True, timeout=600)
    assert child.returncode == 0, child.stderr
    assert '6 rows with a new FLOP count' in child.stdout  # vgg: train and eval x 3 variants
    with open(csv_path, newline='') as f:
        after = list(csv.DictReader(f))
    assert [(r['flops_per_image'], r['images_per_s']) for r in after] == [
        (r['flops_per_image'], r['images_per_s']) for r in before]
    assert 'flops_recounted' in json.loads((tmp_path / 'results.provenance.json').read_text())
