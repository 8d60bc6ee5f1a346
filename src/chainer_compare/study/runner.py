"""``study.py run`` and ``study.py status``: skip, resume, retry, refuse mixed runs.

A second ``run`` of a study skips its finished runs, resumes the interrupted
ones from their snapshot and starts the rest.  A run directory whose flags
differ from what the study now asks for is never continued or counted as the
new configuration: ``run`` stops and names the flag, unless ``--restart``
names that configuration (the old run is moved to ``.replaced/``, which
reporting ignores).
"""
import fcntl
import os
import shutil
import sys
import time

from chainer_compare.errors import UserError
from chainer_compare.safeio import atomic_write_text
from chainer_compare.study import state as S
from chainer_compare.study.spec import load_study

EXIT_FAILED = 1


def _check_datasets(study):
    for spec in study.runs:
        path = spec.flags.get('dataset')
        if path and not os.path.exists(path):
            raise UserError('{}: configuration {!r}: dataset {}: no such file; prepare it with '
                            'python src/dataset.py (paths are relative to where study.py '
                            'runs)'.format(study.path, spec.config, path))


def _lock(study_dir):
    handle = open(os.path.join(study_dir, '.lock'), 'a+')
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UserError('{}: another study.py run is running this study; wait for it or '
                        'stop it (Ctrl-C) first'.format(study_dir))
    return handle


def _matches(spec, names):
    return bool(names) and ('all' in names or spec.config in names or spec.name in names)


def _restart(run_state, study_dir):
    """Move a run aside (never delete a user's results) and forget its record."""
    if os.path.isdir(run_state.run_dir):
        aside = os.path.join(study_dir, '.replaced', '{}-{}'.format(
            run_state.spec.name, time.strftime('%Y%m%d-%H%M%S')))
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        shutil.move(run_state.run_dir, aside)
    if os.path.exists(run_state.record_path):
        os.remove(run_state.record_path)
    return S.RunState(run_state.spec, study_dir)


def _check_names(flag, names, states, study):
    unknown = set(names) - {'all'} - {s.spec.config for s in states} - {s.spec.name for s in states}
    if unknown:
        raise UserError('{} {}: no such configuration or run in {} (configurations: {})'.format(
            flag, sorted(unknown)[0], study.path,
            ', '.join(sorted({s.spec.config for s in states}))))


def plan(study, study_dir, restart=(), only=()):
    """The RunStates after --restart, refusing changed runs; (states, todo)."""
    states = S.read_states(study, study_dir)
    restart = set(restart or ())
    _check_names('--restart', restart, states, study)
    _check_names('--only', only or (), states, study)
    for i, st in enumerate(states):
        if _matches(st.spec, restart) and st.state != S.PENDING:
            states[i] = _restart(st, study_dir)
    changed = [s for s in states if s.state == S.CHANGED]
    if changed:
        s = changed[0]
        key, old, new = s.differs
        raise UserError('{}: was run with {} = {!r}, the study now asks for {!r}; '
                        'it is not mixed with the new flags: rerun with --restart {} to start '
                        'that configuration over (the old runs move to {}/.replaced/), or undo '
                        'the change'.format(s.run_dir, key, old, new, s.spec.config, study_dir))
    # A run still queued or running on Slurm (an earlier run --no-wait) is not submitted twice.
    todo = [s for s in states if s.state not in (S.DONE, S.DIVERGED)
            and s.display_status not in ('running', 'submitted')
            and (not only or _matches(s.spec, set(only)))]
    return states, todo


