"""The data stage's computation: the four preprocessings of the loaded images,
their statistics, and the files, in an order that bounds memory and time.

The arithmetic floor (CIFAR-10: two covariances of 45,000 x 3072 rows, ~4e11
flop each, and two whitenings of 60,000 rows, ~1.1e12 flop each) is ~17 s at
the float32 GEMM peak of two cores; everything else is kept off that path:

1. ``image``, then ``image_norm``, of all images [737 MB each], each with its
   ZCA moments (per-pixel mean, covariance of the fitted training rows), each
   handed to the background writer as soon as it exists.
2. Both ZCA matrices (two ``eigh``), side by side, one thread each.
3. ``image_norm``'s arrays, once on disk, are whitened *in place* and written
   again as ``image_norm_zca``; ``image``'s are recomputed (one cheap pass over
   the uint8 images), whitened in place and written as ``image_zca``.

Peak memory is about two float32 copies of the dataset plus the uint8 images
(~1.8 GB for CIFAR-10): ``image``'s arrays are let go during step 2 because
the two ``eigh`` workspaces (~0.3 GB each) on top of both copies would pass
2 GB.  Writing (sha256 and the copy into the page cache, ~1.5 CPU-s per
737 MB pickle) overlaps the computation in one background thread.
"""
import concurrent.futures
import sys
import time

from chainer_compare.data import preprocess, storage
from chainer_compare.data.samples import sample_grid_png

BASES = ('image', 'image_norm')


class BackgroundWriter:
    """Writes one pickle in a thread while the next array is computed (file I/O,
    sha256 and fsync release the GIL).  At most one write is pending."""

    def __init__(self, out):
        self.out, self.outputs, self.pending = out, {}, None
        self.pool = concurrent.futures.ThreadPoolExecutor(1)

    def put(self, name, obj):
        """Start writing ``obj`` as ``name`` (after the previous write ends);
        ``obj``'s arrays must not change until :meth:`release` of ``name``."""
        self.wait()
        self.pending = name, self.pool.submit(storage.write_pickle, self.out, name, obj)

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

    def close(self):
        try:
            self.wait()
        finally:
            self.pool.shutdown()


class _Phase:
    """Logs how long each phase took (stderr, unless quiet)."""

    def __init__(self, quiet):
        self.quiet, self.start = quiet, time.perf_counter()

    def done(self, what):
        if not self.quiet:
            print('{} ({:.1f} s)'.format(what, time.perf_counter() - self.start),
                  file=sys.stderr)
        self.start = time.perf_counter()


def _base_arrays(train_u8, test_u8, stats, base):
    return {split: preprocess.base_transform(x, stats, base)
            for split, x in (('train', train_u8), ('test', test_u8))}


def write_outputs(out, data, zca_eps, fit_rows, quiet):
    """Write the four image pickles, labels, statistics and sample PNG; return
    ``(manifest outputs, stats)``.  The statistics are fitted on the training
    images at index ``fit_rows``.  Takes the images out of ``data`` (``train_x``,
    ``test_x``), so that they are freed as soon as they are no longer needed."""
    train_u8, test_u8 = data.pop('train_x'), data.pop('test_x')
    stats = {'mean': preprocess.scalar_mean(train_u8, fit_rows),
             'contrast_eps': preprocess.CONTRAST_EPS, 'zca': {}, 'zca_eps': zca_eps}
    panels, moments = {'raw': train_u8[:100].copy()}, []
    phase, writer = _Phase(quiet), BackgroundWriter(out)
    try:
        for base in BASES:  # image_norm last: its arrays stay for step 3
            arrays = _base_arrays(train_u8, test_u8, stats, base)
            panels[base] = arrays['train'][:100].copy()
            moments.append(preprocess.zca_moments(arrays['train'], rows=fit_rows))
            writer.put(base + '.pkl', arrays)
        phase.done('image, image_norm and their covariances')
        for base, zca in zip(BASES, preprocess.zca_from_moments_parallel(moments, zca_eps)):
            stats['zca'][base + '_zca'] = zca
        del moments
        phase.done('ZCA matrices')
        writer.release('image_norm.pkl')
        for base in ('image_norm', 'image'):
            if base == 'image':
                arrays = _base_arrays(train_u8, test_u8, stats, base)
                del train_u8, test_u8
            for x in arrays.values():
                preprocess.zca_apply(x, stats['zca'][base + '_zca'])
            panels[base + '_zca'] = arrays['train'][:100].copy()
            writer.put(base + '_zca.pkl', arrays)
            del arrays
        writer.put('label.pkl', {'train': data['train_y'], 'test': data['test_y']})
        if 'train_coarse' in data:
            writer.put('label_coarse.pkl', {'train': data['train_coarse'],
                                            'test': data['test_coarse']})
        writer.put(storage.STATS, stats)
    finally:
        writer.close()
    phase.done('whitened and wrote everything')
    png = sample_grid_png([('raw', panels['raw'], False)]
                          + [(name, panels[name], True) for name in preprocess.PREPROCESSINGS])
    outputs = writer.outputs
    outputs['samples.png'] = storage.write_file(out, 'samples.png', lambda f: f.write(png))
    return outputs, stats
