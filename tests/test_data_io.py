"""How the data stage writes: around the page cache (direct_io), following a
computation still filling the rows (RowProgress), and the CIFAR member format
it reads (Python 2's pickles, and Python 3 re-pickles of them)."""
import errno
import os
import pickle
import threading
import time

import numpy
import pytest

import data_fixtures as fx
from chainer_compare.data import archives, direct_io, storage
from chainer_compare.data.pipeline import RowProgress
from chainer_compare.safeio import safe_load_pickle

B, BUF = direct_io.BLOCK, direct_io.BUFFER_BYTES


def _write(path, pieces):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with direct_io.DirectWriter(fd) as writer:
            for piece in pieces:
                writer.write(piece)
            direct = writer.direct
    finally:
        os.close(fd)
    return direct


@pytest.mark.parametrize('sizes', [[], [1], [B - 1], [B], [B + 1], [3, B, 5],
                                   [BUF - 1, 2], [BUF], [BUF + B + 7], [10, BUF * 2 + 1]])
@pytest.mark.parametrize('switch', ['1', '0'])
def test_direct_writer_writes_exactly_the_bytes(tmp_path, monkeypatch, sizes, switch):
    monkeypatch.setenv(direct_io.SWITCH, switch)
    rng = numpy.random.RandomState(len(sizes))
    pieces = [rng.randint(0, 256, n).astype(numpy.uint8).tobytes() for n in sizes]
    path = str(tmp_path / 'f')
    direct = _write(path, pieces)
    if switch == '0':
        assert not direct
    with open(path, 'rb') as f:
        assert f.read() == b''.join(pieces)


def test_direct_writer_falls_back_when_the_file_system_refuses(tmp_path, monkeypatch):
    # Some file systems take the O_DIRECT flag and then fail the write with
    # EINVAL: the file must still come out whole, written the ordinary way.
    real_write, calls = os.write, []

    def refusing_write(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            raise OSError(errno.EINVAL, 'Invalid argument')
        return real_write(fd, data)
    monkeypatch.setattr(direct_io.os, 'write', refusing_write)
    monkeypatch.setattr(direct_io, '_set_direct', lambda fd, on: on)
    data = os.urandom(BUF + 123)
    path = str(tmp_path / 'f')
    assert not _write(path, [data])
    with open(path, 'rb') as f:
        assert f.read() == data


def test_direct_writer_reports_other_errors(tmp_path, monkeypatch):
    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(direct_io.os, 'write', full_disk)
    with pytest.raises(OSError, match='No space'):
        _write(str(tmp_path / 'f'), [b'x' * (BUF + 1)])


def test_write_pickle_follows_rows_as_they_become_final(tmp_path):
    # The writer may only read rows the computation has finished: the buffer
    # starts as NaN, rows are finished in shuffled pieces with pauses, and the
    # file must hold only final values (and the manifest record must match).
    buffer = numpy.full((400, 3, 8, 8), numpy.nan, numpy.float32)
    final = numpy.arange(buffer.size, dtype=numpy.float32).reshape(buffer.shape)
    progress = RowProgress(buffer)
    storage._HashingWriter._PIECE, old = 4096, storage._HashingWriter._PIECE
    try:
        arrays = {'train': buffer[:300], 'test': buffer[300:]}
        writing = threading.Thread(target=lambda: result.append(storage.write_pickle(
            str(tmp_path), 'x.pkl', arrays, ready=progress.wait_for)))
        result = []
        writing.start()
        order = numpy.random.RandomState(0).permutation(20)
        for piece in order:
            lo, hi = piece * 20, piece * 20 + 20
            buffer[lo:hi] = final[lo:hi]
            progress.done(lo, hi)
            time.sleep(0.005)
        writing.join(10)
    finally:
        storage._HashingWriter._PIECE = old
    assert result, 'the writer never finished'
    loaded = safe_load_pickle(str(tmp_path / 'x.pkl'))
    numpy.testing.assert_array_equal(loaded['train'], final[:300])
    numpy.testing.assert_array_equal(loaded['test'], final[300:])
    assert result[0]['sha256'] == storage.sha256_of_file(str(tmp_path / 'x.pkl'))


def test_row_progress_failure_releases_the_writer():
    buffer = numpy.zeros((10, 4), numpy.float32)
    progress = RowProgress(buffer)
    progress.done(0, 3)
    progress.wait_for(memoryview(buffer[:3]).cast('B'))  # final: returns at once
    progress.wait_for(memoryview(b'opcodes outside the buffer'))
    threading.Timer(0.05, progress.fail).start()
    with pytest.raises(RuntimeError, match='never computed'):
        progress.wait_for(memoryview(buffer[2:5]).cast('B'))


def test_python3_repickled_cifar_members_load_like_python2_ones(tmp_path):
    # The real archive's members are Python 2 pickles (BINSTRING data); a
    # copy re-pickled by Python 3 (protocol 2: bytes as _codecs.encode calls)
    # must give the same arrays.
    py2 = fx.cifar10_members(n_per_batch=5, n_test=7)
    py3 = {name: pickle.dumps(archives.safe_loads(data), protocol=2)
           for name, data in py2.items()}
    assert py2 != py3
    loaded = [archives.load_cifar(fx.write_tar(str(tmp_path / (tag + '.tar.gz')), members),
                                  'cifar10') for tag, members in (('py2', py2), ('py3', py3))]
    for key in ('train_x', 'train_y', 'test_x', 'test_y'):
        numpy.testing.assert_array_equal(loaded[0][key], loaded[1][key])
    assert b'\x80\x02}' in py2['cifar-10-batches-py/test_batch'][:3]
    assert b'_codecs' not in py2['cifar-10-batches-py/test_batch']


@pytest.mark.parametrize('where', ['eigh', 'whitening'])
def test_a_failure_inside_the_stage_is_the_error_reported(tmp_path, monkeypatch, where):
    # An error in a pool thread (the eigh) or half-way through a whitening
    # that the writer is following must come out as itself -- not as the
    # writer's "rows never computed", and without hanging -- and leave no
    # valid-looking output behind.
    from chainer_compare.data import prepare_dataset, preprocess
    archive = fx.cifar10_archive(str(tmp_path), n_per_batch=4, n_test=10)
    out = str(tmp_path / 'out')
    if where == 'eigh':
        def broken(moments, zca_eps):
            raise numpy.linalg.LinAlgError('Eigenvalues did not converge')
        monkeypatch.setattr(preprocess, 'zca_from_moments', broken)
        expected = numpy.linalg.LinAlgError
    else:

        def broken(x, zca, pool=None, done=None):
            done(0, 1)  # the writer gets the first row, then the work stops
            raise MemoryError('out of memory')
        monkeypatch.setattr(preprocess, 'zca_apply', broken)
        expected = MemoryError
    with pytest.raises(expected):
        prepare_dataset(archive=archive, out=out, verify=False, quiet=True)
    assert not os.path.exists(os.path.join(out, storage.MANIFEST))
    leftovers = [n for n in os.listdir(out) if n.endswith('.tmp') or n.endswith('_zca.pkl')]
    assert leftovers == []
