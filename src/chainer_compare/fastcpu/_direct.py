"""Direct and Winograd convolution through the compiled kernels (conv_kernels.c,
winograd.c), batch split over threads.

Used by :mod:`.conv` for float32 inputs and weights whose output channels
are a multiple of 16 (every convolution of the registered models but none of
their first layers' gradients, which are not computed); everything else
takes the im2col + GEMM path there.
"""
import chainer
import numpy

from chainer_compare.fastcpu import _layout, _native, _process


#: Output channels must be a multiple of this (the kernels' register tile).
CHANNEL_BLOCK = 16
#: (Largest Cin, largest Cin*kh*kw) done by the kernels, by build: the
#: forward pass (and so the weight gradient, which needs its padded input),
#: then the data gradient.  Beyond them im2col + GEMM was faster.  With the
#: 16-float tiles of an AVX-512 build on 2 AMD EPYC cores, batch 128, GFLOP/s
#: forward/backward: once the kernels ran on pool.c's threads they won up to
#: 256 channels (vgg 256ch 187/174 against 169/158, docs/results/
#: kernels-2026-12-03c.json; a whole vgg step took 2.39 instead of 2.74
#: CPU-seconds, medians of 10 interleaved steps).  On Python threads they had
#: lost at 256 channels (145/133 against 160/156, kernels-2026-12-03b.json).
#: Beyond 256 channels nothing was measured.  With 8-float tiles (AVX2, or
#: -DVC=8) they won up to 64 channels (K <= 1600); on vgg's 128-channel layers
#: the whole vgg step was 8% slower (69 against 75 images/s,
#: docs/results/kernels-2026-12-03.json).
LIMITS_WIDE_TILES = {'forward': (256, 3200), 'data_gradient': (256, 3200)}
LIMITS_NARROW_TILES = {'forward': (64, 1600), 'data_gradient': (64, 1600)}


#: 3x3 stride-1 convolutions of at least this many input and output channels
#: (multiples of 16) run as Winograd F(2x2, 3x3) (winograd.c): forward, data
#: gradient and weight gradient.  Below it the transforms cost more than the
#: 2.25x fewer multiply-adds save (ResNet's 16- and 32-channel layers were
#: slower or level).  ``chainer.using_config('fast_cpu_winograd', False)`` or
#: CHAINER_COMPARE_WINOGRAD=0 keeps them on the direct kernels.
WINOGRAD_MIN_CHANNELS = 64
ENV_WINOGRAD = 'CHAINER_COMPARE_WINOGRAD'
chainer.global_config.fast_cpu_winograd = not _process._switched_off(ENV_WINOGRAD, '0', '1')


def winograd_applies(c_in, c_out):
    """Whether a 3x3 stride-1 convolution of c_in into c_out channels runs as Winograd."""
    return (getattr(chainer.config, 'fast_cpu_winograd', True)
            and min(c_in, c_out) >= WINOGRAD_MIN_CHANNELS
            and c_in % CHANNEL_BLOCK == 0 and c_out % CHANNEL_BLOCK == 0)


def limits(pass_='forward'):
    """(largest Cin, largest Cin*kh*kw) of ``pass_`` ('forward' or 'data_gradient') for
    this build of the kernels; the data gradient's Cin is the layer's Cout."""
    lib = _native.library()
    table = LIMITS_WIDE_TILES if lib is not None and lib.conv_wide_tiles() else LIMITS_NARROW_TILES
    return table[pass_]


def _enabled(arrays):
    return all(a is None or a.dtype == numpy.float32 for a in arrays) and _native.kernels_on()


def applies(x, W, b):
    """Whether the kernels compute this convolution's forward pass (else im2col + GEMM)."""
    c_out, c_in, kh, kw = W.shape
    return _fits(c_in, c_out, kh * kw, 'forward') and _enabled((x, W, b))


def data_gradient_applies(W, gy):
    """Whether the data gradient (convolutions of Cout into Cin channels) is done here."""
    c_out, c_in, kh, kw = W.shape
    return _fits(c_out, c_in, kh * kw, 'data_gradient') and _enabled((W, gy))


def _fits(c_in, c_out, taps, pass_):
    """A convolution of c_in into c_out channels over ``taps`` kernel pixels suits the kernels."""
    max_in, max_depth = limits(pass_)
    return c_out % CHANNEL_BLOCK == 0 and c_in <= max_in and c_in * taps <= max_depth


def forward(x, W, b, stride, pad, out_hw, relu=False):
    """conv(x, W) + b (then max(., 0) with ``relu``) on an NHWC C-contiguous float32
    ``x`` zero-padded by ``pad`` (rows, cols) on each side; returns NHWC (N, Ho, Wo, Cout).

    ``W`` is Chainer's (Cout, Cin, kh, kw).  The kernels pad each block of
    images in cache as they go (no padded copy of the batch).
    """
    w = kernel_weights(W)
    (ph, pw) = pad
    return _run(x, w, b, stride, out_hw, pad=(ph, pw, ph, pw), relu=relu)


