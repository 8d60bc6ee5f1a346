"""Fault injection for the multi-rank tests, kept out of the production code (not a test).

``python tests/fault_hooks.py SCRIPT ARGS...`` runs SCRIPT (src/train.py) with
its trainer extended by the hooks below, the way tests/test_train_resume.py
wraps the updater; tests/mpi_driver.py adds them itself.  Both are inert
unless their variable is set:

* CHAINER_COMPARE_TEST_CRASH_RANK=<rank>:<iteration>[:kill|:term|:nan] makes
  that rank raise (or SIGKILL or SIGTERM itself, or put a NaN into its
  weights) at that iteration, so the tests can check that one failing,
  interrupted or diverging rank ends the whole job;
* CHAINER_COMPARE_TEST_DUMP_DIR=<dir> makes every rank save its final model
  (weights and BN statistics) as <dir>/rank<r>.npz, so the tests can check
  that all ranks hold the same model.
"""
import os
import runpy
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'src'))

import chainer_compare.compat  # noqa: E402,F401  (before chainer)
import chainer  # noqa: E402

CRASH_ENV = 'CHAINER_COMPARE_TEST_CRASH_RANK'
DUMP_ENV = 'CHAINER_COMPARE_TEST_DUMP_DIR'


def hooks(comm, model):
    """Trainer extensions (trigger: every iteration) for the multi-rank tests; usually []."""
    result = []
    rank = comm.rank if comm is not None else 0
    spec = os.environ.get(CRASH_ENV)
    if comm is not None and spec:
        crash_rank, iteration, *how = spec.split(':')
        if int(crash_rank) == rank:
            result.append(_crash(int(iteration), how[0] if how else 'raise', spec))
    if os.environ.get(DUMP_ENV):
        result.append(_DumpWeights(model, os.path.join(os.environ[DUMP_ENV],
                                                       'rank{}.npz'.format(rank))))
    return result


def _crash(iteration, how, spec):
    def crash(trainer):
        if trainer.updater.iteration != iteration:
            return
        if how in ('kill', 'term'):
            os.kill(os.getpid(), signal.SIGKILL if how == 'kill' else signal.SIGTERM)
            return
        if how == 'nan':  # this rank's next loss is NaN, the other ranks' are not
            next(trainer.updater.get_optimizer('main').target.params()).array[...] = float('nan')
            return
        raise RuntimeError('test crash requested by {}={}'.format(CRASH_ENV, spec))
    return crash


class _DumpWeights(chainer.training.Extension):
    """Saves the model when the trainer finishes (``finalize``); does nothing per iteration."""

    def __init__(self, model, path):
        self.model, self.path = model, path

    def __call__(self, trainer):
        pass

    def finalize(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        chainer.serializers.save_npz(self.path, self.model)


def install():
    """Make ``training.runner`` extend every trainer it builds with :func:`hooks`."""
    from chainer_compare.training import runner
    build_trainer = runner.build_trainer

    def build_with_hooks(args, model, datasets, device, run_dir, dist):
        trainer, parts = build_trainer(args, model, datasets, device, run_dir, dist)
        for hook in hooks(getattr(dist, 'comm', None), model):
            trainer.extend(hook, trigger=(1, 'iteration'))
        return trainer, parts

    runner.build_trainer = build_with_hooks


if __name__ == '__main__':
    install()
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name='__main__')
