"""chainer_compare: compare image classifiers trained with Chainer.

The flow is data (sources, preprocessing, storage) -> models (registry) ->
training -> reporting.  Import :mod:`chainer_compare.compat` before ``chainer``;
every CLI in src/ does so through :func:`chainer_compare.compat.import_chainer`.
"""
__version__ = '0.1.0'
