"""Rebuild a run's trained model and find its dataset: shared by evaluate and predict.

The model is built with ``create_model`` from the run's own ``args`` and the
dataset's manifest (channels, size, classes), then its weights are read from
``model_best.npz`` (the best-validation epoch), falling back to
``model_final.npz``.  The dataset is the one named by the run's ``-d`` flag;
when that relative path does not resolve from here, the absolute directory
recorded in ``metadata.json`` is tried, and ``--dataset`` overrides both.
"""
import os

import chainer
import chainer.functions as F
import numpy

from chainer_compare.errors import UserError
from chainer_compare.npzfile import load_into, read_npz
from chainer_compare.reporting.runs import read_json

MODEL_FILES = ('model_best.npz', 'model_final.npz')


class TrainedRun(object):
    """A run's model plus what is needed to feed it: class names, shape, statistics."""

    def __init__(self, run_dir, model, model_path, dataset_path, directory, preprocessing,
                 manifest, device):
        self.run_dir = run_dir
        self.model = model
        self.device = device
        self.model_path = model_path
        self.dataset_path = dataset_path
        self.directory = directory
        self.preprocessing = preprocessing
        self.manifest = manifest
        self.class_names = list(manifest['class_names'])
        self.shape = tuple(int(s) for s in manifest['shape'])

    def probabilities(self, x, batch_size=256):
        """Softmax outputs (N, classes) in test mode, in batches."""
        out = []
        with chainer.using_config('train', False), chainer.no_backprop_mode():
            for start in range(0, len(x), batch_size):
                batch = self.device.send(numpy.ascontiguousarray(x[start:start + batch_size]))
                logits = self.model(batch)
                out.append(chainer.backends.cuda.to_cpu(F.softmax(logits).array))
        return numpy.concatenate(out) if out else numpy.zeros((0, len(self.class_names)),
                                                               numpy.float32)


def resolve_dataset(run_dir, args, override=None):
    """(path given to load_prepared, dataset directory, preprocessing name)."""
    candidates = [override] if override else []
    recorded = str(args.get('dataset') or '')
    if not override:
        candidates.append(recorded)
        meta_path = os.path.join(run_dir, 'metadata.json')
        meta = read_json(meta_path, 'metadata') if os.path.exists(meta_path) else {}
        info = meta.get('dataset') if isinstance(meta, dict) else None
        if isinstance(info, dict) and info.get('directory') and recorded:
            base = os.path.basename(os.path.normpath(recorded))
            candidates.append(os.path.join(info['directory'], base) if base.endswith('.pkl')
                              else info['directory'])
    for path in candidates:
        if path and os.path.exists(path):
            if os.path.isdir(path):
                return path, path, 'image'
            name = os.path.basename(path)
            return path, os.path.dirname(path) or '.', name[:-4] if name.endswith('.pkl') else name
    raise UserError('{}: the dataset this run was trained on ({}) is not here; prepare it with '
                    'python src/dataset.py or point to it with --dataset PATH'.format(
                        os.path.join(run_dir, 'args'), override or recorded or 'none recorded'))


def load_trained_run(run_dir, dataset=None, model_file=None, gpu=-1):
    """A :class:`TrainedRun` for ``run_dir``; UserError naming any missing/bad file."""
    from chainer_compare.data.storage import read_manifest
    from chainer_compare.models import create_model
    from chainer_compare.device import get_device

    if not os.path.isdir(run_dir):
        raise UserError('{}: no such run directory'.format(run_dir))
    args = read_json(os.path.join(run_dir, 'args'), 'args')
    if not isinstance(args, dict) or 'model' not in args:
        raise UserError('{}: no "model" in this args file'.format(os.path.join(run_dir, 'args')))
    names = [model_file] if model_file else MODEL_FILES
    paths = [os.path.join(run_dir, n) for n in names if os.path.isfile(os.path.join(run_dir, n))]
    if not paths:
        raise UserError('{}: no trained model ({}); the run has not finished an epoch, or '
                        'train it with python src/train.py'.format(run_dir, ' or '.join(names)))
    path, directory, preprocessing = resolve_dataset(run_dir, args, dataset)
    manifest = read_manifest(directory)
    if not manifest.get('class_names') or len(manifest.get('shape') or ()) != 3:
        raise UserError('{}: no class_names/shape; rerun python src/dataset.py --force'.format(
            os.path.join(directory, 'manifest.json')))
    c, h, _ = manifest['shape']
    options = {k: args[k] for k in ('res_depth', 'res_width', 'skip_depth', 'swapout')
               if args.get(k) is not None}
    model = create_model(args['model'], in_channels=int(c), image_size=int(h),
                         n_classes=len(manifest['class_names']), **options)
    arrays = read_npz(paths[0])  # never a pickle: refuses object arrays, naming the file
    try:
        load_into(model, arrays, paths[0])
    except UserError as e:  # key or shape mismatch: not this model's weights
        raise UserError('{} (model {!r} built from the run\'s args)'.format(e, args['model']))
    device = get_device(gpu)  # checks CuPy and the GPU, with a message, for gpu >= 0
    model.to_device(device)
    return TrainedRun(run_dir, model, paths[0], path, directory, preprocessing, manifest, device)
