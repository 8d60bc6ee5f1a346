"""Studies: a whole comparison (configurations x seeds) as one command.

``spec`` reads and validates a study file, ``state`` reads where each run
stands from its files, ``runner`` decides what to skip, resume and start,
``local`` and ``slurm`` are the backends.  See docs/studies.md.
"""
from chainer_compare.study.runner import run_study, study_status  # noqa: F401
from chainer_compare.study.spec import load_study  # noqa: F401
