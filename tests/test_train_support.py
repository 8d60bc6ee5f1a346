"""Tiny prepared datasets for the training tests (the data stage's file format).

Written with the data stage's own writers (sha256 in manifest.json), so
``load_prepared`` reads them exactly as it reads a real CIFAR/MNIST directory.
The classes are separable (a class-dependent brightness pattern plus noise)
so a model can actually learn something in an epoch or two.
"""
import os
import subprocess
import sys

import numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_PY = os.path.join(ROOT, 'src', 'train.py')


def make_images(n, pattern, rng):
    """``n`` images: one class pattern each (balanced labels) plus unit noise."""
    n_classes = len(pattern)
    labels = (numpy.arange(n) % n_classes).astype(numpy.int32)
    rng.shuffle(labels)
    noise = rng.normal(0, 1, size=(n,) + pattern.shape[1:]).astype(numpy.float32)
    return (pattern[labels] + noise).astype(numpy.float32), labels


def write_tiny_dataset(directory, n_train=64, n_test=32, shape=(3, 32, 32), n_classes=10,
                       seed=0, name='tiny', fit_on='train_minus_validation', pixel_scale=1.0):
    """Write image.pkl, image_norm_zca.pkl, label.pkl and manifest.json; return the dir.

    ``fit_on`` is what the manifest says the (here imaginary) statistics were
    fitted on; ``None`` leaves the record out, as data prepared before it had.
    ``pixel_scale=64`` gives image.pkl the spread of real mean-subtracted
    0-255 pixels (what the default dataset file holds).
    """
    from chainer_compare.data import split as data_split
    from chainer_compare.data import storage
    os.makedirs(directory, exist_ok=True)
    rng = numpy.random.RandomState(seed)
    pattern = rng.normal(0, 1, size=(n_classes,) + tuple(shape)).astype(numpy.float32)
    train_x, train_y = make_images(n_train, pattern, rng)
    test_x, test_y = make_images(n_test, pattern, rng)
    outputs = {}
    for pkl, scale in (('image.pkl', pixel_scale), ('image_norm_zca.pkl', 0.5)):
        outputs[pkl] = storage.write_pickle(
            directory, pkl, {'train': train_x * scale, 'test': test_x * scale})
    outputs['label.pkl'] = storage.write_pickle(directory, 'label.pkl',
                                                {'train': train_y, 'test': test_y})
    manifest = {'dataset': name, 'format': storage.FORMAT, 'shape': list(shape),
                'class_names': ['class{}'.format(i) for i in range(n_classes)],
                'n_train': n_train, 'n_test': n_test, 'outputs': outputs}
    if fit_on is not None:
        manifest.update(fit_on=fit_on,
                        statistics_fit=data_split.statistics_fit_record(n_train, fit_on))
    storage.write_manifest(directory, manifest)
    return str(directory)


def train_env():
    env = dict(os.environ, OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', MKL_NUM_THREADS='1',
               MPLBACKEND='Agg', PYTHONPATH=os.path.join(ROOT, 'src'))
    return env


def run_train(args, cwd, timeout=120, **kwargs):
    """Run ``python src/train.py ARGS`` in ``cwd``; the CompletedProcess."""
    return subprocess.run([sys.executable, TRAIN_PY] + list(args), cwd=str(cwd),
                          env=train_env(), capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def test_tiny_dataset_loads(tmp_path):
    from chainer_compare.data import load_prepared
    d = write_tiny_dataset(str(tmp_path / 'ds'), shape=(1, 28, 28))
    data = load_prepared(os.path.join(d, 'image_norm_zca.pkl'))
    assert data.train_x.shape == (64, 1, 28, 28) and data.test_y.dtype == numpy.int32
    assert data.preprocessing == 'image_norm_zca' and len(data.class_names) == 10
