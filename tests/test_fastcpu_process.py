"""The process-wide settings of the fast CPU path (fastcpu/_process.py), in fresh processes."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = '''
import sys
sys.path.insert(0, {src!r})
import chainer_compare.compat, numpy, threadpoolctl
from chainer_compare.fastcpu import _process

def blas_threads():
    return max(lib['num_threads'] for lib in threadpoolctl.threadpool_info()
               if lib['user_api'] == 'blas')

def reused_64mb():
    """Whether a freed 64 MB block comes back with its old contents (malloc's heap)
    rather than as fresh zeroed pages of a new mmap."""
    numpy.full(16 * 2 ** 20, 7, numpy.float32)  # allocated, written, freed
    return bool((numpy.empty(16 * 2 ** 20, numpy.float32)[4096:] == 7).all())

print('blas_before', blas_threads())
print('reused_untuned', reused_64mb(), reused_64mb())
_process.configure()
print('reused_tuned', reused_64mb(), reused_64mb())
print('malloc', _process.keep_freed_memory())
print('single', _process.single_threaded_blas(), blas_threads())
with _process.blas_threads_restored():
    print('restored', blas_threads())
print('after', blas_threads())
'''


def _probe(**env):
    full_env = dict(os.environ, OPENBLAS_NUM_THREADS='2', **env)
    full_env.pop('OMP_NUM_THREADS', None)
    child = subprocess.run([sys.executable, '-c', PROBE.format(src=os.path.join(ROOT, 'src'))],
                           capture_output=True, text=True, env=full_env, timeout=120)
    assert child.returncode == 0, child.stderr
    return {key: value.split() for key, value in
            (line.split(' ', 1) for line in child.stdout.splitlines())}


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc mallopt')
def test_large_freed_blocks_are_reused_instead_of_mapped_afresh():
    result = _probe()
    # glibc maps a 64 MB array afresh (zero-filled by the kernel) every time,
    # until the thresholds keep freed blocks in malloc's heap.
    assert result['reused_untuned'] == ['False', 'False']
    assert result['malloc'] == ['True']
    assert result['reused_tuned'] == ['True', 'True']


def test_blas_runs_single_threaded_and_can_be_restored():
    result = _probe()
    assert result['blas_before'] == ['2']
    assert result['single'] == ['True', '1']
    assert result['restored'] == ['2']
    assert result['after'] == ['1']


def test_environment_switches_leave_malloc_and_blas_alone():
    result = _probe(CHAINER_COMPARE_MALLOC='0', CHAINER_COMPARE_BLAS_THREADS='keep')
    assert result['malloc'] == ['False']
    assert result['single'] == ['False', '2']
    assert result['restored'] == ['2'] and result['after'] == ['2']
    assert result['reused_tuned'] == ['False', 'False']


def test_a_misspelt_switch_is_reported_and_the_default_kept():
    full_env = dict(os.environ, CHAINER_COMPARE_BLAS_THREADS='kep', CHAINER_COMPARE_MALLOC='off')
    code = ('import sys; sys.path.insert(0, {!r}); import chainer_compare.compat; '
            'from chainer_compare.fastcpu import _process; '
            'print(_process.single_threaded_blas(), _process.keep_freed_memory())'
            ).format(os.path.join(ROOT, 'src'))
    child = subprocess.run([sys.executable, '-W', 'always', '-c', code], capture_output=True,
                           text=True, env=full_env, timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ['True', 'True']
    assert "CHAINER_COMPARE_BLAS_THREADS='kep' not understood" in child.stderr
    assert 'CHAINER_COMPARE_BLAS_THREADS=keep' in child.stderr
    assert "CHAINER_COMPARE_MALLOC='off' not understood" in child.stderr
