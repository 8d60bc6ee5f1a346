"""The run directory: its name, and the JSON files written into it.

A run never overwrites another: ``<out>/<prefix>`` is taken if free, else
``<prefix>-2``, ``-3``, ... (created with ``mkdir``, which is atomic, so two
runs started at once with the same ``-p`` still get different directories).
Every file goes through :mod:`chainer_compare.safeio`'s atomic writes.
"""
import json
import math
import os

from chainer_compare.errors import UserError
from chainer_compare.safeio import atomic_write_text

ARGS = 'args'
METADATA = 'metadata.json'
SUMMARY = 'summary.json'
MODEL_BEST = 'model_best.npz'
MODEL_FINAL = 'model_final.npz'

# Namespace entries that are bookkeeping, not flags (kept out of ``args``).
_NOT_FLAGS = ('explicit', 'resume', 'run_dir')


def create_run_dir(out, prefix):
    """Make and return a new directory ``out/prefix`` (or ``-2``, ``-3``, ...)."""
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise UserError('--out {}: cannot create it ({})'.format(out, e.strerror))
    for n in range(1, 10000):
        path = os.path.join(out, prefix if n == 1 else '{}-{}'.format(prefix, n))
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise UserError('{}: cannot create the run directory ({})'.format(path, e.strerror))
    raise UserError('{}: too many runs named {!r}; choose another -p'.format(out, prefix))


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path, obj):
    """Atomic, sorted, NaN-free JSON (NaN/inf become null, as JSON has none)."""
    def clean(o):
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return _finite_or_none(o)
    atomic_write_text(path, json.dumps(clean(obj), indent=2, sort_keys=True) + '\n')


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError('{}: file not found'.format(path))
    except (OSError, ValueError) as e:
        raise UserError('{}: not readable JSON ({})'.format(path, e))


def flags_of(args):
    """The parsed flags as the plain dict ChainerUI reads from ``args``."""
    return {k: v for k, v in sorted(vars(args).items()) if k not in _NOT_FLAGS}


def write_args(run_dir, args):
    write_json(os.path.join(run_dir, ARGS), flags_of(args))
