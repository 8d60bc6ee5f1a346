"""The data stage's computation: the four preprocessings of the loaded images,
their statistics, and the files, in an order that bounds memory and time.

Order of work (CIFAR-10 sizes in brackets; the arithmetic floor on two cores
is the two covariances, ~4e11 flop each, and the two whitenings, ~1.1e12 flop
each):

1. ``image`` and ``image_norm`` of all images [737 MB each], each with its
   ZCA moments (per-pixel mean and covariance of the fitted training rows);
   each is handed to the background writer as soon as it exists.
2. Both ZCA matrices (``eigh``), side by side, one thread each.
3. Each base array, once its own pickle is on disk, is whitened *in place*
   and written again as the ``*_zca`` pickle.

So no preprocessing is computed twice, no base array is allocated twice, and
at most the two base arrays (+ the uint8 source while ``image_norm`` is being
computed) are alive: ~1.7 GB for CIFAR-10.  File writing (sha256 and the copy
into the page cache, ~1.5 CPU-s per 737 MB pickle) overlaps the computation
in one background thread.
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


def write_outputs(out, data, zca_eps, fit_rows, quiet):
    """Write the four image pickles, labels, statistics and sample PNG; return
    ``(manifest outputs, stats)``.  The statistics are fitted on the training
    images at index ``fit_rows``.  Takes the images out of ``data`` (``train_x``,
    ``test_x``), so that they are freed as soon as they are no longer needed."""
    train_u8, test_u8 = data.pop('train_x'), data.pop('test_x')
    stats = {'mean': preprocess.scalar_mean(train_u8, fit_rows),
             'contrast_eps': preprocess.CONTRAST_EPS, 'zca': {}, 'zca_eps': zca_eps}
    panels, arrays, moments = [('raw', train_u8[:100].copy(), False)], {}, []
    phase, writer = _Phase(quiet), BackgroundWriter(out)
    try:
        for base in BASES:
            arrays[base] = {split: preprocess.base_transform(x, stats, base)
                            for split, x in (('train', train_u8), ('test', test_u8))}
            panels.append((base, arrays[base]['train'][:100].copy(), True))
            moments.append(preprocess.zca_moments(arrays[base]['train'], rows=fit_rows))
            writer.put(base + '.pkl', arrays[base])
        del train_u8, test_u8
        phase.done('image, image_norm and their covariances')
        for base, zca in zip(BASES, preprocess.zca_from_moments_parallel(moments, zca_eps)):
            stats['zca'][base + '_zca'] = zca
        del moments
        phase.done('ZCA matrices')
        for base in BASES:
            writer.release(base + '.pkl')
            whitened = arrays.pop(base)
            for x in whitened.values():
                preprocess.zca_apply(x, stats['zca'][base + '_zca'])
            panels.append((base + '_zca', whitened['train'][:100].copy(), True))
            writer.put(base + '_zca.pkl', whitened)
            del whitened
        writer.put('label.pkl', {'train': data['train_y'], 'test': data['test_y']})
        if 'train_coarse' in data:
            writer.put('label_coarse.pkl', {'train': data['train_coarse'],
                                            'test': data['test_coarse']})
        writer.put(storage.STATS, stats)
    finally:
        writer.close()
    phase.done('whitened and wrote everything')
    png = sample_grid_png(panels)
    outputs = writer.outputs
    outputs['samples.png'] = storage.write_file(out, 'samples.png', lambda f: f.write(png))
    return outputs, stats
