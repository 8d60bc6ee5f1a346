"""Direct convolution through the compiled kernels (kernels.c), batch split over threads.

Used by :mod:`.conv` for float32 inputs and weights whose output channels
are a multiple of 16 (every convolution of the registered models but none of
their first layers' gradients, which are not computed); everything else
takes the im2col + GEMM path there.
"""
import numpy

from chainer_compare.fastcpu import _native


#: Output channels must be a multiple of this (the kernels' register tile).
CHANNEL_BLOCK = 16
#: Largest Cin*kh*kw done by the kernels.  On 2 AMD EPYC cores at batch 128
#: (docs/results/kernels-2026-12-03.json) they beat im2col + GEMM up to 64
#: channels (K <= 1600: 16-64 channels 3x3, 64 channels 5x5) and roughly tied at
#: 128 channels 3x3; at 256 channels (K = 2304) GEMM was as fast, and in
#: development runs about 2x faster at 512 channels, where OpenBLAS runs these
#: GEMMs near its peak.
MAX_DEPTH = 1600
#: Largest Cin done by the kernels: on vgg's 128-channel layers (K = 1152) the
#: whole vgg step was 8% slower with the kernels than with im2col + GEMM
#: (69 vs 75 images/s, 2026-12-03), though the kernels won at 64 channels.
MAX_IN_CHANNELS = 64


def _enabled(arrays):
    return all(a is None or a.dtype == numpy.float32 for a in arrays) and _native.kernels_on()


def applies(x, W, b):
    """Whether the kernels compute this convolution's forward pass (else im2col + GEMM)."""
    c_out, c_in, kh, kw = W.shape
    return (c_out % CHANNEL_BLOCK == 0 and c_in <= MAX_IN_CHANNELS
            and c_in * kh * kw <= MAX_DEPTH and _enabled((x, W, b)))


def data_gradient_applies(W, gy):
    """Whether the stride-1 data gradient (a convolution of Cout into Cin channels) is done here."""
    c_out, c_in, kh, kw = W.shape
    return (c_in % CHANNEL_BLOCK == 0 and c_out <= MAX_IN_CHANNELS
            and c_out * kh * kw <= MAX_DEPTH and _enabled((W, gy)))


def forward(xp, W, b, stride, out_hw):
    """conv(xp, W) + b on a padded NHWC float32 array; returns NHWC (N, Ho, Wo, Cout).

    ``W`` is Chainer's (Cout, Cin, kh, kw).
    """
    w = numpy.ascontiguousarray(W.transpose(2, 3, 1, 0))
    return _run(xp, w, b, stride, out_hw)


def forward_flipped(gy_pad, W, in_hw):
    """The stride-1 data gradient: padded NHWC ``gy`` convolved with the flipped kernel.

    See :func:`data_gradient_applies`.
    """
    w_flip = numpy.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1))
    return _run(gy_pad, w_flip, None, (1, 1), in_hw)


def _run(xp, w, b, stride, out_hw):
    lib = _native.library()
    n, hp, wp, cin = xp.shape
    kh, kw, _, cout = w.shape
    (sy, sx), (ho, wo) = stride, out_hw
    y = numpy.empty((n, ho, wo, cout), numpy.float32)
    b = None if b is None else numpy.ascontiguousarray(b)

    def forward_chunk(lo, hi):
        lib.conv_forward(_native.ptr(xp), _native.ptr(w), _native.ptr(b), _native.ptr(y), lo, hi, hp, wp, cin, kh, kw,
                         sy, sx, ho, wo, cout)
    _native.split_batch(n, forward_chunk)
    return y


def backward_weights(xp, gy, w_shape, stride):
    """dL/dW (Chainer's (Cout, Cin, kh, kw)) from the padded NHWC input and NHWC ``gy``."""
    lib = _native.library()
    n, hp, wp, cin = xp.shape
    cout, _, kh, kw = w_shape
    _, ho, wo, _ = gy.shape
    sy, sx = stride

    def weight_gradient_chunk(lo, hi):
        gw = numpy.empty((kh, kw, cin, cout), numpy.float32)  # the kernel zeroes it
        lib.conv_backward_weights(_native.ptr(xp), _native.ptr(gy), _native.ptr(gw), lo, hi, hp, wp, cin, kh, kw,
                                  sy, sx, ho, wo, cout)
        return gw
    parts = _native.split_batch(n, weight_gradient_chunk)
    total = parts[0]
    for part in parts[1:]:
        total += part
    return numpy.ascontiguousarray(total.transpose(3, 2, 0, 1))
