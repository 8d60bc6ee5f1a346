"""The four preprocessings, in float32, with statistics from the training split.

"Training split" means the training images minus the fixed validation split
(``chainer_compare.data.split``) unless the data stage is told to fit on all
of them: the functions that fit take the row indices to fit on.

* ``image``: subtract one scalar, the mean of every training pixel.
* ``image_norm``: contrast normalization, per image: remove its mean and divide
  by its standard deviation (``max(std, contrast_eps)``, so a flat image becomes
  zeros instead of NaN).
* ``*_zca``: ZCA whitening ``(x - mu) @ W`` with ``W = U diag(1/sqrt(lam + e)) U^T``
  from the training covariance.  The covariance is accumulated in float32, one
  SYRK per chunk of centred rows, and decomposed with LAPACK ``dsyevd`` in
  float64 -- no SVD of the N x D data matrix, no float64 copy of it.

``zca_eps`` is *relative*: ``e = zca_eps * mean(lam)``, mean(lam) being the
average per-pixel variance.  One value then suits both the 0..255-scale
mean-subtracted data and the unit-scale contrast-normalized data: with the
default 0.01 no direction is amplified more than 10x relative to a direction of
average variance, which keeps pixel noise from dominating the whitened images.
"""
import concurrent.futures
import os
import threading

import numpy

PREPROCESSINGS = ('image', 'image_norm', 'image_zca', 'image_norm_zca')
DEFAULT_ZCA_EPS = 0.01
CONTRAST_EPS = 1e-3  # grey levels: only (near-)constant images are affected
_CHUNK = 4096  # rows per GEMM/SYRK: big enough for BLAS speed, ~50 MB temporaries for CIFAR
_ROWS = 256  # rows per element-wise block: ~3 MB for CIFAR, so each pass stays in cache


def _fit_rows(flat, rows, buf):
    """``flat``'s rows (all, or the index array ``rows``) in blocks of ``_CHUNK``:
    views, or copies of the indexed rows into the reused buffer ``buf``, so a
    fancy-indexed subset is never copied whole."""
    n = len(flat) if rows is None else len(rows)
    for i in range(0, n, _CHUNK):
        if rows is None:
            yield flat[i:i + _CHUNK]
        else:
            index = rows[i:i + _CHUNK]
            yield numpy.take(flat, index, axis=0, out=buf[:len(index)])


def scalar_mean(train_u8, rows=None):
    """One float32 scalar: the mean over all pixels of the training images
    (only those at index ``rows`` when given: the validation split is left out).
    Summed as integers: exact, and faster than converting to float64."""
    flat = train_u8.reshape(len(train_u8), -1)
    n = len(flat) if rows is None else len(rows)
    total = 0
    for i in range(0, n, _CHUNK):
        block = flat[i:i + _CHUNK] if rows is None else flat[rows[i:i + _CHUNK]]
        total += int(block.sum(dtype=numpy.uint64))
    return numpy.float32(total / (n * flat.shape[1]))


