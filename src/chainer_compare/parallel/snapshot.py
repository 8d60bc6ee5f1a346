"""One snapshot file for a multi-rank run, written by rank 0 only.

The model and optimizer state are the same on every rank (the multi-node
optimizer keeps them so) and rank 0 alone holds the logs, but each rank
iterates over its own share of the data with its own shuffled order and its
own random generators (augmentation, dropout).  So the file is a normal
Chainer trainer snapshot of rank 0 (read with ``npzfile``, never with a
pickle) plus, under ``ranks/<r>/``, every other rank's own trainer state
(iterator positions and orders, random states, counters, and its model's
persistent values: the batch-normalization running statistics, which each
rank updates from its own batches until the epoch-end average), gathered to
rank 0.

On resume rank 0 reads the file and broadcasts it; every rank loads the
common state and then its own ``ranks/<r>/`` part, so rank r continues
exactly where rank r stopped.  ChainerMN's ``create_multi_node_checkpointer``
would instead make every rank write its own files, which this project avoids
(only rank 0 writes).
"""
import chainer
import numpy
from chainer.serializers import DictionarySerializer

from chainer_compare import safeio
from chainer_compare.errors import UserError
from chainer_compare.npzfile import load_into, read_npz, write_npz

RANKS_KEY = 'ranks/world_size'


# The optimizer state is identical on every rank (it only ever sees the
# averaged gradients), and so are the model's parameters: stored once.
_SHARED_PREFIX = 'updater/optimizer:'
_MODEL_PREFIX = 'updater/model:'


def _rank_state(trainer):
    """This rank's own trainer state: iterators, RNGs, counters, and the model's
    persistent values (BN running statistics: each rank's own between the
    epoch-end averages), without the shared parameters and optimizer state."""
    ser = DictionarySerializer()
    ser.save(trainer)
    shared_params = set()
    for name, optimizer in trainer.updater.get_all_optimizers().items():
        shared_params.update('{}{}{}'.format(_MODEL_PREFIX, name, param_name)
                             for param_name, _ in optimizer.target.namedparams())
    return {key: value for key, value in ser.target.items()
            if not key.startswith(_SHARED_PREFIX) and key not in shared_params}


class MultiRankSnapshot(chainer.training.Extension):
    """Trainer extension: rank 0 writes ``<trainer.out>/<filename>`` atomically.

    Register it on every rank with the same trigger: all ranks take part in
    gathering their states, only rank 0 writes.
    """

    priority = chainer.training.PRIORITY_READER - 1  # after logs are updated

    def __init__(self, comm, filename='snapshot'):
        self.comm = comm
        self.filename = filename

    def __call__(self, trainer):
        # Rank 0's own state is the file's main part; the others' go under ranks/.
        mine = _rank_state(trainer) if self.comm.rank else None
        states = self.comm.gather_obj(mine, root=0)
        if self.comm.rank != 0:
            return
        ser = DictionarySerializer()
        ser.save(trainer)
        arrays = dict(ser.target)
        for rank, state in enumerate(states[1:], 1):
            for key, value in state.items():
                arrays['ranks/{}/{}'.format(rank, key)] = value
        arrays[RANKS_KEY] = numpy.int64(self.comm.size)
        path = '{}/{}'.format(trainer.out, self.filename)
        with safeio.atomic_write(path) as f:
            write_npz(f, arrays)  # None values listed, not pickled


def load_snapshot(trainer, path, comm):
    """Restore ``trainer`` from ``path`` on every rank (rank 0 reads the file)."""
    data = None
    if comm.rank == 0:
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except OSError as e:
            data = e  # every rank must learn about it, not just rank 0
    data = comm.bcast_obj(data, root=0)
    if isinstance(data, OSError):
        raise UserError('{}: cannot read the snapshot ({}); resume needs the '
                        'run directory of the interrupted run'.format(path, data.strerror))
    npz = read_npz(data, path)  # UserError on every rank alike
    saved_size = int(npz[RANKS_KEY]) if RANKS_KEY in npz else 1
    if saved_size != comm.size:
        raise UserError('{}: written by a run with {} rank(s) but this run has {}; '
                        'resume with mpiexec -n {} (each rank continues its own '
                        'share of the data)'.format(path, saved_size, comm.size,
                                                    saved_size))
    load_into(trainer, npz, path)
    if comm.rank > 0:
        # Then this rank's own iterators and random states over the shared ones
        # (non-strict: the model and optimizer are not repeated per rank).
        load_into(trainer, npz, path, path='ranks/{}/'.format(comm.rank), strict=False)
