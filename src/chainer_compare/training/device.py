"""Compatibility path: device selection lives in :mod:`chainer_compare.device`.

Training and reporting (evaluate, predict) both pick a device, so it is a
shared module; this name keeps older imports working.
"""
from chainer_compare.device import describe, get_device  # noqa: F401
