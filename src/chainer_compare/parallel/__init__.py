"""Data-parallel training over MPI with ChainerMN (``mpiexec -n N src/train.py --communicator …``).

``src/train.py`` hands :class:`MultiRank` (the trainer's distribution
interface, ``training.distribution``, implemented with ChainerMN) to the
trainer when ``--communicator`` is given; without it nothing here is
imported, and the trainer never imports this package itself.  See docs/parallel.md for how to run it and the
batch-size and learning-rate rules.
"""
from chainer_compare.parallel.comm import (  # noqa: F401
    COMMUNICATORS, abort_on_error, broadcast, create_communicator,
    describe, is_root, rank_seed, select_device)
from chainer_compare.parallel.distribute import (  # noqa: F401
    aggregate_observations, average_bn_statistics, multi_node_evaluator,
    multi_node_optimizer, scatter, start_from_same_weights)
from chainer_compare.parallel.snapshot import MultiRankSnapshot, load_snapshot  # noqa: F401
from chainer_compare.parallel.agreement import interrupt_guard, updater_class  # noqa: F401
from chainer_compare.parallel.plugin import MultiRank  # noqa: F401
