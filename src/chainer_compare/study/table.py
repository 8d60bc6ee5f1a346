"""``study.py status``: one line per run, the counts, and why each failed run failed."""


def _cell(value, fmt='{}'):
    return '-' if value is None or value == '' else fmt.format(value)


def format_status(study, states):
    header = ('run', 'status', 'epoch', 'attempts', 'exit', 'backend', 'job', 'host',
              'wall (s)', 'test error (%)')
    rows = []
    for s in states:
        r = s.row()
        err = r['test_error_at_best']
        rows.append((r['run'], r['status'], '{}/{}'.format(r['epoch'], r['epochs']),
                     str(r['attempts']), _cell(r['exit_code']), _cell(r['backend']),
                     _cell(r['job_id']), _cell(r['host']), _cell(r['wall_time_s'], '{:.0f}'),
                     '-' if err is None else '{:.2f}'.format(100 * err)))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ['  '.join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
             for row in [header] + rows]
    counts = {}
    for s in states:
        counts[s.display_status] = counts.get(s.display_status, 0) + 1
    order = ('done', 'running', 'submitted', 'interrupted', 'failed', 'diverged', 'changed',
             'pending')
    lines.append('study {}: {}'.format(study.name, ', '.join(
        '{} {}'.format(counts[k], k) for k in order if counts.get(k))))
    for s in states:
        if s.display_status in ('failed', 'diverged'):
            lines.append('  {} {}: {} (full output: {})'.format(
                s.spec.name, s.display_status, s.failure_line(), s.log_path))
        elif s.display_status == 'changed':
            key, old, new = s.differs
            lines.append('  {}: ran with {} = {!r}, the study now says {!r} (--restart {})'
                         .format(s.spec.name, key, old, new, s.spec.config))
    return '\n'.join(lines) + '\n'
