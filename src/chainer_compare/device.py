"""Pick the device for -g (training, evaluate, predict) and describe it for metadata.json.

``-g N`` (N >= 0) trains on GPU N through CuPy; a missing CuPy or GPU fails
here, before any data is loaded, with a line saying how to fix it.  The
description records whether cuDNN is in use, since it changes both speed and
bitwise reproducibility (CuPy 14 ships without cuDNN; CuPy 13 + cuDNN 8 has it).
"""
import platform

import chainer

from chainer_compare.errors import UserError

_INSTALL_HINT = ('install the GPU extra with `pip install -e .[gpu]` (cupy-cuda12x) '
                 'or train on the CPU with -g -1')


def _cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_check(gpu):
    try:
        import cupy
    except ImportError as e:
        raise UserError('-g {}: CuPy is not installed ({}); {}'.format(gpu, e, _INSTALL_HINT))
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing or broken
        raise UserError('-g {}: no usable CUDA GPU ({}); {}'.format(gpu, e, _INSTALL_HINT))
    if gpu >= count:
        raise UserError('-g {}: this machine has {} GPU(s) (ids 0..{}); pick one of '
                        'them or -g -1 for the CPU'.format(gpu, count, count - 1))
    if not chainer.backends.cuda.available:
        raise UserError('-g {}: Chainer cannot use the installed CuPy {}; {}'.format(
            gpu, cupy.__version__, _INSTALL_HINT))
    return cupy


def describe(gpu):
    """Device record for metadata.json: name, CuPy version, cuDNN status."""
    info = {'gpu': gpu, 'cupy': None, 'cudnn_available': False, 'cudnn_in_use': False,
            'cudnn_version': None}
    try:
        import cupy
        info['cupy'] = cupy.__version__
    except ImportError:
        pass
    if gpu < 0:
        info['device'] = 'CPU: ' + _cpu_name()
        return info
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(gpu)
    name = props['name']
    info['device'] = 'GPU {}: {}'.format(gpu, name.decode() if isinstance(name, bytes) else name)
    cuda = chainer.backends.cuda
    info['cudnn_available'] = bool(cuda.cudnn_enabled)
    if cuda.cudnn_enabled:
        info['cudnn_version'] = int(cuda.cuda.cudnn.getVersion())
    info['cudnn_in_use'] = bool(cuda.cudnn_enabled and chainer.config.use_cudnn != 'never')
    return info


def get_device(gpu):
    """The ``chainer.Device`` for ``-g gpu``; checks CuPy and the GPU first."""
    if gpu < 0:
        return chainer.get_device('@numpy')
    _gpu_check(gpu)
    device = chainer.get_device('@cupy:{}'.format(gpu))
    device.use()
    return device
