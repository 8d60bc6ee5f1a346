"""Wrap the trainer's pieces for data parallelism, all with ChainerMN's own tools.

* data: rank 0 loads the dataset and broadcasts it, :func:`scatter` gives
  each rank an equal share (``chainermn.scatter_index``);
* optimizer: :func:`multi_node_optimizer` averages the gradients over ranks
  before every update (``chainermn.create_multi_node_optimizer``);
* evaluation: each rank evaluates its own share of the validation/test set
  (shares of unequal length, no example twice) and :func:`multi_node_evaluator`
  combines the per-rank means weighted by share size, so the logged error is
  the exact error over the whole set;
* batch normalization: plain per-rank BN while training (each rank normalizes
  its own mini-batch, as ChainerMN's ImageNet example does), and
  :func:`average_bn_statistics` averages the running mean/variance over ranks
  (``chainermn.extensions.AllreducePersistent``) before each evaluation and
  snapshot, so every rank evaluates, and rank 0 saves, the same model.

With ``comm=None`` every function returns its input unchanged (one process).
"""
import chainer
import numpy


def scatter(dataset, comm, shuffle=False, seed=0, equal_length=True):
    """This rank's share of ``dataset``, which every rank holds (see ``MPIWorld.load``).

    ChainerMN's ``scatter_index`` assigns the ranges (its documented
    alternative to ``scatter_dataset`` when the data are already on every
    rank: no second broadcast).  ``shuffle`` permutes the examples before
    splitting with a fixed ``seed`` (the same on every rank and every run), so
    a dataset stored sorted by class does not give one rank only cats.

    ``equal_length=True`` (training): all shares have the same length
    (``force_equal_length``), so every rank runs the same number of updates;
    when the size is not a multiple of the number of ranks, up to ``size - 1``
    examples appear twice.  ``equal_length=False`` (evaluation, which has no
    collective call per batch): the shares differ by at most one example and
    together hold each example exactly once.
    """
    if comm is None:
        return dataset
    import chainermn
    order = numpy.random.RandomState(seed).permutation(len(dataset)) if shuffle else None
    begin, end = chainermn.scatter_index(len(dataset), comm, force_equal_length=equal_length)
    return chainer.datasets.SubDataset(dataset, begin, end, order)


def multi_node_optimizer(optimizer, comm):
    """``optimizer`` whose updates use the gradient averaged over all ranks.

    Call :func:`start_from_same_weights` after ``optimizer.setup(model)``.
    """
    if comm is None:
        return optimizer
    import chainermn
    return chainermn.create_multi_node_optimizer(optimizer, comm)


def start_from_same_weights(optimizer, model, comm):
    """Copy rank 0's initial weights to every rank now, before the first update.

    ChainerMN's optimizer does this broadcast itself at its first update but
    then skips that update (it cannot know earlier that the parameters are
    ready).  Our models create all parameters in ``__init__``, so we broadcast
    here and tell the optimizer the parameter set is known: the first
    mini-batch is then trained on like in a single-process run, which keeps
    N ranks x batch b equal to 1 process x batch N*b.  A model with lazily
    initialized parameters keeps ChainerMN's own behaviour.
    """
    if comm is None:
        return
    if any(p.array is None for p in model.params()):
        return
    comm.bcast_data(model)
    optimizer.is_changed(model)  # records the parameter set; no update skipped


def multi_node_evaluator(evaluator, comm):
    """``evaluator`` (on this rank's share) reporting the mean over the whole set.

    ``chainermn.create_multi_node_evaluator`` averages the ranks' means with
    equal weights, which is exact only for equal shares.  Here each rank's
    mean (itself exact over its share: the classifier reports size-weighted
    batch means) is weighted by its share's size, so with shares of unequal
    length (``scatter(..., equal_length=False)``) the result is the mean over
    every example once.  One ``allgather`` of a few floats per evaluation; a
    rank with an empty share contributes nothing.
    """
    if comm is None:
        return evaluator
    local_size = len(evaluator.get_iterator('main').dataset)
    evaluate_share = evaluator.evaluate

    def evaluate_all():
        # An empty share (a set smaller than the number of ranks) is not
        # evaluated at all: Chainer's iterators cannot run over zero examples.
        local = ({key: _to_float(value) for key, value in evaluate_share().items()}
                 if local_size else {})
        weighted, sizes = {}, {}
        for size, means in comm.mpi_comm.allgather((local_size, local)):
            for key, mean in means.items():
                weighted[key] = weighted.get(key, 0.0) + mean * size
                sizes[key] = sizes.get(key, 0) + size
        return {key: weighted[key] / sizes[key] for key in sorted(weighted) if sizes[key]}

    evaluator.evaluate = evaluate_all
    return evaluator


def _to_float(value):
    """A reported scalar (Python, NumPy or CuPy) as a host float."""
    if isinstance(value, chainer.Variable):
        value = value.array
    return float(chainer.backends.cuda.to_cpu(value)) if hasattr(value, 'dtype') else float(value)


def average_bn_statistics(model, comm):
    """Extension averaging BN running statistics over ranks, or None.

    Its priority puts it before the evaluators and snapshots of the same
    trigger; extend it with the evaluation trigger (each epoch).
    """
    if comm is None or comm.size == 1:
        return None
    if not any(True for _ in _float_persistents(model)):
        return None  # nothing to average (no BN): skip the communication
    import chainermn
    return chainermn.extensions.AllreducePersistent(model, comm)


def aggregate_observations(comm, mean_keys=('main/loss', 'main/accuracy', 'main/error'),
                           sum_keys=('images_per_s',)):
    """Extensions making the logged training values global instead of rank 0's own.

    Each rank reports the loss/accuracy of its own mini-batch; ChainerMN's
    ``ObservationAggregator`` replaces them every iteration by the mean over
    ranks (a few bytes per iteration), so the log's training curves are those
    of the whole global batch.  ``sum_keys`` (the per-epoch throughput) are
    summed over ranks once per epoch.  Register them after the extensions
    that report these keys; every key must be reported on every rank at
    that trigger.  Returns ``(extension, name)`` pairs.
    """
    if comm is None or comm.size == 1:
        return []
    aggregator = _host_aggregator_class()
    pairs = [(aggregator(comm, key), 'aggregate ' + key) for key in mean_keys]
    pairs += [(aggregator(comm, key, comm_trigger=(1, 'epoch'),
                          aggregator=_sum_over_ranks), 'aggregate ' + key)
              for key in sum_keys]
    return pairs


def _host_aggregator_class():
    from chainermn.extensions import ObservationAggregator

    class HostObservationAggregator(ObservationAggregator):
        """ObservationAggregator fed host arrays instead of Variables.

        ChainerMN 7.8.1 moves a Variable with ``to_device('native')``, which
        needs ChainerX (not built into the chainer wheel); a plain host array
        of the same value avoids that path.
        """

        def compute_summary(self, trainer):
            value = trainer.observation.get(self.original_key)
            if isinstance(value, chainer.Variable):
                trainer.observation[self.original_key] = chainer.backends.cuda.to_cpu(value.array)
            return super().compute_summary(trainer)

    return HostObservationAggregator


def _sum_over_ranks(values_per_rank):
    return sum(sum(values, 0.0) for values in values_per_rank)


def _float_persistents(model):
    for link in model.links():
        for name in link._persistent:
            value = getattr(link, name)
            if isinstance(value, chainer.get_array_types()) and value.dtype.kind == 'f':
                yield value

