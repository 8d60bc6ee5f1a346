"""The ChainerMN communicator, the rank's device, and stopping every rank on error.

Everything here is a thin layer over ChainerMN (``import chainermn``, shipped
inside the chainer package): the communicator moves the gradients, we only pick
it by name, pick each rank's GPU and make one failing rank stop the whole job.

``comm is None`` means a single process throughout the project: every helper
below accepts it and then does what a plain run does.
"""
import contextlib
import os
import sys
import traceback


from chainer_compare.errors import UserError

# Communicators of Chainer 7.8.1's ChainerMN.  Only ``naive`` runs on CPU ranks.
CPU_COMMUNICATORS = ('naive',)
GPU_COMMUNICATORS = ('flat', 'non_cuda_aware', 'pure_nccl')
# ChainerMN v7 removed ``hierarchical`` (and ``two_dimensional``/``single_node``)
# because pure_nccl does NCCL's own intra-/inter-node hierarchy; accept the old
# name so old command lines keep working, and say what it became.
ALIASES = {'hierarchical': 'pure_nccl'}
COMMUNICATORS = CPU_COMMUNICATORS + GPU_COMMUNICATORS + tuple(ALIASES)


def _import_chainermn():
    try:
        import mpi4py.MPI  # noqa: F401  (chainermn needs it; fail with a hint)
    except ImportError as e:
        raise UserError('--communicator needs mpi4py and an MPI library ({}); '
                        'install them with: apt-get install openmpi-bin '
                        'libopenmpi-dev && pip install mpi4py'.format(e))
    import chainermn
    return chainermn


def create_communicator(name, gpu=-1):
    """Return a ChainerMN communicator for ``name``, or None when ``name`` is None.

    ``gpu`` is the ``-g`` flag: negative means CPU ranks, which only ``naive``
    supports.
    """
    if name is None:
        return None
    if name not in COMMUNICATORS:
        raise UserError('--communicator {}: unknown; choose one of {}'.format(
            name, ', '.join(COMMUNICATORS)))
    actual = ALIASES.get(name, name)
    if gpu < 0 and actual not in CPU_COMMUNICATORS:
        raise UserError('--communicator {} needs one GPU per rank (-g 0); for '
                        'CPU ranks use --communicator naive'.format(name))
    chainermn = _import_chainermn()
    try:
        comm = chainermn.create_communicator(actual)
    except (ImportError, RuntimeError) as e:  # e.g. no CuPy, or CuPy without NCCL
        raise UserError('--communicator {}: ChainerMN cannot set it up ({}); GPU '
                        'communicators need CuPy with NCCL 2 (check: python -c "from '
                        'cupy.cuda import nccl"); on CPU ranks use --communicator '
                        'naive'.format(name, e))
    # An exception nobody catches (outside abort_on_error) also aborts the job.
    if sys.excepthook is sys.__excepthook__:
        chainermn.global_except_hook.add_hook()
    comm.name = name  # recorded in metadata as the user typed it
    if actual != name and comm.rank == 0:
        print('--communicator {}: using {} (ChainerMN 7 replaced {} with '
              'it)'.format(name, actual, name), file=sys.stderr)
    return comm


def select_device(comm, gpu):
    """The device id this rank trains on: ``gpu`` alone, or one GPU per rank.

    With a communicator and ``gpu >= 0`` each rank takes GPU ``intra_rank``
    (its rank among the processes on the same node), as ChainerMN's examples
    do, so ``mpiexec -n 8`` on an 8-GPU node uses GPUs 0..7.
    """
    if comm is None or gpu < 0:
        return gpu
    device = comm.intra_rank
    try:
        from chainer.backends import cuda
        available = cuda.cupy.cuda.runtime.getDeviceCount() if cuda.available else 0
    except Exception:  # no CUDA driver at all
        available = 0
    if device >= available:
        raise UserError('rank {} wants GPU {} but this node has {} GPU(s); start '
                        'at most {} ranks per node (mpiexec -npernode / --hostfile '
                        'slots)'.format(comm.rank, device, available, available))
    return device


def is_root(comm):
    """True on the one process that writes files and prints (rank 0)."""
    return comm is None or comm.rank == 0


def rank_seed(seed, comm):
    """A per-rank seed for data order and dropout: ranks must not share masks.

    Model weights do not depend on it: ChainerMN's optimizer broadcasts rank
    0's initial weights to every rank.
    """
    if seed is None or comm is None:
        return seed
    return (seed + 1000003 * comm.rank) % (2 ** 32)


def broadcast(comm, value):
    """Rank 0's ``value`` on every rank (e.g. the run directory it chose)."""
    if comm is None:
        return value
    # ChainerMN's bcast_obj insists that the other ranks pass None.
    return comm.bcast_obj(value if comm.rank == 0 else None, root=0)


def describe(comm):
    """Fields for metadata.json: the world size and the communicator."""
    if comm is None:
        return {'world_size': 1, 'communicator': None}
    return {'world_size': comm.size, 'communicator': comm.name,
            'ranks_per_node': comm.intra_size}


@contextlib.contextmanager
def abort_on_error(comm):
    """Stop every rank when this one fails, instead of leaving the others hanging.

    The other ranks sit in an allreduce waiting for this one forever; exiting
    normally would call MPI_Finalize, which waits for them too.  So print the
    error (one line for a UserError, else the traceback) with the rank, then
    MPI_Abort, which makes mpiexec kill the job and exit non-zero.

    Without an error, the ranks wait for each other before leaving: a run that
    stops with a non-zero status on every rank (NaN loss, SIGTERM) would
    otherwise let mpiexec kill rank 0 while it still writes summary.json.
    """
    if comm is None or comm.size == 1:
        yield
        return
    try:
        yield
        comm.mpi_comm.Barrier()
    except BaseException as e:  # noqa: B902 (KeyboardInterrupt too: same hang)
        if isinstance(e, SystemExit) and not e.code:
            raise
        prog = os.path.basename(sys.argv[0]) if sys.argv else 'chainer_compare'
        if isinstance(e, UserError):
            print('{}: error: {}'.format(prog, e), file=sys.stderr)
            code = e.exit_code
        else:
            traceback.print_exc()
            code = 1
        print('{}: rank {} of {} failed; aborting all ranks (MPI_Abort)'.format(
            prog, comm.rank, comm.size), file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        comm.mpi_comm.Abort(code)
