"""A tiny data-parallel training run for tests/test_parallel.py (not a test itself).

It drives a Chainer Trainer through the same chainer_compare.parallel calls
as the trainer (training/build.py) on synthetic data with a small
MLP (optionally with batch normalization), so the ChainerMN wiring is tested
in a few seconds:  mpiexec -n 2 python tests/mpi_driver.py --communicator naive --out DIR
With CHAINER_COMPARE_TEST_DUMP_DIR=DIR every rank saves its final weights as
DIR/rank<r>.npz (test-only; the run directory is written by rank 0 alone).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'src'))

import chainer_compare.compat  # noqa: E402,F401  (before chainer)
import chainer  # noqa: E402
import chainer.functions as F  # noqa: E402
import chainer.links as L  # noqa: E402
import numpy  # noqa: E402
from chainer.training import extensions  # noqa: E402

from chainer_compare.errors import run_cli  # noqa: E402
from chainer_compare import parallel  # noqa: E402
import fault_hooks  # noqa: E402  (tests/: crash and weight-dump hooks)


class TinyNet(chainer.Chain):
    def __init__(self, bn=False, n_in=6, n_hidden=16, n_out=3):
        super().__init__()
        with self.init_scope():
            self.l1 = L.Linear(n_in, n_hidden)
            self.bn = L.BatchNormalization(n_hidden) if bn else None
            self.l2 = L.Linear(n_hidden, n_out)

    def forward(self, x):
        h = self.l1(x)
        if self.bn is not None:
            h = self.bn(h)
        return self.l2(F.relu(h))


def synthetic(n, seed=0, as_ranks=1, batch_size=None):
    """``n`` examples of 6 features, 3 classes.

    ``as_ranks=R`` reorders them so that one process with batch ``batch_size``
    sees in each batch exactly the examples that R ranks with batch
    ``batch_size // R`` see together (rank r holds the r-th contiguous block
    of the unshuffled data); the equivalence test compares the two.
    """
    rng = numpy.random.RandomState(seed)
    x = rng.randn(n, 6).astype(numpy.float32)
    t = (x @ rng.randn(6, 3)).argmax(axis=1).astype(numpy.int32)
    if as_ranks > 1:
        per_rank = batch_size // as_ranks
        order = numpy.arange(n).reshape(as_ranks, -1, per_rank).transpose(1, 0, 2).ravel()
        x, t = x[order], t[order]
    return chainer.datasets.TupleDataset(x, t)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--communicator', default=None,
                   help='ChainerMN communicator; absent: one process')
    p.add_argument('--batch_size', type=int, default=8, help='per-rank minibatch size')
    p.add_argument('--epochs', type=int, default=2, help='training epochs')
    p.add_argument('--n', type=int, default=64, help='training examples')
    p.add_argument('--lr', type=float, default=0.1, help='SGD learning rate')
    p.add_argument('--bn', action='store_true', help='add a batch-normalization layer')
    p.add_argument('--no_shuffle', action='store_true', help='fixed data order (equivalence test)')
    p.add_argument('--as_ranks', type=int, default=1,
                   help='one process: order the data as this many ranks would see it')
    p.add_argument('--seed', type=int, default=3, help='random seed')
    p.add_argument('--out', required=True, help='run directory (rank 0 writes it)')
    p.add_argument('--resume', action='store_true', help='continue from OUT/snapshot')
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    comm = parallel.create_communicator(args.communicator) if args.communicator else None
    with parallel.abort_on_error(comm):
        train(args, comm)


def train(args, comm):
    root = parallel.is_root(comm)
    if root:  # as the trainer does: rank 0 creates the run directory, then all go on
        os.makedirs(args.out, exist_ok=True)
    parallel.broadcast(comm, args.out)
    numpy.random.seed(args.seed)  # weights: rank 0's are broadcast anyway
    train_data = parallel.scatter(synthetic(args.n, 0, args.as_ranks, args.batch_size), comm,
                                  shuffle=not args.no_shuffle)
    test_data = parallel.scatter(synthetic(32, seed=1), comm, equal_length=False)
    numpy.random.seed(parallel.rank_seed(args.seed, comm) if comm else args.seed)
    model = L.Classifier(TinyNet(bn=args.bn))
    optimizer = chainer.optimizers.SGD(lr=args.lr)
    if comm is not None:
        optimizer = parallel.multi_node_optimizer(optimizer, comm)
    optimizer.setup(model)
    parallel.start_from_same_weights(optimizer, model, comm)
    train_iter = chainer.iterators.SerialIterator(train_data, args.batch_size,
                                                  shuffle=not args.no_shuffle)
    test_iter = chainer.iterators.SerialIterator(test_data, 8, repeat=False, shuffle=False)
    updater = chainer.training.StandardUpdater(train_iter, optimizer)
    trainer = chainer.training.Trainer(updater, (args.epochs, 'epoch'), out=args.out)
    bn = parallel.average_bn_statistics(model, comm)
    if bn is not None:
        trainer.extend(bn, trigger=(1, 'epoch'))
    evaluator = extensions.Evaluator(test_iter, model)
    trainer.extend(parallel.multi_node_evaluator(evaluator, comm) if comm else evaluator)
    for extension, name in parallel.aggregate_observations(
            comm, mean_keys=('main/loss', 'main/accuracy'), sum_keys=()):
        trainer.extend(extension, name=name)
    for hook in fault_hooks.hooks(comm, model):
        trainer.extend(hook, trigger=(1, 'iteration'))
    if comm is not None:
        trainer.extend(parallel.MultiRankSnapshot(comm), trigger=(1, 'epoch'))
    else:
        trainer.extend(extensions.snapshot(filename='snapshot'), trigger=(1, 'epoch'))
    if root:
        trainer.extend(extensions.LogReport())
    if args.resume:
        parallel.load_snapshot(trainer, os.path.join(args.out, 'snapshot'), comm)
    trainer.run()


if __name__ == '__main__':
    run_cli(main)
