"""The convolution and pooling entry points every model uses.

Models call these instead of ``chainer.functions`` directly so that training on
CPU can switch to the fast NumPy path in :mod:`chainer_compare.fastcpu`
(``chainer.config.fast_cpu``, on by default; ``train.py --no_fast_cpu`` turns
it off).  On GPU, or with the switch off, they are exactly Chainer's functions.
"""
import chainer
import chainer.functions as F
import chainer.links as L
import numpy

# Default for the switch; ``chainer.using_config('fast_cpu', False)`` overrides.
chainer.global_config.fast_cpu = True


def _fast_backend():
    """The fastcpu module when it applies to this call, else None."""
    if not getattr(chainer.config, 'fast_cpu', False):
        return None
    try:
        from chainer_compare import fastcpu
    except ImportError:
        return None
    return fastcpu if getattr(fastcpu, 'AVAILABLE', False) else None


def _on_cpu(x):
    arr = x.array if isinstance(x, chainer.Variable) else x
    return isinstance(arr, numpy.ndarray)


def convolution_2d(x, W, b=None, stride=1, pad=0):
    fast = _fast_backend() if _on_cpu(x) else None
    if fast is not None:
        return fast.convolution_2d(x, W, b, stride=stride, pad=pad)
    return F.convolution_2d(x, W, b, stride=stride, pad=pad)


def max_pooling_2d(x, ksize, stride=None, pad=0, cover_all=True):
    fast = _fast_backend() if _on_cpu(x) else None
    if fast is not None:
        return fast.max_pooling_2d(x, ksize, stride, pad, cover_all=cover_all)
    return F.max_pooling_2d(x, ksize, stride, pad, cover_all=cover_all)


def relu(x):
    """``F.relu(x)``; one threaded pass on the fast CPU path."""
    fast = _fast_backend() if _on_cpu(x) else None
    return fast.relu(x) if fast is not None else F.relu(x)


def add_relu(a, b):
    """``F.relu(a + b)``; one fused pass on the fast CPU path."""
    fast = _fast_backend() if _on_cpu(a) and _on_cpu(b) else None
    if fast is not None:
        return fast.add_relu(a, b)
    return F.relu(a + b)


def average_pooling_2d(x, ksize, stride=None, pad=0):
    fast = _fast_backend() if _on_cpu(x) else None
    if fast is not None:
        return fast.average_pooling_2d(x, ksize, stride, pad)
    return F.average_pooling_2d(x, ksize, stride, pad)


def zero_pad_subsample(x, out_channels, stride):
    """Zero channels prepended up to ``out_channels``, then every ``stride``-th pixel
    (seed 004's parameter-free shortcut); one copy each way on the fast CPU path."""
    fast = _fast_backend() if _on_cpu(x) else None
    if fast is not None:
        return fast.zero_pad_subsample(x, out_channels, stride)
    n, channels, height, width = x.shape
    if out_channels > channels:
        xp = chainer.backend.get_array_module(x)
        zeros = xp.zeros((n, out_channels - channels, height, width), x.dtype)
        x = F.concat((zeros, x), axis=1)
    if stride != 1:
        x = F.average_pooling_2d(x, 1, stride)
    return x


class Convolution2D(L.Convolution2D):
    """``L.Convolution2D`` whose forward goes through :func:`convolution_2d`.

    Parameters and serialization are Chainer's, so snapshots are
    interchangeable with stock links.  Only groups=1, dilate=1 (what the
    registered models use): the fast path implements neither, so any other
    value is refused here, on every device, instead of being ignored.
    """

    def __init__(self, *args, **kwargs):
        for option in ('dilate', 'groups'):
            if kwargs.get(option, 1) not in (1, (1, 1)):
                raise ValueError('ops.Convolution2D does not support {}={!r} (only 1); use '
                                 'chainer.links.Convolution2D'.format(option, kwargs[option]))
        super().__init__(*args, **kwargs)

    def forward(self, x):
        if self.W.array is None:
            self._initialize_params(x.shape[1])
        return convolution_2d(x, self.W, self.b, stride=self.stride, pad=self.pad)


