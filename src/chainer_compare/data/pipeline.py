"""The data stage's computation: the four preprocessings of the loaded images,
their statistics, and the files, in an order that bounds memory and time.

The arithmetic (CIFAR-10: two covariances of 45,000 x 3072 rows, ~4e11 flop
each; two float64 ``eigh`` of 3072 x 3072, ~7 s of one core each; two
whitenings of 60,000 rows, ~1.1e12 flop each) needs both cores all the time,
so each ``eigh`` runs on a thread of its own *while* the other work goes on,
and all of it goes through one float32 buffer the size of the dataset:

1. buffer <- ``image``; its covariance; written in the background; its
   ``eigh`` starts.
2. buffer <- ``image_norm`` (once ``image.pkl`` is on disk); its covariance;
   written; its ``eigh`` starts.
3. buffer <- ``image`` again (one cheap pass over the uint8 images), whitened
   in place as soon as its ZCA matrix exists, written as ``image_zca``.
4. The same for ``image_norm`` -> ``image_norm_zca``.

BLAS runs on one thread throughout: the covariances and whitenings are split
by rows over our own threads instead, so a running ``eigh`` simply takes one
core (OpenBLAS's thread count is process-wide, and its idle threads spin).
Peak memory is the uint8 images, the buffer and two ``eigh`` workspaces
(~1.6 GB for CIFAR-10).  Writing bypasses the page cache (``direct_io``) and
overlaps the computation in one background thread.
"""
import concurrent.futures
import os
import sys
import threading
import time

import numpy

from chainer_compare.data import preprocess, storage
from chainer_compare.data.samples import sample_grid_png

BASES = ('image', 'image_norm')


class BackgroundWriter:
    """Writes one pickle in a thread while the next array is computed (file I/O,
    sha256 and fsync release the GIL).  At most one write is pending."""

    def __init__(self, out):
        self.out, self.outputs, self.pending = out, {}, None
        self.pool = concurrent.futures.ThreadPoolExecutor(1)

    def put(self, name, obj, ready=None):
        """Start writing ``obj`` as ``name`` (after the previous write ends);
        ``obj``'s arrays must not change until :meth:`release` of ``name``
        (``ready``: see :class:`RowProgress`)."""
        self.wait()
        self.pending = name, self.pool.submit(storage.write_pickle, self.out, name, obj, ready)

    def release(self, name):
        """Block until ``name`` is on disk, so that its arrays may be overwritten."""
        if self.pending is not None and self.pending[0] == name:
            self.wait()
        assert name in self.outputs, name  # released before it was ever put

    def wait(self):
        if self.pending is not None:
            name, future = self.pending
            self.pending = None
            self.outputs[name] = future.result()

    def close(self, failed=False):
        """Wait for the pending write.  ``failed``: the computation stopped with
        an error of its own, which the write's consequent error must not hide."""
        try:
            self.wait()
        except BaseException:
            if not failed:
                raise
        finally:
            self.pool.shutdown()


