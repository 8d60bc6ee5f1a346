"""Group runs into configurations and summarise them as Markdown and CSV tables.

Runs whose ``args`` differ only in the flags that do not change the experiment
(``seed`` and the bookkeeping flags) form one configuration; its numbers are
mean ± sample std (ddof=1) over the runs, with n.  Errors are fractions in run
files and percentages here.
"""
import csv
import io
import json
import math
import os

from chainer_compare.errors import UserError

# Flags that name, place or repeat a run without changing the experiment.
# fast_cpu picks an implementation of the same arithmetic, so it is ignored too.
DEFAULT_IGNORED_ARGS = ('seed', 'prefix', 'out', 'resume', 'gpu', 'fast_cpu')

ERROR_METRICS = (('validation_error', 'best_validation_error'),
                 ('test_error_at_best', 'test_error_at_best'),
                 ('final_test_error', 'final_test_error'))
DASH = '\u2013'


class Stat(object):
    """Mean, sample std (None when n < 2) and n of the non-missing values."""

    def __init__(self, values):
        values = [float(v) for v in values if v is not None]
        self.n = len(values)
        self.mean = sum(values) / self.n if values else None
        self.std = (math.sqrt(sum((v - self.mean) ** 2 for v in values) / (self.n - 1))
                    if self.n > 1 else None)

    def format(self, scale=100.0, digits=2, with_n=True):
        if self.n == 0:
            return DASH
        std = DASH if self.std is None else '{:.{}f}'.format(self.std * scale, digits)
        text = '{:.{}f} \u00b1 {}'.format(self.mean * scale, digits, std)
        return text + (' ({})'.format(self.n) if with_n else '')


class Configuration(object):
    """Runs sharing every grouping arg; ``key`` is those args as a dict."""

    def __init__(self, key, runs):
        self.key = key
        self.runs = runs
        self.args = runs[0].args
        self.label = ''
        self.stats = {name: Stat(r.metrics[metric] for r in runs)
                      for name, metric in ERROR_METRICS}
        for name in ('best_epoch', 'wall_time_s', 'images_per_s', 'epochs'):
            self.stats[name] = Stat(r.metrics[name] for r in runs)

    @property
    def statuses(self):
        return sorted({r.status for r in self.runs})


def group_runs(runs, group_by=None):
    """Configurations in order of first run; labels name the args that differ."""
    known = {k for run in runs for k in run.args}
    unknown = [name for name in group_by or () if name not in known]
    if unknown:
        raise UserError('--group-by {}: no run has such an arg; choose among: {}'.format(
            ','.join(unknown), ', '.join(sorted(known))))
    groups = {}
    for run in runs:
        if group_by:
            key = {name: run.args.get(name) for name in group_by}
        else:
            key = {k: v for k, v in run.args.items() if k not in DEFAULT_IGNORED_ARGS}
        if 'dataset' in key:  # the data, not the path it was read by (relative, moved, ...)
            key['dataset'] = dataset_label(run.args, run.metadata)
        groups.setdefault(json.dumps(key, sort_keys=True, default=str), (key, []))[1].append(run)
    configs = [Configuration(key, members) for key, members in groups.values()]
    _label(configs)
    return configs


def _label(configs):
    """Name each configuration by what sets it apart from the others."""
    names = sorted({k for c in configs for k in c.key})
    varying = {k for k in names if len({json.dumps(c.key.get(k), sort_keys=True, default=str)
                                        for c in configs}) > 1}
    # Args shown together by one describing function rather than one by one.
    families = ((('model', 'res_depth', 'res_width', 'skip_depth', 'swapout'),
                 lambda c: model_label(c.args)),
                (('dataset',), lambda c: c.key['dataset']),
                (('optimizer', 'lr', 'alpha', 'weight_decay'), lambda c: optimizer_label(c.args)),
                (('lr_decay_iter', 'lr_shape', 'warmup'), lambda c: schedule_label(c.args)))
    family_keys = set()
    for config in configs:
        parts = []
        for keys, describe in families:
            family_keys.update(keys)
            if varying.intersection(keys):
                parts.append(describe(config))
        parts += ['{}={}'.format(k, config.key.get(k)) for k in sorted(varying - family_keys)]
        config.label = ', '.join(parts) or model_label(config.args)
    labels = [c.label for c in configs]
    for config in configs:
        if labels.count(config.label) > 1:  # a family's text hid the difference
            config.label += ' [{}]'.format(', '.join(
                '{}={}'.format(k, config.key.get(k)) for k in sorted(varying & family_keys)))


def model_label(args):
    model = str(args.get('model', '?'))
    extra = []
    if model.startswith('res') and args.get('res_depth') is not None:
        extra.append('depth {}'.format(args['res_depth']))
        if args.get('res_width') not in (None, 1):
            extra.append('width {}'.format(args['res_width']))
    if args.get('skip_depth'):
        extra.append('stochastic depth')
    if args.get('swapout'):
        extra.append('swapout')
    return model + (' ({})'.format(', '.join(extra)) if extra else '')


