"""Where a result came from: the git commit of the code (training, reporting and bench use it)."""
import os
import subprocess


def git_commit(directory=None):
    """(commit, dirty) of the git checkout holding ``directory`` (default: this package's
    source tree), or (None, None) outside git."""
    here = directory or os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=here, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                                cwd=here, capture_output=True, text=True, timeout=10,
                                check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None
