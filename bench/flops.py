"""Analytic FLOPs per image of any registered Chainer model, and the machine's GEMM peak.

Counted: 2 x the multiply-adds of every ``L.Convolution2D`` and ``L.Linear``
(the project's ``ops.Convolution2D`` is one) in the forward pass; element-wise
work (BN, ReLU, pooling, softmax, the optimizer) is ignored: it is a few
percent of the convolutions' and not what a GEMM peak measures.

* forward (= evaluation) F: sum over layers, read off a real test-mode forward
  pass of one image through a :class:`chainer.LinkHook`, so output sizes come
  from the model itself and every registered model can be counted;
* training = forward + backward = 3 F - F_first: the backward pass computes,
  per layer, the weight gradient and the input gradient (each as many
  multiply-adds as the forward), except the first layer's input gradient (the
  data needs none, and Chainer does not compute it);
* stochastic depth: a link inside a block with a ``skip_ratio`` attribute (seed
  004's ``ResidualBlock``) runs in a training step with probability
  ``1 - skip_ratio``; training FLOPs are the expectation.  Evaluation runs
  every block.
"""
import time

import numpy

import chainer_compare.compat  # noqa: F401  (before chainer)
import chainer
import chainer.links as L

from chainer_compare.fastcpu import _process

GEMM_SIZES = (1024, 2048, 3072)


class _LayerRecorder(chainer.LinkHook):
    """Records (link, forward FLOPs per image) of each Convolution2D/Linear call, in order."""

    name = 'LayerRecorder'

    def __init__(self):
        self.layers = []

    def forward_postprocess(self, args):
        link = args.link
        if not isinstance(link, (L.Convolution2D, L.Linear)):
            return
        # Each output element takes one multiply-add per weight of its output
        # channel/unit: W is (out, in, kh, kw) or (out, in).
        W = link.W.array
        per_output = W.size // W.shape[0]
        outputs_per_image = int(numpy.prod(args.out.shape[1:]))
        self.layers.append((link, 2 * outputs_per_image * per_output))


def _record(model, in_shape, train, batch=1):
    x = numpy.zeros((batch,) + tuple(in_shape), numpy.float32)
    recorder = _LayerRecorder()
    # The fast CPU path folds evaluation-mode BN into the convolution and calls
    # no link for it; counted with Chainer's functions, every layer is seen.
    with chainer.using_config('train', train), chainer.using_config('fast_cpu', False), \
            chainer.no_backprop_mode(), recorder:
        model(x)
    return recorder.layers


def layer_flops(model, in_shape):
    """[(link path, forward FLOPs per image)] in execution order, test mode.

    ``in_shape``: one image's (channels, height, width).
    """
    paths = {id(link): path for path, link in model.namedlinks()}
    return [(paths[id(link)], flops) for link, flops in _record(model, in_shape, False)]


def realized_train_flops(model, in_shape, seed):
    """Training FLOPs/image of the step that bench/speed.py seeds with ``seed``.

    Replays its stochastic-depth draws: NumPy seeded alike, a training-mode
    forward of two images (BN needs more than one).  Exact for models whose
    only global-RNG draws are per block (``residual`` without swapout);
    per-element dropout would consume a batch-dependent number of draws.
    """
    numpy.random.seed(seed)
    layers = _record(model, in_shape, True, batch=2)
    return 3 * sum(flops for _, flops in layers) - layers[0][1]


def keep_probability(model, path):
    """Probability that the link at ``path`` runs in a training step.

    The product of ``1 - skip_ratio`` over the link and its ancestors that have
    a ``skip_ratio`` (stochastic depth skips a whole block, so its links).
    """
    links = dict(model.namedlinks())
    parts = path.strip('/').split('/')
    keep = 1.0
    for depth in range(len(parts) + 1):
        ancestor = links.get('/' + '/'.join(parts[:depth]) if depth else '/')
        keep *= 1.0 - float(getattr(ancestor, 'skip_ratio', 0.0) or 0.0)
    return keep


def model_flops(model, in_shape):
    """{'eval': forward FLOPs/image, 'train': expected training-step FLOPs/image}."""
    layers = layer_flops(model, in_shape)
    if not layers:
        raise ValueError('{} has no Convolution2D/Linear to count'.format(type(model).__name__))
    expected = sum(keep_probability(model, path) * flops for path, flops in layers)
    first_path, first_flops = layers[0]
    first = keep_probability(model, first_path) * first_flops
    return {'eval': sum(flops for _, flops in layers), 'train': 3 * expected - first}


def gemm_gflops(n, reps=3, seed=0):
    """Best GFLOP/s of ``numpy.matmul`` on two n x n float32 matrices (2 n^3 FLOPs each).

    Best, not median: a peak is the point, and other processes on a shared
    machine only ever slow a multiply down.
    """
    rng = numpy.random.RandomState(seed)
    a = rng.standard_normal((n, n)).astype(numpy.float32)
    b = rng.standard_normal((n, n)).astype(numpy.float32)
    out = numpy.empty((n, n), numpy.float32)
    # BLAS on all its threads (the fast path runs it single-threaded in this process).
    with _process.blas_threads_restored():
        numpy.matmul(a, b, out=out)  # warm-up: BLAS threads, page faults
        best = float('inf')
        for _ in range(reps):
            start = time.perf_counter()
            numpy.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9
