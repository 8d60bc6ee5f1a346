"""The benchmark's rows: bench name -> registered model, its options, a label.

One table shared by ``bench/run_bench.py`` (what to build and time) and
``scripts/update_docs.py`` (which CSV ``model`` values exist and how the docs
name them), so a new row cannot be timed without the docs knowing its label.
Pure Python on purpose: update_docs.py loads it without importing Chainer.
"""
import collections

BenchModel = collections.namedtuple('BenchModel', 'model options label big')
BenchModel.__doc__ = """One benchmark row.

model: name in ``chainer_compare.models``' registry; options: its create_model
options; label: how README/docs name it; big: a net slow enough under stock
Chainer (several s/step) that it gets fewer timed steps (``--big-reps``).
"""

#: In table order.  ``residual`` keeps its historical CSV name (ResNet-20, or
#: whatever ``--res-depth`` says); the ResNet-74 rows are seed 004's article
#: net (res_depth 12), plain and with stochastic depth (``--skip_depth``).
BENCH_MODELS = collections.OrderedDict([
    ('cnn', BenchModel('cnn', {}, '`cnn`', False)),
    ('cnnbn', BenchModel('cnnbn', {}, '`cnnbn`', False)),
    ('vgg', BenchModel('vgg', {}, '`vgg`', False)),
    ('residual', BenchModel('residual', {'res_depth': 3}, 'ResNet-20', False)),
    ('resnet74', BenchModel('residual', {'res_depth': 12}, 'ResNet-74', True)),
    ('resnet74-skip', BenchModel('residual', {'res_depth': 12, 'skip_depth': True},
                                 'ResNet-74 + stochastic depth', True)),
])


def is_stochastic(name):
    """True when a training step's work is random (stochastic depth skips blocks)."""
    return bool(BENCH_MODELS[name].options.get('skip_depth'))
