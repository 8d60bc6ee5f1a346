"""2-D convolution as a channels-last patch gather plus one GEMM per pass.

Forward:          y[n,y,x,:]  = patches(x_pad) @ W_mat            (W_mat: (kh*kw*Cin, Cout))
Backward weights: gW_mat      = patches(x_pad).T @ gy_mat          (patches kept from forward)
Backward data:    stride 1 -> a convolution of gy (padded by k-1-pad) with the flipped
                  kernel, i.e. one more gather + GEMM; stride > 1 -> gy_mat @ W_mat.T
                  scattered back with kh*kw strided adds (col2im).
Where the compiled kernels apply (:mod:`._direct`) they replace the gathers and
GEMMs by direct convolutions, the data gradient of any stride included.
"""
import chainer
import numpy

from chainer_compare.fastcpu import _direct
from chainer_compare.fastcpu import _layout as L
from chainer_compare.fastcpu import _native, _process
from chainer_compare.fastcpu import _workspace

# Patch matrices larger than this are rebuilt in backward instead of being kept
# alive between forward and backward (memory against one extra gather).
KEEP_PATCHES_MAX_BYTES = 512 * 2 ** 20

# Without the compiled kernels, outputs with this few channels are returned
# NCHW-contiguous (one transpose copy): Chainer's BatchNormalization broadcasts
# per channel, and on a channels-last view of 16 channels its inner loops are
# 16 elements long (~40% slower).  From 64 channels on, channels-last costs BN
# little and saves the copies (measured on the residual net and cnnbn).  The
# kernels' batch normalization works on channels-last memory directly.
NCHW_OUTPUT_MAX_CHANNELS = 32

DOUBLE_BACKWARD_MESSAGE = (
    'chainer_compare.fastcpu does not support double backward (gradients of '
    'gradients); run with the fast CPU path off: '
    "chainer.using_config('fast_cpu', False) or train.py --no_fast_cpu")


class GradientNode(chainer.function_node.FunctionNode):
    """A node computing first-order gradients; differentiating it raises a clear error."""

    def backward(self, indexes, grad_outputs):
        raise NotImplementedError(DOUBLE_BACKWARD_MESSAGE)


class Convolution2D(chainer.function_node.FunctionNode):
    """y = conv(x, W) + b for NCHW-shaped x (any memory layout), dilation 1, groups 1."""

    def __init__(self, stride, pad):
        self.sy, self.sx = L.pair(stride)
        self.ph, self.pw = L.pair(pad)
        self._patches = None

    def forward(self, inputs):
        self.retain_inputs((0, 1))
        x, W = inputs[:2]
        b = inputs[2] if len(inputs) == 3 else None
        n, _, h, w = x.shape
        c_out, _, kh, kw = W.shape
        out_h = L.outsize(h, kh, self.sy, self.ph)
        out_w = L.outsize(w, kw, self.sx, self.pw)
        if out_h <= 0 or out_w <= 0:
            raise ValueError('fastcpu.convolution_2d: kernel {}x{} with pad {} does not '
                             'fit input {}x{}'.format(kh, kw, (self.ph, self.pw), h, w))
        if _direct.applies(x, W, b):
            # Compiled direct convolution: no patch matrix, no padded copy; the
            # weight gradient reads the same NHWC input.
            self._x_nhwc = numpy.ascontiguousarray(L.nhwc(x))
            y = _direct.forward(self._x_nhwc, W, b, (self.sy, self.sx), (self.ph, self.pw),
                                (out_h, out_w))
        else:
            self._x_nhwc = None
            y = self._gemm_forward(x, W, b, kh, kw, out_h, out_w)
        y = L.to_nchw_view(y.reshape(n, out_h, out_w, c_out))
        if c_out <= NCHW_OUTPUT_MAX_CHANNELS and not _native.kernels_on():
            y = numpy.ascontiguousarray(y)
        return y,

    def _gemm_forward(self, x, W, b, kh, kw, out_h, out_w):
        self._owns_patches = not self._is_pointwise(kh, kw)
        patches = self._patch_matrix(x, kh, kw, out_h, out_w)
        y = gemm(patches, weight_matrix(W))
        if b is not None:
            y += b
        if chainer.config.enable_backprop and patches.nbytes <= KEEP_PATCHES_MAX_BYTES:
            self._patches = patches
        else:
            self.release_patches(patches)
        return y

    def _is_pointwise(self, kh, kw):
        return kh == kw == 1 and self.sy == self.sx == 1 and self.ph == self.pw == 0

    def _patch_matrix(self, x, kh, kw, out_h, out_w):
        if self._is_pointwise(kh, kw):
            # 1x1 stride 1: the NHWC input already is the patch matrix.
            return numpy.ascontiguousarray(L.nhwc(x)).reshape(-1, x.shape[1])
        xp = L.padded_nhwc(x, (self.ph, self.pw), (self.ph, self.pw))
        return L.patch_matrix(xp, kh, kw, self.sy, self.sx, out_h, out_w)

    def release_patches(self, patches):
        """Give a patch matrix built by :meth:`_patch_matrix` back to the pool."""
        if self._owns_patches:
            _workspace.give(patches)

    def backward(self, indexes, grad_outputs):
        x, W = self.get_retained_inputs()
        return Convolution2DGrad(self, indexes).apply((x, W, grad_outputs[0]))

    def backward_accumulate(self, target_input_indexes, grad_outputs, grad_inputs):
        """:meth:`backward` plus the gradients accumulated so far (Chainer's contract).

        When x already has a gradient (a residual block's input, which also
        feeds the shortcut) and the kernels compute the data gradient, they add
        it in the same pass; Chainer would add the two in a separate
        single-threaded sum (an extra pass over both, and a node).
        """
        x, W = self.get_retained_inputs()
        gy = grad_outputs[0]
        accumulated = dict(zip(target_input_indexes, grad_inputs))
        inputs = (x, W, gy)
        x_acc = accumulated.get(0)
        if (x_acc is not None and x_acc.dtype == numpy.float32
                and _direct.data_gradient_applies(W.array, gy.array)):
            inputs += (x_acc,)
            accumulated[0] = None
        grads = Convolution2DGrad(self, target_input_indexes).apply(inputs)
        return tuple(g if accumulated.get(i) is None else g + accumulated[i]
                     for i, g in zip(target_input_indexes, grads))