#: Weights with fewer elements than this are rearranged by NumPy (256x256x3x3:
#: 0.18 against 0.57 ms on the pool; 16x16x3x3: 0.015 against 0.002 ms).
SMALL_WEIGHTS = 1 << 16


def kernel_weights(W, flip=False):
    """Chainer's (Cout, Cin, kh, kw) float32 weights as the kernels read them:
    (kh, kw, Cin, Cout), or with ``flip`` (kh, kw, Cout, Cin) with the taps
    reversed (the stride-1 data gradient's kernel); one threaded pass."""
    c_out, c_in, kh, kw = W.shape
    if c_out % CHANNEL_BLOCK or W.size < SMALL_WEIGHTS:  # NumPy: small (a pool call is
        # ~15 us), or output channels not in blocks of 16 (a data gradient's input)
        taps = W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1) if flip else W.transpose(2, 3, 1, 0)
        return numpy.ascontiguousarray(taps)
    W = numpy.ascontiguousarray(W)
    w = numpy.empty((kh, kw, c_in, c_out) if not flip else (kh, kw, c_out, c_in), W.dtype)
    _native.run('oihw_to_kernel_layout', c_out // CHANNEL_BLOCK, W, w, c_in, kh, kw, c_out,
                int(flip))
    return w


def data_gradient(gy, W, stride, pad, in_hw, acc=None):
    """dL/dx (NHWC (N, h, w, Cin)) of a convolution from its NHWC output gradient ``gy``,
    plus ``acc`` (NHWC, C-contiguous, float32) when given, added in the same pass.

    See :func:`data_gradient_applies`.  Input row i receives gy[a] * W[ky]
    for every a*s + ky = i + pad, so the rows of one phase (i + pad = r mod s)
    see only the kernel rows ky = r, r + s, ...: per (row, column) phase the
    gradient is a stride-1 convolution of (padded) gy with those kernel taps,
    flipped, written to every s-th pixel of gx.  Stride 1 is one phase (the
    full flipped kernel); stride 2 is four sub-kernels of 2x2, 2x1, 1x2, 1x1
    taps for a 3x3 layer, together the forward pass's FLOPs (GEMM + col2im
    computes all k*k products for every output, then scatters them).
    """
    n, ho, wo, c_out = gy.shape
    _, c_in, kh, kw = W.shape
    (sy, sx), (ph, pw), (h, w) = stride, pad, in_hw
    if (sy, sx) == (1, 1) and ph < kh and pw < kw:
        # One phase: gy padded by k - 1 - pad (in cache, by the kernels)
        # convolved with the flipped kernel.
        qh, qw = kh - 1 - ph, kw - 1 - pw
        flipped = kernel_weights(W, flip=True)
        return _run(gy, flipped, None, (1, 1), (h, w), pad=(qh, qw, qh, qw), acc=acc)
    gx = numpy.empty((n, h, w, c_in), numpy.float32)
    rows = [_Phase(r, sy, ph, kh, h, ho) for r in range(sy)]
    cols = [_Phase(r, sx, pw, kw, w, wo) for r in range(sx)]
    top, left = max(p.pad_lo for p in rows), max(p.pad_lo for p in cols)
    gy_pad = _layout.padded_nhwc(_layout.to_nchw_view(gy), (top, left),
                                 (max(p.pad_hi for p in rows), max(p.pad_hi for p in cols)))
    for py in rows:
        for px in cols:
            if py.count == 0 or px.count == 0:
                continue
            out = gx[:, py.first::sy, px.first::sx]
            out_acc = None if acc is None else acc[:, py.first::sy, px.first::sx]
            if py.taps == 0 or px.taps == 0:  # a kernel smaller than the stride
                out[...] = 0 if acc is None else out_acc
                continue
            taps = W[:, :, py.residue::sy, px.residue::sx][:, :, ::-1, ::-1]
            origin = gy_pad[:, top + py.a_lo - py.taps + 1:, left + px.a_lo - px.taps + 1:]
            _run(gy_pad, numpy.ascontiguousarray(taps.transpose(2, 3, 0, 1)), None, (1, 1),
                 (py.count, px.count), origin=origin, out=out, acc=out_acc)
    return gx


class _Phase:
    """Along one axis: the input rows i = first, first + s, ... (``count``) with
    i + pad = residue (mod s).  Row first + s*m gets the ``taps`` kernel rows
    residue, residue + s, ... against gy rows a_lo + m, a_lo + m - 1, ..., so gy
    needs ``pad_lo`` zero rows before it and ``pad_hi`` after."""

    def __init__(self, residue, s, pad, k, size, out_size):
        self.residue = residue
        self.first = (residue - pad) % s
        self.count = len(range(self.first, size, s))
        self.taps = len(range(residue, k, s))
        self.a_lo = (self.first + pad - residue) // s
        self.pad_lo = max(0, self.taps - 1 - self.a_lo)
        self.pad_hi = max(0, self.a_lo + self.count - out_size)


