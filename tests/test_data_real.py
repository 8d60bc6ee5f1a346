"""The real stage on Debian's Fashion-MNIST (package dataset-fashion-mnist), when installed."""
import json

import numpy
import pytest

import data_fixtures as fx
from chainer_compare.data import load_prepared

DEBIAN = '/usr/share/datasets/fashion-mnist'


@pytest.mark.slow
@pytest.mark.requires('fashion-mnist')  # Debian's dataset-fashion-mnist (tests/components.py)
def test_real_fashion_mnist_found_verified_and_prepared(tmp_path):
    result = fx.run_dataset_cli('--dataset', 'fashion-mnist', '--no-download', '--quiet',
                                cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    directory = tmp_path / 'dataset' / 'fashion-mnist'
    manifest = json.loads((directory / 'manifest.json').read_text())
    for record in manifest['sources'].values():  # payload MD5s published by the issue
        assert record['path'].startswith(DEBIAN) and record['payload_md5_verified']
    assert manifest['class_names'][0] == 'T-shirt/top' and manifest['shape'] == [1, 28, 28]
    data = load_prepared(str(directory / 'image_norm.pkl'))
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    numpy.testing.assert_array_equal(numpy.bincount(data.train_y), [6000] * 10)
    numpy.testing.assert_array_equal(numpy.bincount(data.test_y), [1000] * 10)
    flat = data.test_x.reshape(10000, -1)
    numpy.testing.assert_allclose(flat.std(axis=1), 1, atol=1e-4)
    zca = load_prepared(str(directory / 'image_zca.pkl'))
    assert numpy.isfinite(zca.train_x).all() and abs(zca.train_x.mean()) < 1e-2
