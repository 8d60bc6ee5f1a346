"""Helpers for the study tests: a tiny dataset, study files, and study.py as a user runs it."""
import json
import os
import subprocess
import sys
import time

import numpy

from test_train_support import ROOT, train_env, write_tiny_dataset

STUDY_PY = os.path.join(ROOT, 'src', 'study.py')

# 3 epochs of a small MNIST-sized net: a few seconds a run, long enough to be stopped mid-way.
TINY_STUDY = '''\
name: {name}
flags: {{batch_size: 16, optimizer: adam, iter: 3, lr_decay_iter: 2, augment: flip,
        dataset: data/image.pkl}}
seeds: [1, 2]
configurations:
  keras: {{model: keras_mnist_cnn}}
{extra}'''


def make_workdir(path, n_train=400):
    write_tiny_dataset(str(path / 'data'), n_train=n_train, n_test=40, shape=(1, 28, 28))
    return path


def write_study(workdir, name='tiny', extra='', text=None):
    path = os.path.join(str(workdir), name + '.yaml')
    with open(path, 'w') as f:
        f.write(text if text is not None else TINY_STUDY.format(name=name, extra=extra))
    return path


def study_cmd(*args):
    return [sys.executable, STUDY_PY] + [str(a) for a in args]


def run_study(workdir, *args, timeout=300, env=None):
    return subprocess.run(study_cmd(*args), cwd=str(workdir), env=dict(train_env(), **(env or {})),
                          capture_output=True, text=True, timeout=timeout)


def start_study(workdir, *args, env=None):
    return subprocess.Popen(study_cmd(*args), cwd=str(workdir), env=dict(train_env(), **(env or {})),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_rows(study_dir):
    with open(os.path.join(str(study_dir), 'runs.json')) as f:
        return {row['run']: row for row in json.load(f)}


def record(study_dir, run):
    with open(os.path.join(str(study_dir), 'records', run + '.json')) as f:
        return json.load(f)


def epochs_logged(run_dir):
    try:
        with open(os.path.join(str(run_dir), 'log')) as f:
            return len(json.load(f))
    except (OSError, ValueError):
        return 0


def wait_for(predicate, timeout=120, what='condition'):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError('timed out waiting for ' + what)


def final_weights(run_dir):
    with numpy.load(os.path.join(str(run_dir), 'model_final.npz'), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def train_processes(marker):
    """PIDs of live train.py processes whose command line contains ``marker``."""
    pids = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/{}/cmdline'.format(pid), 'rb') as f:
                cmd = f.read().decode(errors='replace')
        except OSError:
            continue
        if 'train.py' in cmd and marker in cmd:
            pids.append(int(pid))
    return pids
