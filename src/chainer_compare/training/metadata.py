"""metadata.json: everything needed to reproduce a run and trust its numbers.

Written when the run starts (so a killed run still says what it was) and
rewritten at the end with the end time, wall time and images/s.
"""
import datetime
import hashlib
import os
import platform
import socket
import sys

import chainer
import numpy

from chainer_compare import device as device_module
from chainer_compare.provenance import git_commit


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def manifest_sha256(directory):
    path = os.path.join(directory, 'manifest.json')
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def versions():
    info = {'python': platform.python_version(), 'numpy': numpy.__version__,
            'chainer': chainer.__version__, 'cupy': None}
    try:
        import cupy
        info['cupy'] = cupy.__version__
    except ImportError:
        pass
    return info


def start_metadata(args, data, split_info, world=None):
    """The metadata.json of a new run; ``world``: the distribution's ``describe()``."""
    commit, dirty = git_commit()
    meta = {
        'command': [os.path.basename(sys.argv[0])] + sys.argv[1:],
        'host': socket.gethostname(),
        'versions': versions(),
        'git_commit': commit,
        'git_dirty': dirty,
        'device': device_module.describe(args.gpu),
        'fast_cpu': bool(args.fast_cpu) and args.gpu < 0,
        'dataset': {
            'name': data.dataset,
            'preprocessing': data.preprocessing,
            'path': args.dataset,
            'directory': os.path.abspath(data.directory),
            'manifest_sha256': manifest_sha256(data.directory),
            'shape': list(data.train_x.shape[1:]),
            'classes': len(data.class_names),
            'train_images': int(len(data.train_x)),
            'test_images': int(len(data.test_x)),
        },
        'validation_split': split_info,
        'start_time': _now(),
        'end_time': None,
        'wall_time_s': None,
        'images_per_s': None,
        'resumed_at': [],
    }
    meta.update(world or {'world_size': 1, 'communicator': None})
    return meta


def finish_metadata(meta, wall_time_s, images_per_s, status):
    meta.update(end_time=_now(), wall_time_s=wall_time_s, images_per_s=images_per_s,
                status=status)
    return meta


def mark_resumed(meta):
    meta.setdefault('resumed_at', []).append(_now())
    meta['end_time'] = None
    return meta
