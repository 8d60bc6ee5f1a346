"""summary.json (``src/plot.py --json``): the whole comparison as one JSON document.

Every number of summary.md, unrounded: per configuration its table stats, args
and the runs counted; the baseline; every pair's statistics and verdict; the
excluded and skipped runs.  scripts and the README demo generator read this
file instead of parsing Markdown.  Errors are percentages here (points), as in
the tables; ``null`` where a number does not exist (n = 1, no finished run).
"""
import datetime
import json
import math
import sys

from chainer_compare.reporting.summary import DEFAULT_IGNORED_ARGS, ERROR_METRICS

FORMAT_VERSION = 1


def _pct(stat):
    return {'mean_pct': None if stat.mean is None else 100 * stat.mean,
            'std_pct': None if stat.std is None else 100 * stat.std, 'n': stat.n}


def _finite(value):
    """JSON has no NaN/inf: those become null (recursively)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def summary_document(configs, comparison, skipped, sources, argv=None):
    """The document as a dict (see the module docstring)."""
    by_config = {id(c.config): c.to_json() for c in comparison.configs}
    configurations = []
    for config in configs:
        entry = by_config[id(config)]
        entry.update({
            'args': {k: v for k, v in config.args.items() if k not in DEFAULT_IGNORED_ARGS},
            'all_runs': [{'run': r.name, 'seed': r.args.get('seed'), 'status': r.status,
                          'wall_time_s': r.metrics.get('wall_time_s')} for r in config.runs],
            'statuses': config.statuses,
            'verdict_vs_baseline': comparison.verdict_label(config),
            'table_stats_all_runs': {name: _pct(config.stats[name])
                                     for name, _ in ERROR_METRICS},
            'images_per_s_mean': config.stats['images_per_s'].mean,
            'epochs': sorted({r.metrics['epochs'] for r in config.runs}),
        })
        configurations.append(entry)
    document = comparison.to_json()
    document.update({
        'format_version': FORMAT_VERSION,
        'generated': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'command': list(argv if argv is not None else sys.argv),
        'sources': list(sources),
        'configurations': configurations,
        'skipped_runs': [{'path': s.path, 'reason': s.reason} for s in skipped],
    })
    return _finite(document)


def dumps(document):
    return json.dumps(document, indent=1, allow_nan=False, default=str) + '\n'