def _run(x, w, b, stride, out_hw, pad=(0, 0, 0, 0), origin=None, out=None, acc=None,
         relu=False):
    """conv(x zero-padded by ``pad`` (top, left, bottom, right), w) + b (+ acc, then
    max(., 0) with ``relu``) on the thread pool; ``x`` is NHWC, ``w`` (kh, kw, Cin, Cout).

    ``origin``: a view of an unpadded ``x`` starting at the first output's
    kernel origin (default ``x``).  ``out``: an NHWC view to write, any pixel
    and row strides with contiguous channels (default: a new array).
    ``acc``: an array with ``out``'s shape and strides whose values are added.
    """
    n, h, wd, cin = x.shape
    kh, kw, _, cout = w.shape
    (sy, sx), (ho, wo) = stride, out_hw
    y = numpy.empty((n, ho, wo, cout), numpy.float32) if out is None else out
    x0 = x if origin is None else origin
    y_img, y_row, y_pix = (step // y.itemsize for step in y.strides[:3])
    b = None if b is None else numpy.ascontiguousarray(b)
    if acc is not None and (acc.shape != y.shape or acc.strides != y.strides
                            or acc.dtype != numpy.float32):
        raise ValueError('fastcpu: the accumulated gradient must be laid out as the output')
    if origin is None and (kh, kw, sy, sx) == (3, 3, 1, 1) and winograd_applies(cin, cout):
        # F(2x2, 3x3): 16 instead of 36 multiply-adds per 2x2 outputs (winograd.c).
        U = numpy.empty((16, cin, cout), numpy.float32)
        _native.run('winograd_weights', cin, w, U, cin, cout)
        _native.run('winograd_forward', n, x, U, b, y, h, wd, cin, ho, wo, cout,
                    y_img, y_row, y_pix, acc, pad[0], pad[1], int(relu))
        return y
    _native.run('conv_forward', n, x0, w, b, y, h, wd, cin, kh, kw, sy, sx, ho, wo, cout,
                y_img, y_row, y_pix, acc, *pad, int(relu))
    return y


def backward_weights(x, gy, w_shape, stride, pad, bias=False):
    """dL/dW (Chainer's (Cout, Cin, kh, kw)) from the NHWC C-contiguous input (zero-padded
    by ``pad`` (rows, cols) on each side, in cache) and NHWC ``gy``; with ``bias``, also
    dL/db (gy summed over every pixel, in the same pass over gy)."""
    n, h, w, cin = x.shape
    cout, _, kh, kw = w_shape
    _, ho, wo, _ = gy.shape
    (sy, sx), (ph, pw) = stride, pad
    if (kh, kw, sy, sx) == (3, 3, 1, 1) and winograd_applies(cin, cout):
        return _winograd_weight_gradient(x, gy, w_shape, pad, bias)
    # One partial gradient per chunk (the kernel zeroes it), added up in chunk
    # order (and into Chainer's layout) by a second kernel, so the result does
    # not depend on which thread ran what.
    parts = _native.chunks(n)
    gw_parts = numpy.empty((parts, kh, kw, cin, cout), numpy.float32)
    gb_parts = numpy.empty((parts, cout), numpy.float64) if bias else None
    _native.run('conv_backward_weights', n, x, gy, gw_parts, gb_parts, gw_parts[0].size, cout,
                h, w, cin, kh, kw, sy, sx, ho, wo, cout, ph, pw, ph, pw)
    gw = numpy.empty(w_shape, numpy.float32)
    _native.run('sum_parts_to_oihw', cout // CHANNEL_BLOCK, gw_parts, gw, parts, cin, kh, kw, cout)
    if not bias:
        return gw
    return gw, gb_parts.sum(axis=0).astype(numpy.float32)


def _winograd_weight_gradient(x, gy, w_shape, pad, bias):
    """:func:`backward_weights` of a 3x3 stride-1 layer as Winograd F(2x2, 3x3)
    (winograd.c): per chunk of images the gradient of the 16 transformed
    kernels, added in chunk order and transformed back, then into Chainer's
    layout."""
    n, h, w, cin = x.shape
    _, ho, wo, cout = gy.shape
    parts = _native.chunks(n)
    gu_parts = numpy.empty((parts, 16, cin, cout), numpy.float32)
    gb_parts = numpy.empty((parts, cout), numpy.float64) if bias else None
    _native.run('winograd_backward_weights', n, x, gy, gu_parts, gb_parts, gu_parts[0].size,
                cout, h, w, cin, ho, wo, cout, pad[0], pad[1])
    gw_taps = numpy.empty((3, 3, cin, cout), numpy.float32)
    _native.run('winograd_weights_gradient', cin, gu_parts, gw_taps, parts, cin, cout)
    gw = numpy.empty(w_shape, numpy.float32)
    _native.run('sum_parts_to_oihw', cout // CHANNEL_BLOCK, gw_taps, gw, 1, cin, 3, 3, cout)
    if not bias:
        return gw
    return gw, gb_parts.sum(axis=0).astype(numpy.float32)
