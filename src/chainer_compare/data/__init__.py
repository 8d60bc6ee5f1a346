"""Data stage: sources -> download/verify -> safe parsing -> preprocessing -> storage.

``prepare_dataset`` is what ``python src/dataset.py`` runs; ``load_prepared`` and
``preprocess_images`` are what the trainer, evaluate and predict use (contract in
docs/ARCHITECTURE.md, user guide in docs/data.md).
"""
from chainer_compare.data.preprocess import DEFAULT_ZCA_EPS, PREPROCESSINGS  # noqa: F401
from chainer_compare.data.sources import DATASETS, default_output_dir  # noqa: F401
from chainer_compare.data.stage import prepare_dataset  # noqa: F401
from chainer_compare.data.storage import (  # noqa: F401
    PreparedData, load_prepared, preprocess_images)