class Convolution2DGrad(GradientNode):
    """The gradients of :class:`Convolution2D` w.r.t. the inputs in ``indexes``; with a
    fourth input, that gradient is added to x's (see ``backward_accumulate``)."""

    def __init__(self, conv, indexes):
        self.conv = conv
        self.indexes = tuple(indexes)

    def forward(self, inputs):
        x, W, gy = inputs[:3]
        x_acc = inputs[3] if len(inputs) == 4 else None
        conv = self.conv
        n, c_in, h, w = x.shape
        c_out, _, kh, kw = W.shape
        out_h, out_w = gy.shape[2:]
        g = numpy.ascontiguousarray(L.nhwc(gy)).reshape(n * out_h * out_w, c_out)
        grads, bias_grad = [], None
        for i in self.indexes:
            if i == 0:
                grads.append(self._grad_x(g, W, x.shape, out_h, out_w, x_acc))
            elif i == 1 and conv._x_nhwc is not None:
                gy_nhwc = g.reshape(n, out_h, out_w, c_out)
                gw = _direct.backward_weights(conv._x_nhwc, gy_nhwc, W.shape, (conv.sy, conv.sx),
                                              (conv.ph, conv.pw), bias=2 in self.indexes)
                if 2 in self.indexes:
                    gw, bias_grad = gw
                grads.append(gw)
            elif i == 2 and bias_grad is not None:
                grads.append(bias_grad.astype(g.dtype))  # from the weight-gradient pass
            elif i == 1:
                patches = conv._patches
                if patches is None:
                    patches = conv._patch_matrix(x, kh, kw, out_h, out_w)
                gw = gemm_reduce(patches.T, g).reshape(kh, kw, c_in, c_out)
                grads.append(numpy.ascontiguousarray(gw.transpose(3, 2, 0, 1)))
                conv._patches = None
                conv.release_patches(patches)
            else:
                grads.append(column_sums(g))
        return tuple(grads)

    def _grad_x(self, g, W, x_shape, out_h, out_w, x_acc=None):
        conv = self.conv
        n, c_in, h, w = x_shape
        c_out, _, kh, kw = W.shape
        if _direct.data_gradient_applies(W, g):
            # The kernels: stride-1 convolutions of gy with the flipped kernel (per
            # phase), x_acc added in the same pass.
            acc = None if x_acc is None else numpy.ascontiguousarray(L.nhwc(x_acc))
            return L.to_nchw_view(_direct.data_gradient(
                g.reshape(n, out_h, out_w, c_out), W, (conv.sy, conv.sx), (conv.ph, conv.pw),
                (h, w), acc))
        assert x_acc is None, 'backward_accumulate passes x_acc only to the kernels'

        if conv.sy == conv.sx == 1 and conv.ph < kh and conv.pw < kw:
            # Stride 1: gx is gy (padded by k-1-pad) convolved with the flipped kernel.
            qh, qw = kh - 1 - conv.ph, kw - 1 - conv.pw
            if kh == kw == 1:
                gcol = g
            else:
                gy_pad = L.padded_nhwc(L.to_nchw_view(g.reshape(n, out_h, out_w, c_out)),
                                       (qh, qw), (qh, qw))
                gcol = L.patch_matrix(gy_pad, kh, kw, 1, 1, h, w)
            w_flip = W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(kh * kw * c_out, c_in)
            gx = gemm(gcol, w_flip).reshape(n, h, w, c_in)
            if gcol is not g:
                _workspace.give(gcol)
            return L.to_nchw_view(gx)
        # Strided: col2im by scattered adds over the kh*kw kernel offsets.
        gcol = _workspace.take((g.shape[0], kh * kw * c_in), g.dtype)
        gemm(g, weight_matrix(W).T, out=gcol)
        gcol6 = gcol.reshape(n, out_h, out_w, kh, kw, c_in)
        gx_pad = _workspace.take((n, h + 2 * conv.ph, w + 2 * conv.pw, c_in), g.dtype)
        gx_pad.fill(0)
        for i in range(kh):
            for j in range(kw):
                L.window(gx_pad, i, j, out_h, out_w, conv.sy, conv.sx)[...] += gcol6[:, :, :, i, j]
        gx = numpy.ascontiguousarray(gx_pad[:, conv.ph:conv.ph + h, conv.pw:conv.pw + w])
        _workspace.give(gcol)
        _workspace.give(gx_pad)
        return L.to_nchw_view(gx)