def dataset_label(args, metadata=None):
    """'cifar10 / image_norm_zca' from metadata, else from the -d path."""
    recorded = (metadata or {}).get('dataset')  # train.py's {'name', 'preprocessing', ...}
    recorded = recorded if isinstance(recorded, dict) else {}
    name, prep = recorded.get('name'), recorded.get('preprocessing')
    path = str(args.get('dataset') or '')
    if path and (not name or not prep):
        stem, ext = os.path.splitext(os.path.basename(os.path.normpath(path)))
        parent = os.path.basename(os.path.dirname(os.path.normpath(path)))
        if ext == '.pkl':
            prep = prep or stem
            name = name or ('cifar10' if parent in ('', 'dataset') else parent)
        else:
            prep = prep or 'image'
            name = name or ('cifar10' if stem == 'dataset' else stem)
    return '{} / {}'.format(name or '?', prep or '?')


def optimizer_label(args):
    text = str(args.get('optimizer', '?'))
    for flag in ('lr', 'alpha', 'weight_decay'):
        if args.get(flag) not in (None, 0, 0.0):
            text += ' {}={}'.format('wd' if flag == 'weight_decay' else flag, args[flag])
    return text


def schedule_label(args):
    shape = args.get('lr_shape') or 'multistep'
    steps = args.get('lr_decay_iter')
    if shape == 'multistep' and steps not in (None, '', 0):
        steps = str(steps)
        text = ('multistep \u00d70.1 at epochs ' + steps if ',' in steps
                else 'multistep \u00d70.1 every {} epochs'.format(steps))
    else:
        text = str(shape)
    if args.get('warmup'):
        text += ' + {} warmup epochs'.format(args['warmup'])
    return text


def _device(run):
    device = run.metadata.get('device')  # train.py's {'device': 'CPU: <name>', 'cudnn_in_use', ...}
    if isinstance(device, dict):
        device = device.get('device')
    if device:
        return str(device)
    gpu = run.args.get('gpu')
    return 'CPU' if gpu in (None, -1, '-1') else 'GPU {}'.format(gpu)


def _duration(seconds):
    if seconds is None:
        return DASH
    seconds = int(round(seconds))
    if seconds < 3600:
        return '{}m {:02d}s'.format(seconds // 60, seconds % 60)
    return '{}h {:02d}m'.format(seconds // 3600, seconds % 3600 // 60)


def _epochs(config):
    values = sorted({r.metrics['epochs'] for r in config.runs})
    return str(values[0]) if len(values) == 1 else '{}{}{}'.format(values[0], DASH, values[-1])


def _best_epoch(stat):
    if stat.n == 0:
        return DASH
    return '{:.0f}'.format(stat.mean) if stat.std is None else '{:.1f} \u00b1 {:.1f}'.format(
        stat.mean, stat.std)


COLUMNS = ('configuration', 'model', 'dataset + preprocessing', 'optimizer', 'lr schedule',
           'augmentation', 'epochs', 'best-validation epoch', 'validation error (%)',
           'test error at best epoch (%)', 'final test error (%)', 'wall time', 'images/s',
           'device', 'status', 'verdict vs baseline')


def table_rows(configs, comparison=None):
    """Human-readable rows, one per configuration, in COLUMNS order.

    ``comparison`` (a compare.Comparison) fills the verdict column; without it, a dash.
    """
    rows = []
    for c in configs:
        speed = c.stats['images_per_s']
        rows.append([
            c.label, model_label(c.args), dataset_label(c.args, c.runs[0].metadata),
            optimizer_label(c.args), schedule_label(c.args),
            str(c.args.get('augment') or 'none'), _epochs(c), _best_epoch(c.stats['best_epoch']),
            c.stats['validation_error'].format(), c.stats['test_error_at_best'].format(),
            c.stats['final_test_error'].format(), _duration(c.stats['wall_time_s'].mean),
            DASH if speed.n == 0 else '{:.0f}'.format(speed.mean),
            ', '.join(sorted({_device(r) for r in c.runs})), ', '.join(c.statuses),
            comparison.verdict_label(c) if comparison else DASH])
    return rows


def markdown_table(header, rows):
    def cell(text):
        return str(text).replace('|', '\\|').replace('\n', ' ')
    lines = ['| ' + ' | '.join(cell(h) for h in header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(cell(v) for v in row) + ' |' for row in rows]
    return '\n'.join(lines) + '\n'


def summary_csv(configs, extra_header=(), extra_values=None):
    """Machine-readable table: the text columns plus numeric mean/std/n columns.

    ``extra_header``/``extra_values(config)``: more columns (the comparison's) at the end.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    numeric = ['validation_error', 'test_error_at_best', 'final_test_error']
    writer.writerow(['configuration', 'model', 'dataset', 'optimizer', 'lr_schedule',
                     'augmentation', 'epochs', 'best_epoch_mean']
                    + [m + s for m in numeric for s in ('_pct_mean', '_pct_std')]
                    + ['n', 'wall_time_s_mean', 'images_per_s_mean', 'device', 'status', 'runs']
                    + list(extra_header))
    for c, row in zip(configs, table_rows(configs)):
        values = []
        for m in numeric:
            stat = c.stats[m]
            values += [_num(stat.mean, 100), _num(stat.std, 100)]
        writer.writerow(row[:7] + [_num(c.stats['best_epoch'].mean)] + values
                        + [len(c.runs), _num(c.stats['wall_time_s'].mean),
                           _num(c.stats['images_per_s'].mean), row[13], row[14],
                           ';'.join(r.name for r in c.runs)]
                        + [v if isinstance(v, str) else _num(v)
                           for v in (extra_values(c) if extra_values else ())])
    return out.getvalue()


def _num(value, scale=1.0):
    return '' if value is None else '{:.6g}'.format(value * scale)
