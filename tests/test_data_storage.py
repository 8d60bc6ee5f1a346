"""Crash safety of the outputs and the checks of load_prepared / preprocess_images."""
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy
import pytest

import data_fixtures as fx
from chainer_compare.data import load_prepared, prepare_dataset, preprocess_images, storage
from chainer_compare.errors import UserError


@pytest.fixture
def prepared(tmp_path):
    archive = fx.cifar10_archive(str(tmp_path), n_per_batch=4, n_test=10)
    out = str(tmp_path / 'out')
    prepare_dataset(archive=archive, out=out, verify=False, quiet=True)
    return archive, out


def test_interrupted_write_leaves_nothing_valid(prepared, monkeypatch):
    archive, out = prepared
    real_dump, calls = pickle.dump, []

    def dump_then_die(obj, f, protocol):
        calls.append(1)
        if len(calls) == 3:  # the third pickle: half written, then the process "dies"
            f.write(pickle.dumps(obj, protocol=protocol)[:1000])
            raise KeyboardInterrupt
        real_dump(obj, f, protocol=protocol)
    monkeypatch.setattr(storage.pickle, 'dump', dump_then_die)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(archive=archive, out=out, verify=False, quiet=True, force=True)
    monkeypatch.undo()
    assert not [n for n in os.listdir(out) if n.endswith('.tmp')]
    assert not os.path.exists(os.path.join(out, 'manifest.json'))
    for name in ('image.pkl', 'image_norm.pkl', 'image_zca.pkl'):
        with pytest.raises(UserError, match='manifest.json: missing'):
            load_prepared(os.path.join(out, name))
    rerun = fx.run_dataset_cli('--archive', archive, '--skip-verify', '--out', out)
    assert rerun.returncode == 0 and 'no manifest.json there yet' in rerun.stderr
    assert load_prepared(out).train_x.shape == (20, 3, 32, 32)


def test_sigkill_at_any_moment_never_leaves_a_valid_looking_file(tmp_path):
    archive = fx.cifar10_archive(str(tmp_path), n_per_batch=4, n_test=10)
    out = tmp_path / 'out'
    env = dict(os.environ, PYTHONPATH=os.path.join(fx.ROOT, 'src'))
    proc = subprocess.Popen([sys.executable, os.path.join(fx.ROOT, 'src', 'dataset.py'),
                             '--archive', archive, '--skip-verify', '--out', str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (out / 'image.pkl').exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if (out / 'manifest.json').exists():  # the run won the race: then all must be valid
        load_prepared(str(out / 'image_norm_zca.pkl'))
    else:
        with pytest.raises(UserError):
            load_prepared(str(out / 'image.pkl'))
    rerun = fx.run_dataset_cli('--archive', archive, '--skip-verify', '--out', out, '--quiet')
    assert rerun.returncode == 0
    assert not [n for n in os.listdir(out) if n.endswith('.tmp')]


def _rewrite(out, name, obj):
    """Replace an output and fix its manifest entry, as an attacker could."""
    data = pickle.dumps(obj, protocol=2)
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
    path = os.path.join(out, 'manifest.json')
    manifest = json.load(open(path))
    manifest['outputs'][name] = {'sha256': hashlib.sha256(data).hexdigest(), 'bytes': len(data)}
    json.dump(manifest, open(path, 'w'))


def test_load_prepared_refuses_tampered_file(prepared):
    _, out = prepared
    with open(os.path.join(out, 'image.pkl'), 'ab') as f:
        f.write(b'x')
    with pytest.raises(UserError, match='image.pkl: content does not match'):
        load_prepared(out)


def test_load_prepared_refuses_malicious_pickle(prepared, tmp_path):
    _, out = prepared
    marker = tmp_path / 'pwned'
    _rewrite(out, 'image_zca.pkl', {'train': fx.Evil(str(marker)), 'test': None})
    with pytest.raises(UserError, match='image_zca.pkl: refused to unpickle'):
        load_prepared(os.path.join(out, 'image_zca.pkl'))
    assert not marker.exists()


@pytest.mark.parametrize('obj, match', [
    ({'train': numpy.zeros((20, 3, 32, 32), numpy.float64),
      'test': numpy.zeros((10, 3, 32, 32), numpy.float32)}, 'float32'),
    ({'train': numpy.zeros((20, 3, 28, 28), numpy.float32),
      'test': numpy.zeros((10, 3, 28, 28), numpy.float32)}, r'shape \(N, 3, 32, 32\)'),
    ({'train': numpy.zeros((20, 3, 32, 32), numpy.float32)}, "keys 'train' and 'test'"),
    ({'train': numpy.zeros((19, 3, 32, 32), numpy.float32),
      'test': numpy.zeros((10, 3, 32, 32), numpy.float32)}, 'label counts'),
])
def test_load_prepared_checks_content(prepared, obj, match):
    _, out = prepared
    _rewrite(out, 'image.pkl', obj)
    with pytest.raises(UserError, match=match):
        load_prepared(out)


def test_load_prepared_bad_paths(prepared, tmp_path):
    _, out = prepared
    with pytest.raises(UserError, match='not a prepared dataset file'):
        load_prepared(os.path.join(out, 'preprocess.pkl'))
    with pytest.raises(UserError, match='nowhere: not found'):
        load_prepared(str(tmp_path / 'nowhere'))
    os.unlink(os.path.join(out, 'manifest.json'))
    with pytest.raises(UserError, match='manifest.json: missing'):
        load_prepared(out)


def test_preprocess_images_checks_input(prepared):
    _, out = prepared
    good = fx.images(2, 0)
    assert preprocess_images(good, out, 'image_norm_zca').dtype == numpy.float32
    with pytest.raises(UserError, match='uint8 of shape'):
        preprocess_images(good.astype(numpy.float32), out, 'image')
    with pytest.raises(UserError, match='uint8 of shape'):
        preprocess_images(good[:, :1], out, 'image')
    with pytest.raises(UserError, match='unknown preprocessing'):
        preprocess_images(good, out, 'image_pca')
