"""End to end: ``python src/dataset.py`` on tiny archives in the real formats."""
import json
import os

import numpy
import pytest

import data_fixtures as fx
from chainer_compare.data import load_prepared, preprocess_images
from chainer_compare.data.preprocess import PREPROCESSINGS

PICKLES = [p + '.pkl' for p in PREPROCESSINGS]


def _mtimes(directory):
    return {n: os.stat(os.path.join(directory, n)).st_mtime_ns for n in os.listdir(directory)
            if not n.endswith('.tar.gz')}


@pytest.fixture(scope='module')
def cifar10_run(tmp_path_factory):
    """Default flags as seed 004 runs it (out = ./dataset), source via --archive."""
    work = tmp_path_factory.mktemp('user')
    archive = fx.cifar10_archive(str(tmp_path_factory.mktemp('src')))
    result = fx.run_dataset_cli('--archive', archive, '--md5', fx.md5(archive), cwd=str(work))
    assert result.returncode == 0, result.stderr
    return work / 'dataset', archive, result


def test_cifar10_writes_seed004_files(cifar10_run):
    directory, archive, result = cifar10_run
    names = set(os.listdir(directory))
    assert set(PICKLES) | {'label.pkl', 'preprocess.pkl', 'manifest.json', 'samples.png'} == names
    manifest = json.loads((directory / 'manifest.json').read_text())
    assert manifest['dataset'] == 'cifar10' and manifest['shape'] == [3, 32, 32]
    assert manifest['class_names'][:2] == ['airplane', 'automobile']
    assert manifest['sources']['cifar-10-python.tar.gz']['md5'] == fx.md5(archive)
    assert manifest['zca_eps'] == 0.01 and manifest['versions']['numpy'] == numpy.__version__
    for name in PICKLES:
        data = load_prepared(str(directory / name))
        assert data.train_x.shape == (100, 3, 32, 32) and data.train_x.dtype == numpy.float32
        assert data.test_x.shape == (30, 3, 32, 32) and data.test_y.dtype == numpy.int32
        assert data.preprocessing == name[:-4] and data.dataset == 'cifar10'
        assert list(data.train_y[:3]) == [0, 1, 2]
    assert 'wrote' in result.stdout


def test_prediction_transform_matches_stored_data(cifar10_run):
    directory, archive, _ = cifar10_run
    raw = numpy.concatenate([fx.images(20, i) for i in range(1, 6)])
    test_raw = fx.images(30, 99)
    for name in PREPROCESSINGS:
        stored = load_prepared(str(directory / (name + '.pkl')))
        numpy.testing.assert_allclose(preprocess_images(raw, str(directory), name),
                                      stored.train_x, atol=1e-4)
        numpy.testing.assert_allclose(preprocess_images(test_raw, str(directory), name),
                                      stored.test_x, atol=1e-4)


def test_rerun_is_noop_and_force_recomputes(cifar10_run):
    directory, archive, _ = cifar10_run
    before = _mtimes(directory)
    again = fx.run_dataset_cli('--archive', archive, '--md5', fx.md5(archive),
                               cwd=str(directory.parent))
    assert again.returncode == 0 and 'up to date' in again.stdout
    assert _mtimes(directory) == before
    forced = fx.run_dataset_cli('--archive', archive, '--md5', fx.md5(archive), '--force',
                                '--quiet', cwd=str(directory.parent))
    assert forced.returncode == 0 and forced.stderr == ''
    after = _mtimes(directory)
    assert all(after[n] > before[n] for n in PICKLES)


def test_changed_eps_or_tampered_file_recomputes(tmp_path):
    archive = fx.cifar10_archive(str(tmp_path))
    out = tmp_path / 'out'
    args = ('--archive', archive, '--skip-verify', '--out', out)
    assert fx.run_dataset_cli(*args).returncode == 0
    result = fx.run_dataset_cli(*args, '--zca-eps', '0.1')
    assert result.returncode == 0 and 'zca_eps changed' in result.stderr
    assert json.loads((out / 'manifest.json').read_text())['zca_eps'] == 0.1
    with open(out / 'image_zca.pkl', 'r+b') as f:  # flip one byte
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 1]))
    result = fx.run_dataset_cli(*args, '--zca-eps', '0.1')
    assert 'image_zca.pkl does not match' in result.stderr and result.returncode == 0
    load_prepared(str(out / 'image_zca.pkl'))
    other = fx.cifar10_archive(str(tmp_path / 'other'), seed=5)  # new data, same flags
    result = fx.run_dataset_cli('--archive', other, '--skip-verify', '--out', out,
                                '--zca-eps', '0.1')
    assert result.returncode == 0 and 'is not the source of the current outputs' in result.stderr
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['sources']['cifar-10-python.tar.gz']['md5'] == fx.md5(other)