def in_parallel(work, n, pool=None, reduce=None):
    """``work(lo, hi)`` over ``range(n)``: at once when ``pool`` is None, else
    in pieces of ``_CHUNK`` rows run by ``pool``'s threads (NumPy and BLAS
    release the GIL; whoever passes a pool keeps BLAS to one thread, see
    pipeline).  Waits for all of it; with ``reduce``, returns the pieces'
    results combined by it in row order as they come (so only a few are ever
    held)."""
    if pool is None or n == 0:
        try:
            return work(0, n)
        finally:
            release_scratch()
    # Up to _CHUNK rows each, and a multiple of the threads in number, so that
    # none waits alone at the end (~0.4 s of one core per CIFAR-10 piece).
    pieces = pool.threads * -(-n // (pool.threads * _CHUNK))
    bounds = [n * k // pieces for k in range(pieces + 1)]
    futures = [pool.submit(work, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    total = None
    for k in range(len(futures)):  # in row order, so the sums do not depend on timing
        part = futures[k].result()
        futures[k] = None  # a Future keeps its result: let each part go once added
        if reduce is not None:
            total = part if total is None else reduce(total, part)
    return total


class Workers(concurrent.futures.ThreadPoolExecutor):
    """The pool :func:`in_parallel` splits work over (it knows its size)."""

    def __init__(self, threads):
        super().__init__(threads)
        self.threads = threads


_SCRATCH = threading.local()


def _scratch(name, shape):
    """A float32 array of ``shape`` kept per thread and per ``name``: the pieces
    a thread runs one after another reuse it instead of fresh pages."""
    arrays, size = _SCRATCH.__dict__.setdefault('arrays', {}), int(numpy.prod(shape))
    if name not in arrays or arrays[name].size < size:
        arrays[name] = numpy.empty(size, numpy.float32)
    return arrays[name][:size].reshape(shape)


def release_scratch():
    """Drop this thread's scratch arrays."""
    _SCRATCH.__dict__.pop('arrays', None)


def _output(x_u8, out):
    return numpy.empty(x_u8.shape, numpy.float32) if out is None else out


def subtract_mean(x_u8, mean, out=None, pool=None):
    """uint8 -> float32 minus ``mean``, in blocks of ``_ROWS`` images: each is
    converted into the output, then has ``mean`` subtracted while in cache.
    (One mixed-type ``numpy.subtract(u8, f32, dtype=f32)`` gives the same bits
    through NumPy's buffered casting loop: 2.4 CPU-seconds of a CIFAR-10 data
    stage's two passes in a py-spy profile, 2026-12-03.)"""
    out = _output(x_u8, out)
    mean = numpy.float32(mean)

    def rows(lo, hi):
        for i in range(lo, hi, _ROWS):
            j = min(i + _ROWS, hi)
            out[i:j] = x_u8[i:j]
            out[i:j] -= mean
    in_parallel(rows, len(out), pool)
    return out


def contrast_normalize(x_u8, eps=CONTRAST_EPS, out=None, pool=None):
    """Per image: zero mean, unit standard deviation (float32, NCHW kept).

    Worked on in blocks of ``_ROWS`` images converted straight into the output,
    so the three passes (mean, std, divide) run on data still in cache."""
    out = _output(x_u8, out)
    flat = out.reshape(len(out), -1)  # a view: ``out`` is C-ordered

    def rows(lo, hi):
        for i in range(lo, hi, _ROWS):
            j = min(i + _ROWS, hi)
            out[i:j] = x_u8[i:j]  # any strides (e.g. a transposed NHWC view)
            block = flat[i:j]
            block -= block.mean(axis=1, keepdims=True)
            std = numpy.sqrt(numpy.mean(numpy.square(block), axis=1, keepdims=True))
            block /= numpy.maximum(std, numpy.float32(eps))
    in_parallel(rows, len(out), pool)
    return out


def base_transform(x_u8, stats, name, out=None, pool=None):
    """``image`` or ``image_norm`` of uint8 NCHW images with the stored stats
    (into ``out`` when given, by ``pool``'s threads when given)."""
    if name == 'image':
        return subtract_mean(x_u8, stats['mean'], out, pool)
    return contrast_normalize(x_u8, stats['contrast_eps'], out, pool)


def _add_into(total, part):
    return numpy.add(total, part, out=total)


def zca_moments(train, method=None, rows=None, pool=None):
    """What the ZCA fit needs from float32 training images (those at index
    ``rows`` when given): the per-pixel mean (summed in float64) and either the
    D x D covariance ('covariance', float32, one SYRK per chunk of centred rows)
    or, when N < D, the centred data for the cheaper N x N Gram matrix ('gram').
    With a ``pool``, its threads sum pieces of the rows side by side."""
    flat = train.reshape(len(train), -1)
    n, d = (len(flat) if rows is None else len(rows)), flat.shape[1]

    def share(lo, hi):  # rows lo..hi of the fitted rows, as _fit_rows takes them
        return (flat[lo:hi], None) if rows is None else (flat, rows[lo:hi])

    def sums(lo, hi):
        total = numpy.zeros(d, numpy.float64)
        buf = _scratch('rows', (min(hi - lo, _CHUNK), d))
        for block in _fit_rows(*share(lo, hi), buf):
            total += block.sum(axis=0, dtype=numpy.float64)
        return total
    mu = (in_parallel(sums, n, pool, _add_into) / n).astype(numpy.float32)
    if (method or ('gram' if n < d else 'covariance')) == 'gram':
        return {'mean': mu, 'centred': (flat if rows is None else flat[rows]) - mu}

    def products(lo, hi):
        cov = None
        buf = _scratch('rows', (min(hi - lo, _CHUNK), d))
        for block in _fit_rows(*share(lo, hi), buf):
            centred = numpy.subtract(block, mu, out=buf[:len(block)])
            product = centred.T @ centred  # NumPy runs ``a.T @ a`` as SYRK: half the flops
            cov = product if cov is None else _add_into(cov, product)
        return cov
    cov = in_parallel(products, n, pool, _add_into)
    cov /= numpy.float32(n)
    return {'mean': mu, 'cov': cov}


def _gram_eigh(centred):
    """Non-zero eigenpairs of the covariance from the N x N Gram matrix."""
    lam, v = numpy.linalg.eigh((centred @ centred.T) / numpy.float32(len(centred)))
    keep = lam > max(float(lam.max()), 0.0) * 1e-6
    lam, v = lam[keep], v[:, keep]
    return lam, (centred.T @ v) / numpy.sqrt(lam * len(centred)).astype(numpy.float32)


def zca_from_moments(moments, zca_eps=DEFAULT_ZCA_EPS):
    """``{'mean': (D,), 'W': (D, D), 'eps': absolute eps}`` via LAPACK ``syevd``."""
    d = len(moments['mean'])
    if 'cov' in moments:
        # NumPy computes a float32 input in float64 (LAPACK dsyevd): in float32
        # the whitening matrix came out 100x less accurate than the covariance
        # it is made from.  NumPy's, not SciPy's: SciPy's wrapper holds the GIL
        # for the whole call, which stalls every other thread of the data stage.
        lam, u = numpy.linalg.eigh(moments['cov'])
        lam = numpy.clip(lam, 0, None)  # round-off can give tiny negatives
    else:
        lam, u = _gram_eigh(moments['centred'])
    eps = float(zca_eps * lam.sum(dtype=numpy.float64) / d) or float(zca_eps)
    gain = (1.0 / numpy.sqrt(lam.astype(numpy.float64) + eps)).astype(numpy.float32)
    if 'cov' in moments:
        u *= numpy.sqrt(gain)
        w = u @ u.T  # SYRK: half a GEMM's flops, and exactly symmetric
    else:  # outside the data's span the covariance is 0: gain 1/sqrt(eps) there
        floor = numpy.float32(1.0 / numpy.sqrt(eps))
        w = (u * (gain - floor)) @ u.T
        w[numpy.diag_indices(d)] += floor
    return {'mean': moments['mean'], 'W': w, 'eps': eps}


def zca_fit(train, zca_eps=DEFAULT_ZCA_EPS, method=None):
    """ZCA statistics of float32 training images (see :func:`zca_from_moments`)."""
    return zca_from_moments(zca_moments(train, method), zca_eps)


def zca_apply(x, zca, pool=None, done=None):
    """Whiten float32 images in place: each row becomes ``(row - mean) @ W``,
    one GEMM per chunk written straight back into the chunk; ``done(lo, hi)``
    is told of each finished range of rows."""
    flat = x.reshape(len(x), -1)

    def rows(lo, hi):
        buf = _scratch('rows', (min(hi - lo, _CHUNK), flat.shape[1]))
        for i in range(lo, hi, _CHUNK):
            block = flat[i:min(i + _CHUNK, hi)]
            centred = numpy.subtract(block, zca['mean'], out=buf[:len(block)])
            numpy.matmul(centred, zca['W'], out=block)
            if done is not None:
                done(i, i + len(block))
    in_parallel(rows, len(flat), pool)
    return x


def transform(x_u8, stats, name):
    """Apply preprocessing ``name`` to uint8 NCHW images exactly as at preparation."""
    base = name[:-len('_zca')] if name.endswith('_zca') else name
    out = base_transform(x_u8, stats, base)
    if name.endswith('_zca'):
        zca_apply(out, stats['zca'][name])
    return out
