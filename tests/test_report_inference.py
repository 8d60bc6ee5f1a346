"""src/evaluate.py and src/predict.py end to end on a tiny trained run (subprocesses).

A tiny CIFAR-10-format archive goes through the real data stage (with ZCA) and
src/train.py for one epoch; evaluate and predict then read that run.
"""
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile

import numpy
import pytest
from PIL import Image

from test_report_plot import tree_hashes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship',
           'truck']
N_TEST = 50

def cli(script, *argv):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'src', script)]
                          + [str(a) for a in argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def cifar_batch(n, seed):
    """Noise plus a bright band whose row and channel depend on the class."""
    rng = numpy.random.RandomState(seed)
    y = rng.randint(0, 10, n)
    x = rng.randint(0, 60, (n, 3, 32, 32)).astype(numpy.uint8)
    for i, c in enumerate(y):
        x[i, c % 3, 3 * c:3 * c + 3, :] += 180
    return x, y


def write_cifar_archive(path):
    members = {}
    for i in range(1, 6):
        x, y = cifar_batch(40, i)
        members['data_batch_%d' % i] = {b'data': x.reshape(len(x), -1), b'labels': y.tolist()}
    x, y = cifar_batch(N_TEST, 99)
    members['test_batch'] = {b'data': x.reshape(len(x), -1), b'labels': y.tolist()}
    members['batches.meta'] = {b'label_names': [c.encode() for c in CLASSES]}
    with tarfile.open(str(path), 'w:gz') as tar:
        for name, obj in members.items():
            data = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo('cifar-10-batches-py/' + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return x  # the raw test images


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    pytest.importorskip('chainer_compare.training')
    if not os.path.exists(os.path.join(ROOT, 'src', 'train.py')):
        pytest.skip('src/train.py has not landed yet')
    root = tmp_path_factory.mktemp('inference')
    raw_test = write_cifar_archive(root / 'cifar-10-python.tar.gz')
    proc = cli('dataset.py', '--archive', root / 'cifar-10-python.tar.gz', '--skip-verify',
               '--no-download', '--out', root / 'dataset', '--quiet')
    assert proc.returncode == 0, proc.stderr
    # -b 50 = the whole test split in one batch, so the logged test error is exact
    proc = cli('train.py', '-g', '-1', '-m', 'keras_mnist_cnn', '-b', '50', '--iter', '1',
               '--optimizer', 'adam', '-d', root / 'dataset' / 'image_norm_zca.pkl',
               '--out', root / 'results', '-p', 'tiny')
    assert proc.returncode == 0, proc.stderr
    return root, root / 'results' / 'tiny', raw_test


@pytest.mark.slow
def test_evaluate_writes_report_and_matches_the_trainer(trained, tmp_path):
    root, run, _ = trained
    before = tree_hashes(run)
    proc = cli('evaluate.py', run)
    assert proc.returncode == 0, proc.stderr
    after = tree_hashes(run)
    assert {k: v for k, v in after.items() if not k.startswith('evaluation')} == before
    out = run / 'evaluation'
    result = json.loads((out / 'evaluation.json').read_text())
    summary = json.loads((run / 'summary.json').read_text())
    assert result['test_images'] == N_TEST
    assert result['test_error'] == pytest.approx(summary['test_error_at_best'], abs=1e-6)
    counts = numpy.array(result['confusion_matrix'])
    assert counts.sum() == N_TEST
    assert 1 - numpy.trace(counts) / N_TEST == pytest.approx(result['test_error'])
    table = (out / 'per_class.md').read_text()
    assert all('| {} |'.format(c) in table for c in CLASSES)
    for name in ('confusion.png', 'mistakes.png'):
        assert (out / name).read_bytes()[:4] == b'\x89PNG'
    assert 'test error' in proc.stdout


@pytest.mark.slow
def test_evaluate_without_model_is_one_clear_error(trained, tmp_path):
    _, run, _ = trained
    copy = tmp_path / 'no_model'
    shutil.copytree(str(run), str(copy), ignore=shutil.ignore_patterns('*.npz', 'evaluation'))
    proc = cli('evaluate.py', copy, '--out', tmp_path / 'eval')
    assert proc.returncode == 2
    assert proc.stderr.count('\n') == 1 and 'model_best.npz' in proc.stderr
    assert not (tmp_path / 'eval').exists()


@pytest.mark.slow
def test_predict_matches_stored_preprocessing_and_reports_bad_files(trained, tmp_path):
    root, run, raw_test = trained
    from chainer_compare.data import load_prepared
    from chainer_compare.reporting.inference import load_trained_run

    # A test image saved losslessly must get the probabilities its stored,
    # preprocessed (ZCA) copy gets: predict's preprocessing is the data stage's.
    Image.fromarray(raw_test[0].transpose(1, 2, 0)).save(str(tmp_path / 'test0.png'))
    Image.new('RGBA', (301, 187), (200, 30, 30, 120)).save(str(tmp_path / 'big.png'))
    Image.new('L', (20, 50), 90).save(str(tmp_path / 'grey.jpg'))
    (tmp_path / 'notes.txt').write_text('not an image')
    files = [tmp_path / n for n in ('test0.png', 'notes.txt', 'big.png', 'grey.jpg')]
    proc = cli('predict.py', run, *files, '--json', '-k', '3')
    assert proc.returncode == 1
    assert proc.stderr.count('\n') == 1 and 'notes.txt' in proc.stderr
    result = json.loads(proc.stdout)
    assert [os.path.basename(p['file']) for p in result['predictions']] == [
        'test0.png', 'big.png', 'grey.jpg']
    assert [os.path.basename(e['file']) for e in result['errors']] == ['notes.txt']
    trained_run = load_trained_run(str(run))
    expected = trained_run.probabilities(load_prepared(trained_run.dataset_path).test_x[:1])[0]
    top = result['predictions'][0]['top']
    assert [t['class'] for t in top] == [CLASSES[i] for i in numpy.argsort(-expected)[:3]]
    assert [t['probability'] for t in top] == pytest.approx(numpy.sort(expected)[::-1][:3],
                                                            abs=1e-5)
    for prediction in result['predictions']:
        probs = [t['probability'] for t in prediction['top']]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6

    proc = cli('predict.py', run, tmp_path / 'grey.jpg')
    assert proc.returncode == 0 and proc.stdout.startswith(str(tmp_path / 'grey.jpg') + ': ')


@pytest.mark.slow
def test_predict_without_statistics_is_one_clear_error(trained, tmp_path):
    root, run, _ = trained
    dataset = tmp_path / 'dataset'
    shutil.copytree(str(root / 'dataset'), str(dataset))
    os.remove(str(dataset / 'preprocess.pkl'))
    Image.new('RGB', (32, 32)).save(str(tmp_path / 'x.png'))
    proc = cli('predict.py', run, tmp_path / 'x.png', '--dataset', dataset / 'image_norm_zca.pkl')
    assert proc.returncode == 2
    assert proc.stderr.count('\n') == 1 and 'preprocess.pkl' in proc.stderr


@pytest.mark.parametrize('mode,size', [('RGBA', (300, 200)), ('P', (17, 60)), ('L', (28, 28)),
                                       ('I;16', (40, 40)), ('CMYK', (64, 32))])
@pytest.mark.parametrize('shape', [(1, 28, 28), (3, 32, 32)])
def test_load_image_converts_any_mode_and_size(tmp_path, mode, size, shape):
    from chainer_compare.reporting.predict import load_image
    path = tmp_path / ('x.tiff' if mode in ('I;16', 'CMYK') else 'x.png')
    Image.new(mode, size).save(str(path))
    x = load_image(str(path), shape)
    assert x.shape == shape and x.dtype == numpy.uint8 and x.flags['C_CONTIGUOUS']


def test_load_image_keeps_pixels_and_composites_transparency_on_white(tmp_path):
    from chainer_compare.reporting.predict import load_image
    rgb = numpy.random.RandomState(0).randint(0, 256, (32, 32, 3)).astype(numpy.uint8)
    Image.fromarray(rgb).save(str(tmp_path / 'same.png'))
    assert (load_image(str(tmp_path / 'same.png'), (3, 32, 32)) == rgb.transpose(2, 0, 1)).all()
    Image.new('RGBA', (8, 8), (0, 0, 0, 0)).save(str(tmp_path / 'clear.png'))
    assert (load_image(str(tmp_path / 'clear.png'), (1, 28, 28)) == 255).all()
