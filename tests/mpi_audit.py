"""Run a script while recording every file this process opens for writing.

Used by tests/test_parallel.py under mpiexec: ``python tests/mpi_audit.py
REPORT_DIR script.py ARGS...`` runs ``script.py ARGS...`` and, at exit, saves
the paths it wrote, created or renamed as REPORT_DIR/writes.<rank>.json
(rank from Open MPI's environment), so a test can check that only rank 0
wrote the run directory.  Not a test itself.
"""
import atexit
import json
import os
import runpy
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_written = []
_recording = [True]


def _hook(event, args):
    if not _recording[0]:
        return
    if event == 'open':
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in 'wax+')) or \
            (isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and isinstance(path, (str, bytes, os.PathLike)):
            _written.append(os.path.abspath(os.fsdecode(path)))
    elif event == 'os.rename':
        _written.append(os.path.abspath(os.fsdecode(args[1])))
    elif event == 'os.mkdir' and not os.path.isdir(args[0]):  # makedirs of an existing dir: no-op
        _written.append(os.path.abspath(os.fsdecode(args[0])))


def _report(report_dir, rank):
    _recording[0] = False
    with open(os.path.join(report_dir, 'writes.{}.json'.format(rank)), 'w') as f:
        json.dump(sorted(set(_written)), f)


def main():
    report_dir, script = sys.argv[1], sys.argv[2]
    rank = os.environ.get('OMPI_COMM_WORLD_RANK', os.environ.get('PMI_RANK', '0'))
    atexit.register(_report, report_dir, rank)
    sys.addaudithook(_hook)
    sys.argv = sys.argv[2:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name='__main__')


if __name__ == '__main__':
    main()