class Linear(L.Linear):
    """``L.Linear`` whose products run on every core on the fast CPU path.

    Parameters and serialization are Chainer's (snapshots are
    interchangeable); GPU arrays, ``n_batch_axes`` other than 1 and the
    switch off are exactly Chainer's.
    """

    def forward(self, x, n_batch_axes=1):
        fast = _fast_backend() if _on_cpu(x) and n_batch_axes == 1 else None
        if fast is None:
            return super().forward(x, n_batch_axes=n_batch_axes)
        if self.W.array is None:
            self._initialize_params(x.size // x.shape[0])
        if x.ndim > 2:
            x = F.reshape(x, (x.shape[0], -1))
        return fast.linear(x, self.W, self.b)


class BatchNormalization(L.BatchNormalization):
    """``L.BatchNormalization`` whose training step may take the fast CPU path.

    In training mode (not fine-tuning, not recomputing) a NumPy input goes
    to :func:`chainer_compare.fastcpu.batch_normalization`, which falls back
    to Chainer itself unless the input is contiguous channels-last or NCHW
    memory; evaluation under ``no_backprop_mode`` (what the Evaluator does)
    to :func:`chainer_compare.fastcpu.fixed_batch_normalization`.  Evaluation
    with backprop, GPU arrays and the switch off are exactly Chainer's.
    Parameters, running statistics and serialization are the parent's, so
    snapshots are interchangeable.
    """

    def forward(self, x, **kwargs):
        fast = self._fast(x) if not kwargs else None
        if fast is None:
            return super().forward(x, **kwargs)
        return self._fast_forward(fast, x, relu=False)

    def forward_relu(self, x):
        """``F.relu(self(x))``, fused into one node on the fast path."""
        fast = self._fast(x)
        if fast is None:
            return F.relu(self(x))
        return self._fast_forward(fast, x, relu=True)

    def _fast(self, x):
        """The fast backend for training, or for inference (evaluation without backprop)."""
        if not (chainer.config.train or not chainer.config.enable_backprop):
            return None
        return (_fast_backend() if not chainer.config.in_recomputing
                and self.avg_mean is not None and self.gamma is not None
                and self.beta is not None and self.axis is None and _on_cpu(x) else None)

    def _fast_forward(self, fast, x, relu):
        if not chainer.config.train:
            return fast.fixed_batch_normalization(x, self.gamma, self.beta, self.avg_mean,
                                                  self.avg_var, eps=self.eps, relu=relu)
        return fast.batch_normalization(x, self.gamma, self.beta, eps=self.eps,
                                        running_mean=self.avg_mean,
                                        running_var=self.avg_var, decay=self.decay, relu=relu)


def batch_normalization_relu(bn, x):
    """``F.relu(bn(x))`` for any BatchNormalization link; fused when ``bn`` is ours."""
    if isinstance(bn, BatchNormalization):
        return bn.forward_relu(x)
    return F.relu(bn(x))


def convolution_batch_normalization(conv, bn, x, relu=False):
    """``bn(conv(x))``, then ReLU with ``relu``.

    Evaluated without backprop (the Evaluator) on the fast CPU path, this is
    one convolution with the normalization folded into its weights and bias
    and the ReLU applied as it stores its output (fastcpu.convolution_inference):
    no normalization pass over the activations.  Otherwise the two links.
    """
    fast = _fast_backend() if _on_cpu(x) else None
    if (fast is not None and not chainer.config.train and isinstance(conv, Convolution2D)
            and isinstance(bn, BatchNormalization) and conv.W.array is not None
            and bn._fast(x) is not None):
        y = fast.convolution_inference(x, conv.W, conv.b, bn.gamma, bn.beta, bn.avg_mean,
                                       bn.avg_var, bn.eps, conv.stride, conv.pad, relu)
        if y is not None:
            return y
    h = conv(x)
    return batch_normalization_relu(bn, h) if relu else bn(h)
