"""What ``bench/run_bench.py`` records beside its numbers: the machine, the BLAS/thread
configuration, the GPU stack, and the provenance sidecar of each results file."""
import datetime
import os
import platform
import sys

import numpy

import chainer_compare.compat  # noqa: F401  (before chainer)
from chainer_compare.device import describe as describe_device


def environment():
    """BLAS/thread configuration and machine facts recorded with the numbers."""
    import chainer
    from threadpoolctl import threadpool_info
    env = {
        'python': platform.python_version(), 'numpy': numpy.__version__,
        'chainer': chainer.__version__, 'device': describe_device(-1)['device'],
        'cpus': os.cpu_count(),
        'load_avg_1min_start': round(os.getloadavg()[0], 2),
        'blas': [{k: info.get(k) for k in ('internal_api', 'version', 'num_threads',
                                            'threading_layer', 'architecture')}
                 for info in threadpool_info()],
        'env': {k: os.environ.get(k) for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE',
                                               'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS',
                                               'MKL_NUM_THREADS')},
    }
    try:
        import torch
        env['torch'] = torch.__version__
        env['torch_threads'] = torch.get_num_threads()
        env['torch_mkldnn'] = bool(torch.backends.mkldnn.is_available())
    except ImportError:
        env['torch'] = None
    return env


def gpu_environment(gpu):
    """The card, CuPy/CUDA versions and whether Chainer uses cuDNN."""
    import chainer
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(gpu)
    name = props['name']
    return {'gpu': name.decode() if isinstance(name, bytes) else name,
            'cupy': cupy.__version__,
            'cuda_runtime': cupy.cuda.runtime.runtimeGetVersion(),
            'chainer_cudnn_enabled': bool(chainer.backends.cuda.cudnn_enabled),
            'chainer_use_cudnn': chainer.config.use_cudnn}


def provenance(csv_name, env):
    """The sidecar every results file has (scripts/update_docs.py builds the docs'
    tables from the CSV and cites this): command, date, commit, machine."""
    from chainer_compare.provenance import git_commit
    commit, dirty = git_commit()
    machine = '{}, {} CPUs'.format(env['device'], env['cpus'])
    if env.get('gpu'):
        machine += ', {} (CuPy {})'.format(env['gpu'], env.get('cupy'))
    return {'file': 'bench/' + csv_name,
            'command': 'python bench/run_bench.py ' + ' '.join(sys.argv[1:]),
            'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%MZ'),
            'commit': commit if not dirty else '{} (with uncommitted changes)'.format(commit),
            'machine': machine}

