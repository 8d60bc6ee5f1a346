"""Shared test setup: src/ on sys.path and the NumPy-2 compat applied before chainer."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, 'src')
if SRC not in sys.path:
    sys.path.insert(0, SRC)

import chainer_compare.compat  # noqa: E402,F401  (must precede any chainer import)
import chainer  # noqa: E402
import pytest  # noqa: E402

import components  # noqa: E402  (tests/components.py: required components, CI=true fails)
from components import pytest_runtest_setup, pytest_terminal_summary  # noqa: E402,F401


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: takes more than a few seconds')
    config.addinivalue_line('markers', 'mpi: needs mpiexec and mpi4py')
    config.addinivalue_line('markers', 'browser: needs Debian chromium')
    config.addinivalue_line('markers', 'gpu: needs CuPy and a GPU (chainer.testing)')
    components.pytest_configure(config)


@pytest.fixture(params=['kernels', 'gemm'])
def fastcpu_backend(request):
    """Run a fast-CPU test with the compiled kernels and again with NumPy + BLAS only."""
    if request.param == 'kernels':
        request.applymarker(pytest.mark.requires('kernels'))
        components.pytest_runtest_setup(request.node)
    with chainer.using_config('fast_cpu_kernels', request.param == 'kernels'):
        yield request.param