class RowProgress:
    """Which leading rows of ``buffer`` are final, so that its pickle can be
    written while the whitening still works on the rows after them.

    The whitening reports finished row ranges (:meth:`done`, in any order); the
    writer calls :meth:`wait_for` with each piece of memory it is about to
    read, which blocks until every row the piece touches is final.  Memory
    outside the buffer (pickle opcodes) passes at once."""

    def __init__(self, buffer):
        self.start, self.row_bytes = buffer.ctypes.data, buffer[0].nbytes
        self.end = self.start + buffer.nbytes
        self.final_rows, self.finished, self.failed = 0, {}, False
        self.changed = threading.Condition()

    def done(self, lo, hi):
        with self.changed:
            self.finished[lo] = hi
            while self.final_rows in self.finished:
                self.final_rows = self.finished.pop(self.final_rows)
            self.changed.notify_all()

    def fail(self):
        """The computation stopped: release the writer (with an error)."""
        with self.changed:
            self.failed = True
            self.changed.notify_all()

    def wait_for(self, piece):
        if not len(piece):
            return
        first = numpy.frombuffer(piece, numpy.uint8).ctypes.data
        if first >= self.end or first + len(piece) <= self.start:
            return
        needed = -(-(min(first + len(piece), self.end) - self.start) // self.row_bytes)
        with self.changed:
            self.changed.wait_for(lambda: self.final_rows >= needed or self.failed)
            if self.final_rows < needed:
                raise RuntimeError('the rows to write were never computed')


class _Phase:
    """Logs how long each phase took (stderr, unless quiet)."""

    def __init__(self, quiet):
        self.quiet, self.start = quiet, time.perf_counter()

    def done(self, what):
        if not self.quiet:
            print('{} ({:.1f} s)'.format(what, time.perf_counter() - self.start),
                  file=sys.stderr)
        self.start = time.perf_counter()


def write_outputs(out, data, zca_eps, fit_rows, quiet):
    """Write the four image pickles, labels, statistics and sample PNG; return
    ``(manifest outputs, stats)``.  The statistics are fitted on the training
    images at index ``fit_rows``.  Takes the images out of ``data`` (``train_x``,
    ``test_x``), so that they are freed as soon as they are no longer needed."""
    from threadpoolctl import threadpool_limits
    train_u8, test_u8 = data.pop('train_x'), data.pop('test_x')
    stats = {'mean': preprocess.scalar_mean(train_u8, fit_rows),
             'contrast_eps': preprocess.CONTRAST_EPS, 'zca': {}, 'zca_eps': zca_eps}
    buffer = numpy.empty((len(train_u8) + len(test_u8),) + train_u8.shape[1:], numpy.float32)
    arrays = {'train': buffer[:len(train_u8)], 'test': buffer[len(train_u8):]}
    panels, fits = {'raw': train_u8[:100].copy()}, {}
    phase, writer = _Phase(quiet), BackgroundWriter(out)
    # Row pieces and the two ``eigh`` share these threads, first come first served.
    pool = preprocess.Workers(os.cpu_count() or 1)

    def fill(base, previous):  # the buffer <- ``base``, once ``previous`` is on disk
        if previous is not None:
            writer.release(previous)
        for split, x in (('train', train_u8), ('test', test_u8)):
            preprocess.base_transform(x, stats, base, out=arrays[split], pool=pool)

    try:
        with threadpool_limits(1):
            previous = None
            for base in BASES:
                fill(base, previous)
                panels[base] = arrays['train'][:100].copy()
                writer.put(base + '.pkl', arrays)  # only read from now on: written meanwhile
                previous = base + '.pkl'
                moments = preprocess.zca_moments(arrays['train'], rows=fit_rows, pool=pool)
                fits[base] = pool.submit(preprocess.zca_from_moments, moments, zca_eps)
            phase.done('image, image_norm and their covariances')
            for base in BASES:
                fill(base, previous)
                zca = stats['zca'][base + '_zca'] = fits.pop(base).result()
                progress = RowProgress(buffer)
                writer.put(base + '_zca.pkl', arrays, ready=progress.wait_for)
                previous = base + '_zca.pkl'
                try:
                    preprocess.zca_apply(buffer, zca, pool=pool, done=progress.done)
                finally:
                    progress.fail()  # a no-op once every row is final
                panels[base + '_zca'] = arrays['train'][:100].copy()
        writer.put('label.pkl', {'train': data['train_y'], 'test': data['test_y']})
        if 'train_coarse' in data:
            writer.put('label_coarse.pkl', {'train': data['train_coarse'],
                                            'test': data['test_coarse']})
        writer.put(storage.STATS, stats)
    except BaseException:
        writer.close(failed=True)  # its temp file is removed; the error raised is ours
        raise
    else:
        writer.close()
    finally:
        pool.shutdown()
    phase.done('ZCA matrices, whitened and wrote everything')
    png = sample_grid_png([('raw', panels['raw'], False)]
                          + [(name, panels[name], True) for name in preprocess.PREPROCESSINGS])
    outputs = writer.outputs
    outputs['samples.png'] = storage.write_file(out, 'samples.png', lambda f: f.write(png))
    return outputs, stats
