"""Timing pieces of ``bench/run_bench.py``: training steps and augmentation throughput.

Every variant is a zero-argument ``step()`` doing one full training iteration
(forward, loss, backward, optimizer update) on a fixed synthetic batch.
:func:`time_round_robin` warms each one up, then times one step of every
variant per round, rotating the order each round, so a burst of load from
other processes on a shared machine hits all variants alike.
"""
import statistics
import time

import numpy

import chainer_compare.compat  # noqa: F401  (before chainer)
import chainer
import chainer.functions as F

from chainer_compare.models import create_model

#: One optimizer for every framework (its cost is small next to the network's).
LEARNING_RATE, MOMENTUM = 0.01, 0.9


def synthetic_batch(batch, in_channels=3, image_size=32, n_classes=10, seed=0):
    rng = numpy.random.RandomState(seed)
    x = rng.standard_normal((batch, in_channels, image_size, image_size)).astype(numpy.float32)
    t = rng.randint(0, n_classes, size=batch).astype(numpy.int32)
    return x, t


def chainer_step(name, x, t, fast_cpu, res_depth):
    """One Chainer training step of model ``name`` with the fast CPU path on or off."""
    numpy.random.seed(0)
    model = create_model(name, in_channels=x.shape[1], image_size=x.shape[2],
                         n_classes=10, res_depth=res_depth)
    optimizer = chainer.optimizers.MomentumSGD(LEARNING_RATE, MOMENTUM)
    optimizer.setup(model)

    def step():
        with chainer.using_config('train', True), chainer.using_config('fast_cpu', fast_cpu):
            model.cleargrads()
            loss = F.softmax_cross_entropy(model(x), t)
            loss.backward()
            optimizer.update()
    step.n_params = sum(p.size for p in model.params())
    return step


def torch_step(name, x, t, res_depth):
    """One PyTorch training step of the twin architecture (bench/torch_models.py)."""
    import torch
    from torch_models import create_torch_model

    torch.manual_seed(0)
    model = create_torch_model(name, x.shape[1], x.shape[2], 10, res_depth).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    tx, tt = torch.from_numpy(x), torch.from_numpy(t.astype(numpy.int64))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(tx), tt)
        loss.backward()
        optimizer.step()
    step.n_params = sum(p.numel() for p in model.parameters())
    return step


def chainer_gpu_step(name, x, t, res_depth, gpu):
    """One Chainer training step on GPU ``gpu`` (CuPy), synchronized so it can be timed."""
    import cupy

    numpy.random.seed(0)
    device = chainer.get_device('@cupy:{}'.format(gpu))
    device.use()
    model = create_model(name, in_channels=x.shape[1], image_size=x.shape[2],
                         n_classes=10, res_depth=res_depth)
    model.to_device(device)
    optimizer = chainer.optimizers.MomentumSGD(LEARNING_RATE, MOMENTUM)
    optimizer.setup(model)
    gx, gt = cupy.asarray(x), cupy.asarray(t)

    def step():
        with chainer.using_config('train', True):
            model.cleargrads()
            loss = F.softmax_cross_entropy(model(gx), gt)
            loss.backward()
            optimizer.update()
        cupy.cuda.Device(gpu).synchronize()
    step.n_params = sum(p.size for p in model.params())
    return step


def torch_cuda_step(name, x, t, res_depth, gpu):
    """One PyTorch CUDA training step of the twin architecture, synchronized."""
    import torch
    from torch_models import create_torch_model

    torch.manual_seed(0)
    dev = torch.device('cuda', gpu)
    model = create_torch_model(name, x.shape[1], x.shape[2], 10, res_depth).train().to(dev)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    tx = torch.from_numpy(x).to(dev)
    tt = torch.from_numpy(t.astype(numpy.int64)).to(dev)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(tx), tt)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize(dev)
    step.n_params = sum(p.numel() for p in model.parameters())
    return step


def time_round_robin(steps, warmup, reps):
    """{variant: [wall seconds per step]} for ``reps`` rounds after ``warmup`` steps each.

    Also returns {variant: [CPU seconds per step]} (process time: below
    2 x wall on 2 cores means other processes took the CPU).
    """
    names = list(steps)
    for name in names:
        for _ in range(warmup):
            steps[name]()
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for round_index in range(reps):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            w0, c0 = time.perf_counter(), time.process_time()
            steps[name]()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return wall, cpu


def summarize(batch, wall, cpu):
    """images/s from the median step (plus best and worst) and the CPU share."""
    median = statistics.median(wall)
    return {
        'images_per_s': batch / median,
        'best_images_per_s': batch / min(wall),
        'worst_images_per_s': batch / max(wall),
        'median_step_s': median,
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