def _describe_plan(study, states, todo, out):
    count = {}
    names = {s.spec.name for s in todo}
    for s in states:
        if s.state not in (S.DONE, S.DIVERGED) and s.spec.name not in names:
            if s.display_status in ('running', 'submitted'):
                count['active'] = count.get('active', 0) + 1
            continue  # left out by --only, or still running elsewhere
        count[s.state] = count.get(s.state, 0) + 1
    out.write('study {}: {} runs ({} configurations x {} seeds): {} done (skipped), {} to '
              'resume, {} to start{}\n'.format(
                  study.name, len(states), len({s.spec.config for s in states}),
                  len({s.spec.seed for s in states}), count.get(S.DONE, 0),
                  count.get(S.RESUMABLE, 0),
                  count.get(S.PENDING, 0) + count.get(S.RESTART, 0),
                  ''.join([', {} diverged (not rerun; --restart CONFIG reruns it)'.format(
                      count[S.DIVERGED]) if count.get(S.DIVERGED) else '',
                      ', {} still queued or running on Slurm (left alone)'.format(
                          count['active']) if count.get('active') else ''])))
    out.flush()


def run_study(path, results='results', backend='local', jobs=1, gpus=None, retries=1,
              restart=(), only=(), slurm_options=None, out=None):
    """Run every unfinished run of the study file ``path``; the exit status."""
    out = out or sys.stdout
    study = load_study(path)
    _check_datasets(study)
    study_dir = study.directory(results)
    try:
        os.makedirs(study_dir, exist_ok=True)
    except OSError as e:
        raise UserError('--results {}: cannot create {} ({}); choose a writable directory'
                        .format(results, study_dir, e.strerror))
    lock = _lock(study_dir)
    try:
        states, todo = plan(study, study_dir, restart, only)
        atomic_write_text(os.path.join(study_dir, 'study.yaml'), study.text)
        _describe_plan(study, states, todo, out)

        def write_table():
            S.write_table(study_dir, S.read_states(study, study_dir))

        write_table()
        signum = None
        if todo and backend == 'local':
            from chainer_compare.study.local import run_local
            _, signum = run_local(study, study_dir, todo, jobs, gpus, retries, write_table, out)
        elif todo:
            from chainer_compare.study.slurm import SUBMITTED, run_slurm
            signum = run_slurm(study, study_dir, todo, retries, slurm_options, write_table, out)
            if signum == SUBMITTED:  # --no-wait: the jobs run on; status follows them
                return 0
        final = S.read_states(study, study_dir)
        S.write_table(study_dir, final)
    finally:
        lock.close()
    selected = [s for s in final if not only or _matches(s.spec, set(only))]
    return _report(study, study_dir, final, signum, out, selected)


def _report(study, study_dir, final, signum, out, selected):
    bad = [s for s in final if s.display_status in ('failed', 'diverged')]
    left = [s for s in final if s.display_status not in ('done', 'failed', 'diverged')]
    done = len(final) - len(bad) - len(left)
    out.write('study {}: {}/{} runs done{}{}; table: {}; compare them with: make plots '
              'RUNS={}\n'.format(study.name, done, len(final),
                                 ', {} failed ({})'.format(len(bad), ', '.join(
                                     s.spec.name for s in bad)) if bad else '',
                                 ', {} not finished'.format(len(left)) if left else '',
                                 os.path.join(study_dir, 'runs.csv'), study_dir))
    if signum is not None:
        return 128 + signum
    return EXIT_FAILED if any(s.display_status != 'done' for s in selected) else 0


def study_status(study_dir, out=None, as_json=False):
    """Print the state of every run of the study in ``study_dir``; 0, or 1 if any failed."""
    out = out or sys.stdout
    copy = os.path.join(study_dir, 'study.yaml')
    if not os.path.isfile(copy):
        raise UserError('{}: not a study directory (no study.yaml); start one with '
                        'python src/study.py run STUDY.yaml'.format(study_dir))
    study = load_study(copy)
    states = S.read_states(study, study_dir)
    rows = [s.row() for s in states]
    if as_json:
        import json
        out.write(json.dumps(rows, indent=2) + '\n')
    else:
        from chainer_compare.study.table import format_status
        out.write(format_status(study, states))
    return EXIT_FAILED if any(r['status'] in ('failed', 'diverged') for r in rows) else 0
