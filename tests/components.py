"""Components the suite needs beyond pip's test extra, and what happens without one.

Each component (MPI, Chromium, Debian's Fashion-MNIST, the PyTorch twin's torch,
Slurm, the C compiler behind the fast-CPU kernels) is a named check in :data:`COMPONENTS`.  A test that needs one is marked
``@pytest.mark.requires('mpi')``.  Locally a missing component skips its tests
and says why (``pytest -ra``).  In CI (``CI=true``, as ``.ci/run`` sets it) a
skip would hide an untested area behind a green run, so the test fails instead
with one line naming the component, and the run's summary lists every missing
one.

``CHAINER_COMPARE_HIDE_COMPONENTS=mpi,torch`` treats those components as missing
(tests of this mechanism; also handy to see what CI would say).

Loaded by tests/conftest.py; usable on its own as a plugin (``pytest -p components``
with tests/ on PYTHONPATH), which is how tests/test_ci_components.py runs it.
"""
import collections
import os
import shutil

import pytest

HIDE_ENV = 'CHAINER_COMPARE_HIDE_COMPONENTS'
TORCH_VERSION = '2.13.0'  # the Makefile's TORCH_PIN: bench/torch_models.py's twins
FASHION_MNIST = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'


def _mpi():
    if shutil.which('mpiexec') is None:
        return 'mpiexec not found (apt-get install openmpi-bin libopenmpi-dev; make sysdeps)'
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return 'mpi4py not installed (pip install mpi4py; make install)'
    return None


def _chromium():
    if shutil.which('chromium') or shutil.which('chromium-browser'):
        return None
    return 'chromium not found (apt-get install chromium; make sysdeps)'


def _fashion_mnist():
    if os.path.exists(FASHION_MNIST):
        return None
    return '{} not found (apt-get install dataset-fashion-mnist; make sysdeps)'.format(
        FASHION_MNIST)


def _torch():
    try:
        import torch
    except ImportError:
        return 'torch not installed (pip install torch=={}; make test installs it)'.format(
            TORCH_VERSION)
    if torch.__version__.split('+')[0] != TORCH_VERSION:
        return 'torch {} installed, the twin test pins {} (pip install torch=={})'.format(
            torch.__version__, TORCH_VERSION, TORCH_VERSION)
    return None


def _slurm():
    absent = [tool for tool in ('sbatch', 'slurmctld') if shutil.which(tool) is None]
    if absent:
        return '{} not on PATH (apt-get install slurm-wlm munge; make sysdeps)'.format(
            ' and '.join(absent))
    return None


def _kernels():
    from chainer_compare.fastcpu import _native
    if _native.library() is not None:
        return None
    return 'the compiled fast-CPU kernels are unavailable: {} (apt-get install gcc; ' \
        'make sysdeps)'.format(_native.unavailable_reason() or
                               '{}=0 is set'.format(_native.ENV_SWITCH))


COMPONENTS = collections.OrderedDict([
    ('mpi', _mpi), ('chromium', _chromium), ('fashion-mnist', _fashion_mnist),
    ('torch', _torch), ('slurm', _slurm), ('kernels', _kernels)])


def in_ci():
    return os.environ.get('CI', '').strip().lower() in ('1', 'true', 'yes')


def missing_reason(name):
    """Why component ``name`` is unusable here, or None when it is present."""
    if name not in COMPONENTS:
        raise ValueError('unknown component {!r}; known: {}'.format(name, ', '.join(COMPONENTS)))
    hidden = {h.strip() for h in os.environ.get(HIDE_ENV, '').split(',')}
    if name in hidden:
        return 'hidden by {}={}'.format(HIDE_ENV, os.environ[HIDE_ENV])
    return COMPONENTS[name]()


_missing_in_run = collections.OrderedDict()  # name -> reason, for the summary


def pytest_configure(config):
    config.addinivalue_line('markers', 'requires(*names): needs these components '
                                       '({}); skipped without them, failed under CI=true'
                            .format(', '.join(COMPONENTS)))


def pytest_runtest_setup(item):
    for marker in item.iter_markers('requires'):
        for name in marker.args:
            reason = missing_reason(name)
            if reason is None:
                continue
            _missing_in_run[name] = reason
            if in_ci():
                pytest.fail("CI=true: required component '{}' is missing: {}".format(
                    name, reason), pytrace=False)
            pytest.skip("component '{}' missing: {}".format(name, reason))


def pytest_terminal_summary(terminalreporter):
    if _missing_in_run and in_ci():
        for name, reason in _missing_in_run.items():
            terminalreporter.write_line("CI=true: required component '{}' is missing: {}"
                                        .format(name, reason), red=True)
