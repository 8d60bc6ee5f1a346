"""Timing pieces of ``bench/run_bench.py``: training/evaluation steps and augmentation.

Every variant is a ``step(seed)`` doing one full training iteration (forward,
loss, backward, optimizer update) -- or, built with ``train=False``, one
inference pass -- on a fixed synthetic batch.  :func:`time_round_robin` warms
each one up, then times one step of every variant per round, rotating the
order each round, so a burst of load from other processes on a shared machine
hits all variants alike.

``seed``: every step first seeds NumPy's global RNG (CuPy's on a GPU) with the
round's seed.  Stochastic depth draws its skip decisions from that RNG (one
draw per block, the PyTorch twin included), so in round r every variant skips
the same blocks and does the same work; dropout masks repeat likewise.
"""
import contextlib
import statistics
import time

import numpy

import chainer_compare.compat  # noqa: F401  (before chainer)
import chainer
import chainer.functions as F

from chainer_compare.fastcpu import _process
from chainer_compare.models import create_model

#: One optimizer for every framework (its cost is small next to the network's).
LEARNING_RATE, MOMENTUM = 0.01, 0.9
#: Seeds of the warm-up steps, apart from the timed rounds' 0, 1, 2, ...
WARMUP_SEED = 10000
#: Untimed pause after a step that ran multi-threaded OpenBLAS (its worker
#: threads spin for 2^28 cycles, about 0.1 s, before they sleep).
BLAS_SPIN_S = 0.25


def synthetic_batch(batch, in_channels=3, image_size=32, n_classes=10, seed=0):
    rng = numpy.random.RandomState(seed)
    x = rng.standard_normal((batch, in_channels, image_size, image_size)).astype(numpy.float32)
    t = rng.randint(0, n_classes, size=batch).astype(numpy.int32)
    return x, t


def chainer_step(model_name, options, x, t, fast_cpu=True, train=True, gpu=-1):
    """One Chainer step of ``create_model(model_name, **options)``.

    ``fast_cpu``: the project's fast CPU path on (a) or off (b, stock Chainer).
    ``train=False``: inference as the Evaluator runs it (test mode, no graph).
    ``gpu`` >= 0: on that GPU (CuPy), synchronized so it can be timed.
    """
    numpy.random.seed(0)
    model = create_model(model_name, in_channels=x.shape[1], image_size=x.shape[2],
                         n_classes=10, **options)
    xp, sync = numpy, lambda: None  # noqa: E731
    if gpu >= 0:
        import cupy
        device = chainer.get_device('@cupy:{}'.format(gpu))
        device.use()
        model.to_device(device)
        xp, sync = cupy, cupy.cuda.Device(gpu).synchronize
        x, t = cupy.asarray(x), cupy.asarray(t)
    optimizer = chainer.optimizers.MomentumSGD(LEARNING_RATE, MOMENTUM)
    optimizer.setup(model)

    # Stock Chainer as it runs in its own process: BLAS on all its threads (the fast
    # path runs BLAS single-threaded in its own pool; see fastcpu/_process.py).
    blas = contextlib.nullcontext if fast_cpu or gpu >= 0 else _process.blas_threads_restored

    def train_step(seed):
        xp.random.seed(seed)
        with chainer.using_config('train', True), chainer.using_config('fast_cpu', fast_cpu), \
                blas():
            model.cleargrads()
            loss = F.softmax_cross_entropy(model(x), t)
            loss.backward()
            optimizer.update()
        sync()

    def eval_step(seed):
        xp.random.seed(seed)
        with chainer.using_config('train', False), chainer.no_backprop_mode(), \
                chainer.using_config('fast_cpu', fast_cpu), blas():
            model(x)
        sync()
    step = train_step if train else eval_step
    step.n_params = sum(p.size for p in model.params())
    # OpenBLAS's threads spin for ~0.1 s after a multi-threaded call: let them
    # sleep before the next variant is timed, or they take its second core.
    step.cooldown_s = 0 if blas is contextlib.nullcontext else BLAS_SPIN_S
    return step


def torch_step(model_name, options, x, t, train=True, gpu=-1):
    """One PyTorch step of the twin architecture (bench/torch_models.py), CPU or CUDA."""
    import torch
    from torch_models import create_torch_model

    torch.manual_seed(0)
    dev = torch.device('cuda', gpu) if gpu >= 0 else torch.device('cpu')
    sync = (lambda: torch.cuda.synchronize(dev)) if gpu >= 0 else (lambda: None)
    model = create_torch_model(model_name, x.shape[1], x.shape[2], 10, **options).to(dev)
    model.train(train)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    tx = torch.from_numpy(x).to(dev)
    tt = torch.from_numpy(t.astype(numpy.int64)).to(dev)

    def train_step(seed):
        numpy.random.seed(seed)  # the twin's stochastic depth draws from NumPy, as Chainer's
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(tx), tt)
        loss.backward()
        optimizer.step()
        sync()

    def eval_step(seed):
        numpy.random.seed(seed)
        with torch.no_grad():
            model(tx)
        sync()
    step = train_step if train else eval_step
    step.n_params = sum(p.numel() for p in model.parameters())
    return step


def time_round_robin(steps, warmup, reps):
    """{variant: [wall seconds per step]} for ``reps`` rounds after ``warmup`` steps each.

    Round r calls every step with seed r; a step's ``cooldown_s`` is slept
    (untimed) after it.  Also returns {variant: [CPU seconds
    per step]} (process time: below 2 x wall on 2 cores means other processes
    took the CPU).
    """
    names = list(steps)
    for name in names:
        for index in range(warmup):
            steps[name](WARMUP_SEED + index)
        time.sleep(getattr(steps[name], 'cooldown_s', 0))
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for round_index in range(reps):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            w0, c0 = time.perf_counter(), time.process_time()
            steps[name](round_index)
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
            time.sleep(getattr(steps[name], 'cooldown_s', 0))
    return wall, cpu


def summarize(batch, wall, cpu, mean=False):
    """images/s from the median step (plus best and worst) and the CPU share.

    ``mean``: images/s from the mean step instead, for steps whose work varies
    (stochastic depth): every variant ran the same seeds, so the mean is the
    throughput on identical work, where a median would pick one draw.
    """
    typical = statistics.mean(wall) if mean else statistics.median(wall)
    return {
        'images_per_s': batch / typical,
        'best_images_per_s': batch / min(wall),
        'worst_images_per_s': batch / max(wall),
        'median_step_s': statistics.median(wall),
        'cpu_per_wall': statistics.median(c / w for c, w in zip(cpu, wall)),
        'reps': len(wall),
    }


def augmentation_throughput(spec, batch, reps, seed=0, gpu=-1):
    """images/s of ``augment.build_augmentation(spec)`` on a (batch, 3, 32, 32) float32 batch.

    With ``gpu`` >= 0 the batch is a CuPy array on that GPU (synchronized per call).
    """
    from chainer_compare.training import augment

    transform = augment.build_augmentation(spec)
    x, _ = synthetic_batch(batch)
    sync = lambda: None  # noqa: E731
    if gpu >= 0:
        import cupy
        x = cupy.asarray(x)
        sync = cupy.cuda.Device(gpu).synchronize
    rng = numpy.random.RandomState(seed)
    transform(x, rng)
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        transform(x, rng)
        sync()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)
