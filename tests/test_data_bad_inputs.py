"""Every bad input: one stderr line naming the file or flag, exit != 0, no output left."""
import io
import os
import pickle
import tarfile

import numpy
import pytest

import data_fixtures as fx


def _fails(tmp_path, *args, expect=()):
    out = tmp_path / 'out'
    result = fx.run_dataset_cli(*args, '--out', out, '--quiet', cwd=str(tmp_path))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expect:
        assert str(text) in lines[0], lines[0]
    assert not out.exists() or os.listdir(out) == []
    return lines[0]


def test_truncated_archive(tmp_path):
    archive = fx.cifar10_archive(str(tmp_path))
    data = open(archive, 'rb').read()
    with open(archive, 'wb') as f:
        f.write(data[:len(data) // 2])
    _fails(tmp_path, '--archive', archive, '--skip-verify',
           expect=[archive, 'truncated or corrupt'])


def test_corrupt_archive(tmp_path):
    archive = tmp_path / 'cifar-10-python.tar.gz'
    archive.write_bytes(b'<html>404 not found</html>' * 40)
    _fails(tmp_path, '--archive', archive, '--skip-verify', expect=[archive, 'corrupt'])


def test_wrong_checksum(tmp_path):
    archive = fx.cifar10_archive(str(tmp_path))
    _fails(tmp_path, '--archive', archive,
           expect=[archive, 'c58f30108f718f92721af3b95e74349a', fx.md5(archive)])


def _member(name, kind=tarfile.REGTYPE, linkname=''):
    def add(tar):
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, linkname
        tar.addfile(info, io.BytesIO(b'') if kind == tarfile.REGTYPE else None)
    return add


@pytest.mark.parametrize('extra, why', [
    (_member('../escape.txt'), 'outside'),
    (_member('/etc/cron.d/evil'), 'outside'),
    (_member('cifar-10-batches-py/link', tarfile.SYMTYPE, '/etc/passwd'), 'link or device'),
    (_member('cifar-10-batches-py/hard', tarfile.LNKTYPE, '../../etc/passwd'), 'link or device'),
    (_member('cifar-10-batches-py/dev', tarfile.CHRTYPE), 'link or device'),
], ids=['dotdot', 'absolute', 'symlink', 'hardlink', 'device'])
def test_hostile_tar_member(tmp_path, extra, why):
    archive = fx.cifar10_archive(str(tmp_path), extra=extra)
    _fails(tmp_path, '--archive', archive, '--skip-verify', expect=[archive, 'refused', why])
    assert not (tmp_path / 'escape.txt').exists()


def test_malicious_pickle_executes_nothing(tmp_path):
    marker = tmp_path / 'pwned'
    evil = pickle.dumps({b'data': fx.Evil(str(marker))}, protocol=2)
    archive = fx.cifar10_archive(str(tmp_path), overrides={
        'cifar-10-batches-py/data_batch_3': evil})
    _fails(tmp_path, '--archive', archive, '--skip-verify',
           expect=['data_batch_3', 'refused to unpickle', 'system'])
    assert not marker.exists()


def _batch(**fields):
    batch = {b'data': fx.images(20, 1).reshape(20, -1), b'labels': list(range(10)) * 2}
    batch.update({k.encode(): v for k, v in fields.items()})
    return pickle.dumps({k: v for k, v in batch.items() if v is not None}, protocol=2)


@pytest.mark.parametrize('batch, expect', [
    (_batch(data=None), "missing key b'data'"),
    (_batch(labels=None), "missing key b'labels'"),
    (_batch(data=numpy.zeros((20, 100), numpy.uint8)), '(20, 100)'),
    (_batch(data=numpy.zeros((20, 3072), numpy.float64)), 'float64'),
    (_batch(labels=[0] * 19), "b'labels' must be 20 integers"),
    (_batch(labels=[12] * 20), 'in [0, 10)'),
    (pickle.dumps([1, 2, 3], protocol=2), 'expected a dict'),
], ids=['no-data', 'no-labels', 'shape', 'dtype', 'label-count', 'label-range', 'not-dict'])
def test_pickle_with_wrong_content(tmp_path, batch, expect):
    archive = fx.cifar10_archive(str(tmp_path), overrides={
        'cifar-10-batches-py/data_batch_2': batch})
    _fails(tmp_path, '--archive', archive, '--skip-verify', expect=['data_batch_2', expect])


def test_archive_missing_a_member(tmp_path):
    members = fx.cifar10_members()
    del members['cifar-10-batches-py/test_batch']
    archive = fx.write_tar(str(tmp_path / 'c.tar.gz'), members)
    _fails(tmp_path, '--archive', archive, '--skip-verify', expect=[archive, 'test_batch'])


def test_missing_archive(tmp_path):
    _fails(tmp_path, '--archive', tmp_path / 'nope.tar.gz', expect=['--archive', 'nope.tar.gz'])


def test_missing_source_without_download(tmp_path):
    _fails(tmp_path, '--no-download', expect=['cifar-10-python.tar.gz', '--archive'])


def test_unwritable_output_dir(tmp_path):
    archive = fx.cifar10_archive(str(tmp_path))
    blocker = tmp_path / 'afile'
    blocker.write_text('not a directory')
    result = fx.run_dataset_cli('--archive', archive, '--skip-verify', '--quiet',
                                '--out', blocker / 'sub')
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    assert str(blocker / 'sub') in result.stderr and 'not writable' in result.stderr


@pytest.mark.parametrize('args, expect', [
    (['--dataset', 'imagenet'], '--dataset'),
    (['--zca-eps', '-1'], '--zca-eps'),
    (['--zca-eps', '0'], '--zca-eps'),
    (['--zca-eps', 'nan'], '--zca-eps'),
    (['--zca-eps', 'abc'], '--zca-eps'),
    (['--retries', '-2'], '--retries'),
    (['--md5', 'xyz'], '--md5'),
    (['--dataset', 'mnist', '--md5', 'f68b3c2dcbeaaa9fbdd348bbdeb94873'], '--md5'),
    (['--url', 'ftp://example.org/'], '--url'),
    (['--no-such-flag'], '--no-such-flag'),
], ids=['dataset', 'eps-negative', 'eps-zero', 'eps-nan', 'eps-text', 'retries', 'md5',
        'md5-idx', 'url', 'unknown-flag'])
def test_nonsense_flags(tmp_path, args, expect):
    _fails(tmp_path, *args, expect=[expect])


def test_idx_corrupt_gzip(tmp_path):
    raw = fx.idx_files(str(tmp_path / 'raw'))
    bad = os.path.join(raw, 't10k-images-idx3-ubyte.gz')
    with open(bad, 'wb') as f:
        f.write(fx.idx_bytes(numpy.zeros((5, 28, 28)))[:40])
    _fails(tmp_path, '--dataset', 'mnist', '--archive', raw, '--skip-verify',
           expect=[bad, 'truncated or corrupt'])


def test_idx_decompression_bomb_refused(tmp_path, monkeypatch):
    from chainer_compare.data import archives
    from chainer_compare.errors import UserError
    monkeypatch.setattr(archives, '_MAX_MEMBER_BYTES', 10000)
    data = fx.idx_bytes(numpy.zeros((100, 28, 28)))  # 78 kB of zeros, 200 bytes gzipped
    with pytest.raises(UserError, match='bomb.gz: refused: decompresses to more than 10000'):
        archives.parse_idx(data, 'bomb.gz')


def test_idx_wrong_image_size(tmp_path):
    raw = fx.idx_files(str(tmp_path / 'raw'))
    bad = os.path.join(raw, 'train-images-idx3-ubyte.gz')
    with open(bad, 'wb') as f:
        f.write(fx.idx_bytes(numpy.zeros((80, 32, 32))))
    _fails(tmp_path, '--dataset', 'mnist', '--archive', raw, '--skip-verify',
           expect=[bad, '(80, 32, 32)'])


def test_fashion_payload_checksum(tmp_path):
    raw = fx.idx_files(str(tmp_path / 'raw'))
    _fails(tmp_path, '--dataset', 'fashion-mnist', '--archive', raw,
           expect=['train-images-idx3-ubyte.gz', 'f4a8712d7a061bf5bd6d2ca38dc4d50a'])


def test_idx_archive_must_be_directory(tmp_path):
    raw = fx.idx_files(str(tmp_path / 'raw'))
    _fails(tmp_path, '--dataset', 'mnist', '--archive',
           os.path.join(raw, 'train-images-idx3-ubyte.gz'), expect=['--archive', 'directory'])
