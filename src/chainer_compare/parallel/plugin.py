"""The trainer's distribution interface implemented with ChainerMN.

``training.distribution.SingleProcess`` lists what the trainer asks of a
distribution; :class:`MultiRank` answers each question with the helpers of
this package (communicator, data shares, multi-node optimizer and evaluator,
BN averaging, agreed stops, the one-file snapshot).  ``src/train.py`` creates
it for ``--communicator``; the trainer itself never imports this package.
"""
from chainer_compare.parallel import agreement, comm as comm_module, distribute, snapshot
from chainer_compare.training.distribution import SingleProcess
from chainer_compare.training.extensions import SNAPSHOT


class MultiRank(SingleProcess):
    """One rank of an ``mpiexec -n N`` run over the ChainerMN communicator ``comm``."""

    def __init__(self, comm):
        self.comm = comm
        self.size, self.rank = comm.size, comm.rank
        self.is_root = comm.rank == 0

    @classmethod
    def create(cls, name, gpu=-1):
        """For ``--communicator name -g gpu``; UserError for a bad combination."""
        return cls(comm_module.create_communicator(name, gpu))

    def guard(self):
        return comm_module.abort_on_error(self.comm)

    def describe(self):
        return comm_module.describe(self.comm)

    def select_gpu(self, gpu):
        return comm_module.select_device(self.comm, gpu)

    def broadcast(self, value):
        return comm_module.broadcast(self.comm, value)

    def rank_seed(self, seed):
        return comm_module.rank_seed(seed, self.comm)

    def scatter(self, dataset, shuffle=False, seed=0, equal_length=True):
        return distribute.scatter(dataset, self.comm, shuffle=shuffle, seed=seed,
                                  equal_length=equal_length)

    def wrap_optimizer(self, optimizer):
        return distribute.multi_node_optimizer(optimizer, self.comm)

    def start_from_same_weights(self, optimizer, model):
        distribute.start_from_same_weights(optimizer, model, self.comm)

    def wrap_evaluator(self, evaluator):
        return distribute.multi_node_evaluator(evaluator, self.comm)

    def updater_class(self):
        return agreement.updater_class(self.comm)

    def interrupt_guard(self):
        return agreement.interrupt_guard(self.comm)

    def snapshot_extension(self):
        return snapshot.MultiRankSnapshot(self.comm, filename=SNAPSHOT)

    def epoch_extensions(self, target):
        bn = distribute.average_bn_statistics(target, self.comm)
        return [bn] if bn is not None else []

    def observation_extensions(self):
        return distribute.aggregate_observations(self.comm)

    def load_snapshot(self, trainer, path):
        snapshot.load_snapshot(trainer, path, self.comm)
