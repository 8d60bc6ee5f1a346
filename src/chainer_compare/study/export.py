"""``study.py export``: a study's results as one small, committable JSON file.

The run directories (models, snapshots) are bulky and stay git-ignored; what a
README or a paper quotes must come from a committed file that says where it
came from.  The export holds, per run, its flags, status, summary (test error
at the best-validation epoch, epochs, wall time, images/s) and per-epoch
validation/test errors, plus the provenance: the study file, the command, the
date, the code commit and machine the runs recorded in their metadata.json.
"""
import json
import os
import platform
import sys
import time

from chainer_compare.errors import UserError
from chainer_compare.safeio import atomic_write_text
from chainer_compare.study import state as S

CURVE_KEYS = ('epoch', 'elapsed_time', 'lr', 'main/loss', 'validation/main/error',
              'test/main/error')


def _run_entry(run_state):
    meta = S.read_json_or_none(os.path.join(run_state.run_dir, 'metadata.json')) or {}
    log = S.read_json_or_none(os.path.join(run_state.run_dir, 'log')) or []
    row = run_state.row()
    return {
        'run': row['run'], 'config': row['config'], 'seed': row['seed'],
        'status': row['status'], 'argv': row['argv'], 'hash': row['hash'],
        'summary': run_state.summary,
        'curve': [{k: e.get(k) for k in CURVE_KEYS if k in e} for e in log],
        'git_commit': meta.get('git_commit'), 'git_dirty': meta.get('git_dirty'),
        'host': meta.get('host'), 'device': (meta.get('device') or {}).get('device'),
        'versions': meta.get('versions'), 'start_time': meta.get('start_time'),
        'end_time': meta.get('end_time'), 'resumed_at': meta.get('resumed_at'),
        'attempts': row['attempts'], 'backend': row['backend'],
    }


def export_study(study_dir, out_path, command=None):
    """Write the export of the study in ``study_dir`` to ``out_path``; returns the dict."""
    from chainer_compare.study.spec import load_study
    copy = os.path.join(study_dir, 'study.yaml')
    if not os.path.isfile(copy):
        raise UserError('{}: not a study directory (no study.yaml)'.format(study_dir))
    study = load_study(copy)
    runs = [_run_entry(s) for s in S.read_states(study, study_dir)
            if s.state not in (S.PENDING,)]
    if not runs:
        raise UserError('{}: no run has started yet; nothing to export'.format(study_dir))
    commits = sorted({r['git_commit'] for r in runs if r['git_commit']})
    document = {
        'study': study.name, 'description': study.description, 'study_file': study.text,
        'provenance': {
            'command': command or 'python src/study.py run <study file> (see study_file)',
            'exported': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
            'exported_by': ' '.join(['python', 'src/study.py'] + sys.argv[1:]),
            'commit': commits[0] if len(commits) == 1 else commits,
            'machine': {'hosts': sorted({r['host'] for r in runs if r['host']}),
                        'devices': sorted({r['device'] for r in runs if r['device']}),
                        'exporter': platform.platform(terse=True)},
        },
        'runs': runs,
    }
    atomic_write_text(out_path, json.dumps(document, indent=1, sort_keys=True) + '\n')
    return document
