"""Make Chainer 7.8.1 (the last release, 2022) import and run under NumPy 2.

Chainer fails at import on NumPy 2 in two places:

* ``chainer/functions/array/as_strided.py`` reads ``numpy.sctypes`` at import
  time; NumPy 2.0 removed that mapping.  We put back a faithful copy of it.
* ``chainer/_environment_check.py`` imports ``numpy.distutils`` (removed in
  NumPy 2 / Python 3.12) and ``pkg_resources`` (removed from setuptools 82)
  only to print advisory warnings about macOS BLAS and optional package
  versions.  We pre-register a module of that name whose ``check()`` does
  nothing, so neither import happens.

Nothing else is patched: Chainer's numerics are untouched.  Call
:func:`apply` (or :func:`import_chainer`) before the first ``import chainer``;
applying it after Chainer is imported, or twice, is harmless.
"""
import sys
import types

import numpy


def _sctypes():
    groups = {
        'int': [numpy.int8, numpy.int16, numpy.int32, numpy.int64],
        'uint': [numpy.uint8, numpy.uint16, numpy.uint32, numpy.uint64],
        'float': [numpy.float16, numpy.float32, numpy.float64],
        'complex': [numpy.complex64, numpy.complex128],
        'others': [bool, object, bytes, str, numpy.void],
    }
    if hasattr(numpy, 'longdouble'):
        groups['float'].append(numpy.longdouble)
        groups['complex'].append(numpy.clongdouble)
    return groups


def apply():
    """Install the two shims; idempotent."""
    if 'sctypes' not in numpy.__dict__:
        try:
            numpy.sctypes  # NumPy 1.x still has it
        except AttributeError:
            numpy.sctypes = _sctypes()
    name = 'chainer._environment_check'
    if name not in sys.modules and 'chainer' not in sys.modules:
        stub = types.ModuleType(name)
        stub.__doc__ = 'Skipped by chainer_compare.compat (needs numpy.distutils).'
        stub.check = lambda: None
        sys.modules[name] = stub


def import_chainer():
    """Apply the shims, then import and return the ``chainer`` module."""
    apply()
    import chainer
    return chainer


apply()