def test_cifar100_fine_and_coarse(tmp_path):
    archive = fx.cifar100_archive(str(tmp_path))
    result = fx.run_dataset_cli('--dataset', 'cifar100', '--archive', str(tmp_path),
                                '--skip-verify', '--quiet', cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    directory = tmp_path / 'dataset' / 'cifar100'
    fine = load_prepared(str(directory / 'image_norm.pkl'))
    coarse = load_prepared(str(directory / 'image_norm.pkl'), coarse=True)
    assert fine.train_x.shape == (60, 3, 32, 32) and len(fine.class_names) == 100
    numpy.testing.assert_array_equal(coarse.train_y, fine.train_y // 5)
    assert coarse.class_names[0] == 'coarse0'
    manifest = json.loads((directory / 'manifest.json').read_text())
    assert manifest['sources']['cifar-100-python.tar.gz']['md5'] == fx.md5(archive)
    assert manifest['sources']['cifar-100-python.tar.gz']['md5_verified'] is False


def test_mnist_idx_is_one_channel(tmp_path):
    fx.idx_files(str(tmp_path / 'raw'))
    result = fx.run_dataset_cli('--dataset', 'mnist', '--archive', tmp_path / 'raw',
                                '--skip-verify', cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    data = load_prepared(str(tmp_path / 'dataset' / 'mnist'))  # directory -> image.pkl
    assert data.train_x.shape == (80, 1, 28, 28) and data.test_x.shape == (20, 1, 28, 28)
    assert data.class_names == [str(d) for d in range(10)] and data.preprocessing == 'image'
    assert os.path.getsize(tmp_path / 'dataset' / 'mnist' / 'samples.png') > 1000


def test_help_documents_every_flag():
    result = fx.run_dataset_cli('--help')
    assert result.returncode == 0
    for flag in ('--dataset', '--archive', '--out', '--zca-eps', '--force', '--no-download',
                 '--url', '--md5', '--skip-verify', '--retries', '--quiet'):
        assert flag in result.stdout


def _extract(archive, directory):
    import tarfile
    with tarfile.open(archive) as tar:
        # Our own test archive; the 'data' filter where this Python has it.
        tar.extractall(directory, **({'filter': 'data'} if hasattr(tarfile, 'data_filter')
                                     else {}))
    return directory


def test_extracted_cifar_folder_is_accepted_and_verified_per_file(tmp_path):
    archive = fx.cifar10_archive(str(tmp_path / 'src'))
    parent = _extract(archive, str(tmp_path / 'extracted'))
    # The published per-file MD5s are checked: a synthetic copy fails, naming the file.
    bad = fx.run_dataset_cli('--archive', parent, '--out', tmp_path / 'refused', cwd=str(tmp_path))
    assert bad.returncode == 2 and 'batches.meta' in bad.stderr
    assert '5ff9c542aee3614f3951f8cda6e48888' in bad.stderr
    assert not (tmp_path / 'refused').exists()
    with_md5 = fx.run_dataset_cli('--archive', parent, '--md5', fx.md5(archive),
                                  '--out', tmp_path / 'refused', cwd=str(tmp_path))
    assert with_md5.returncode == 2 and '--md5' in with_md5.stderr
    # The folder above cifar-10-batches-py/ and the folder itself both work.
    for name, given in (('from_parent', parent),
                        ('from_folder', os.path.join(parent, 'cifar-10-batches-py'))):
        ok = fx.run_dataset_cli('--archive', given, '--skip-verify', '--quiet',
                                '--out', tmp_path / name, cwd=str(tmp_path))
        assert ok.returncode == 0, ok.stderr
    from_tar = fx.run_dataset_cli('--archive', archive, '--skip-verify', '--quiet',
                                  '--out', tmp_path / 'from_tar', cwd=str(tmp_path))
    assert from_tar.returncode == 0, from_tar.stderr
    reference = load_prepared(str(tmp_path / 'from_tar' / 'image_norm_zca.pkl'))
    for name in ('from_parent', 'from_folder'):
        data = load_prepared(str(tmp_path / name / 'image_norm_zca.pkl'))
        numpy.testing.assert_array_equal(data.train_x, reference.train_x)
        numpy.testing.assert_array_equal(data.test_y, reference.test_y)
    record = json.loads((tmp_path / 'from_folder' / 'manifest.json').read_text())['sources']
    files = record['cifar-10-python.tar.gz']['extracted_files_md5']
    assert files['data_batch_1'] == fx.md5(os.path.join(parent, 'cifar-10-batches-py',
                                                        'data_batch_1'))


def test_extracted_cifar_folder_matching_published_md5s_is_verified(tmp_path, monkeypatch):
    from chainer_compare.data import stage
    parent = _extract(fx.cifar10_archive(str(tmp_path / 'src')), str(tmp_path / 'x'))
    folder = os.path.join(parent, 'cifar-10-batches-py')
    published = {n: fx.md5(os.path.join(folder, n)) for n in os.listdir(folder)}
    monkeypatch.setitem(stage.EXTRACTED_MD5S, 'cifar10', published)
    out = stage.prepare_dataset(archive=parent, out=str(tmp_path / 'out'), quiet=True)
    record = json.loads((tmp_path / 'out' / 'manifest.json').read_text())['sources']
    assert record['cifar-10-python.tar.gz']['md5_verified'] is True
    # Same folder again: up to date; a changed file: a new source, recomputed.
    manifest_mtime = os.stat(os.path.join(out, 'manifest.json')).st_mtime_ns
    stage.prepare_dataset(archive=parent, out=out, quiet=True)
    assert os.stat(os.path.join(out, 'manifest.json')).st_mtime_ns == manifest_mtime
    changed = fx.cifar10_members(seed=5)['cifar-10-batches-py/test_batch']
    with open(os.path.join(folder, 'test_batch'), 'wb') as f:
        f.write(changed)
    published['test_batch'] = fx.md5(os.path.join(folder, 'test_batch'))
    stage.prepare_dataset(archive=parent, out=out, quiet=True)
    assert os.stat(os.path.join(out, 'manifest.json')).st_mtime_ns != manifest_mtime