#: Fewest rows per thread for which :func:`gemm` splits a product over the threads.
MIN_ROWS_PER_THREAD = 256


def gemm(a, b, out=None):
    """``a @ b`` through BLAS (a named function so profiles show GEMM time apart).

    With BLAS single-threaded (:func:`._process.single_threaded_blas`) the
    rows of ``a`` -- or, for a short ``a`` (a fully connected layer's batch),
    the columns of ``b`` -- are split over the kernel threads, one BLAS call
    each, in one equal piece per thread (a smaller GEMM packs its operands again
    and runs slower).
    """
    rows = a.shape[0] if a.ndim == 2 else 0
    cols = b.shape[1] if b.ndim == 2 else 0
    if (max(rows, cols) < 2 * MIN_ROWS_PER_THREAD or rows == 0
            or not _process.single_threaded_blas()):
        return numpy.matmul(a, b, out=out)
    if out is None:
        out = numpy.empty((rows, cols), numpy.result_type(a, b))
    def gemm_rows(lo, hi):
        numpy.matmul(a[lo:hi], b, out=out[lo:hi])

    def gemm_columns(lo, hi):
        numpy.matmul(a, b[:, lo:hi], out=out[:, lo:hi])
    if rows >= cols or rows >= 2 * MIN_ROWS_PER_THREAD:
        _native.split_batch(rows, gemm_rows, _native.threads())
    else:
        _native.split_batch(cols, gemm_columns, _native.threads())
    return out


def gemm_reduce(a, b):
    """``a @ b`` for a long inner dimension (gradients summed over every pixel).

    Split like :func:`gemm` but along the inner dimension, the threads'
    partial products added up; ``a`` may be a vector.
    """
    inner = b.shape[0]
    if inner < 2 * MIN_ROWS_PER_THREAD or not _process.single_threaded_blas():
        return numpy.matmul(a, b)

    def gemm_partial(lo, hi):
        return numpy.matmul(a[..., lo:hi], b[lo:hi])
    parts = _native.split_batch(inner, gemm_partial, _native.threads())
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


def column_sums(g):
    """``g.sum(axis=0)`` of a 2-D gradient (a bias gradient) as ``ones @ g``: BLAS
    gemv split like :func:`gemm_reduce` beats NumPy's short strided loops."""
    return gemm_reduce(numpy.ones(g.shape[0], g.dtype), g)


def weight_matrix(W):
    """(Cout, Cin, kh, kw) -> (kh*kw*Cin, Cout), the GEMM operand matching the patches."""
    c_out, c_in, kh, kw = W.shape
    return W.transpose(2, 3, 1, 0).reshape(kh * kw * c_in, c_out)


def convolution_2d(x, W, b=None, stride=1, pad=0):
    """Same as ``chainer.functions.convolution_2d`` (no dilation/groups), on NumPy arrays."""
    x_shape, w_shape = _shape(x), _shape(W)
    if len(x_shape) != 4 or len(w_shape) != 4 or x_shape[1] != w_shape[1]:
        raise ValueError('fastcpu.convolution_2d: expected x (N, C, H, W) and W (Cout, C, kh, kw); '
                         'got x {} and W {}'.format(x_shape, w_shape))
    inputs = (x, W) if b is None else (x, W, b)
    if len({a.dtype for a in inputs}) > 1:
        # Mixed dtypes: Chainer's function decides (its type check names the
        # mismatch); the NumPy products here would silently promote.
        return chainer.functions.convolution_2d(x, W, b, stride=stride, pad=pad)
    y, = Convolution2D(stride, pad).apply(inputs)
    return y


def _shape(a):
    return tuple(a.shape)
