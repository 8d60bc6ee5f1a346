"""Install the chainer_compare package (the logic behind src/*.py).

Chainer 7.8.1's own setup.py imports ``pkg_resources``, which setuptools>=82 no
longer ships; ``make install`` therefore builds it with ``setuptools<82`` and
``--no-build-isolation`` (see the Makefile).  Chainer itself does not import under
NumPy 2; :mod:`chainer_compare.compat` patches that before ``import chainer``.
"""
from setuptools import find_packages, setup

setup(
    name='chainer-compare',
    version='0.1.0',
    description='Chainer experiment-comparison framework for image classification',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    package_dir={'': 'src'},
    packages=find_packages('src'),
    # The fast CPU kernels' C source, compiled on first use (fastcpu/_native.py).
    package_data={'chainer_compare.fastcpu': ['kernels.h', 'conv_kernels.c', 'kernels.c']},
    python_requires='>=3.9',
    install_requires=[
        'chainer==7.8.1',
        'numpy>=1.22',
        'six',
        'pillow',
        'matplotlib',
        'scipy',  # reporting/stats.py: t-tests, permutation tests, bootstrap
        'PyYAML',  # study files (study/spec.py, read with the safe loader)
        'threadpoolctl',
    ],
    extras_require={
        'gpu': ['cupy-cuda12x'],
        'mpi': ['mpi4py>=3.1'],
        'study': ['submitit>=1.5'],  # the Slurm backend of src/study.py
        # chainer.testing (gradient_check) imports pkg_resources: setuptools<82.
        'test': ['pytest>=7', 'pytest-timeout', 'threadpoolctl', 'setuptools<82'],
        'bench': ['threadpoolctl', 'psutil'],
    },
)
