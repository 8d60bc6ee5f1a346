"""The study file: configurations x seeds, each run's train.py flags and identity.

A study file is YAML (the convention of Hydra and W&B sweeps)::

    name: demo                      # results/<name>/ holds the runs
    flags: {batch_size: 128, optimizer: adam, iter: 3}   # shared by every run
    seeds: [1, 2, 3]
    configurations:                 # by name ...
      cnn: {model: cnn, dataset: dataset/fashion-mnist/image_norm.pkl}
    grid:                           # ... and/or a cross product of flag values
      model: [cnn, cnnbn]
      dataset: {norm: dataset/image_norm.pkl, zca: dataset/image_norm_zca.pkl}

Keys are train.py's own flag names (``batch_size`` or ``batch-size``).  Every
run's argument list is parsed and validated with train.py's own parser before
anything starts, so a bad flag stops the study with one line naming the
configuration and the flag.  A run's identity is the hash of its validated
flags (what train.py writes to ``args``), minus the ones that say where and on
what it runs.
"""
import hashlib
import itertools
import json
import os
import re

from chainer_compare.errors import UserError

# Set by the study runner, never by the study file.
RUNNER_FLAGS = ('gpu', 'seed', 'prefix', 'out', 'resume')
# Flags that do not change what a run computes (left out of its identity).
NOT_IDENTITY = ('gpu', 'out', 'prefix', 'resume', 'fast_cpu', 'explicit', 'run_dir')
STUDY_KEYS = ('name', 'description', 'flags', 'seeds', 'configurations', 'grid')
CONFIG_KEYS = ('ranks',)  # per-configuration keys that are not train.py flags
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.+=-]*$')


class RunSpec(object):
    """One (configuration, seed): its name, train.py flags and identity."""

    def __init__(self, config, seed, argv, flags, ranks):
        self.config = config
        self.seed = seed
        self.name = '{}_s{}'.format(config, seed)
        self.argv = argv      # train.py arguments, without -g/--out/--resume
        self.flags = flags    # validated flags that define the run (its identity)
        self.ranks = ranks
        self.hash = flags_hash(flags)

    def to_row(self):
        return {'run': self.name, 'config': self.config, 'seed': self.seed,
                'argv': list(self.argv), 'hash': self.hash, 'ranks': self.ranks}


class Study(object):
    def __init__(self, path, name, text, runs, description=''):
        self.path = path
        self.name = name
        self.text = text      # the file as given (copied into the study directory)
        self.runs = runs
        self.description = description

    def directory(self, results='results'):
        return os.path.join(results, self.name)


def flags_hash(flags):
    return hashlib.sha256(json.dumps(flags, sort_keys=True).encode()).hexdigest()[:16]


def identity(args_dict):
    """The flags of an ``args`` dict that define what the run computes."""
    return {k: v for k, v in sorted(args_dict.items()) if k not in NOT_IDENTITY}


def _fail(where, message):
    raise UserError('{}: {}'.format(where, message))


def _unique_key_loader():
    """PyYAML's SafeLoader, refusing a key given twice (it would silently keep the last)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, '{!r} is given twice (names and keys must be unique)'.format(key),
                    key_node.start_mark)
            seen.add(key)
        return loader.construct_mapping(node, deep=True)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return UniqueKeyLoader


def _load_yaml(path):
    import yaml
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise UserError('{}: cannot read the study file ({})'.format(path, e.strerror))
    try:
        # A SafeLoader: a study file cannot construct Python objects.
        data = yaml.load(text, Loader=_unique_key_loader())
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        where = ' at line {}'.format(mark.line + 1) if mark is not None else ''
        problem = getattr(e, 'problem', None) or str(e).split('\n')[0]
        _fail(path, 'not valid YAML{}: {}'.format(where, problem))
    if not isinstance(data, dict):
        _fail(path, 'a study file is a mapping with name, flags, seeds and configurations/grid')
    return text, data


def _option_index(parser):
    """Every spelling of a long option (dest, --dest, dashes or underscores) -> action."""
    index = {}
    for action in parser._actions:
        if not action.option_strings or action.dest == 'help':
            continue
        names = {action.dest} | {o.lstrip('-') for o in action.option_strings if o.startswith('--')}
        for name in names:
            index[name] = index[name.replace('-', '_')] = index[name.replace('_', '-')] = action
    return index


def _to_argv(where, flags, index):
    """``{flag: value}`` -> train.py argument list (booleans become bare switches)."""
    argv = []
    for key in sorted(flags):
        value = flags[key]
        action = index.get(key)
        if action is None:
            _fail(where, 'unknown flag {!r}; flags are train.py\'s own names '
                  '(python src/train.py --help)'.format(key))
        if action.dest in RUNNER_FLAGS:
            _fail(where, 'flag {!r} is set by the study runner ({})'.format(key, {
                'gpu': 'choose devices with --gpus', 'seed': 'list them under seeds:',
                'prefix': 'runs are named <configuration>_s<seed>',
                'out': 'runs go to results/<study name>', 'resume': 'a second run resumes'
            }[action.dest]))
        preferred = '--' + action.dest  # seed 004's spelling (--iter, not --epoch)
        option = preferred if preferred in action.option_strings else max(
            action.option_strings, key=len)
        if action.nargs == 0:  # store_true / store_false switches
            if not isinstance(value, bool):
                _fail(where, 'flag {!r} is a switch: give true or false, not {!r}'.format(
                    key, value))
            # Under its own name a switch is "given or not" (no_fast_cpu: true);
            # under its dest it is the value wanted (fast_cpu: false).
            given = value if key != action.dest else value == action.const
            if given and action.const != action.default:
                argv.append(option)
            continue
        if isinstance(value, bool) or isinstance(value, (dict, type(None))):
            _fail(where, 'flag {!r}: {!r} is not a value for {}'.format(key, value, option))
        if isinstance(value, list):  # e.g. lr_decay_iter: [150, 225]
            value = ','.join(str(v) for v in value)
        argv += [option, str(value)]
    return argv


def _validated(where, argv):
    """Parse ``argv`` with train.py's parser; the flags train.py would record."""
    from chainer_compare.training import config, rundir
    try:
        args = config.parse_args(argv)
    except UserError as e:
        _fail(where, str(e).replace(' (see --help)', ''))
    return identity(rundir.flags_of(args))


def _value_label(value):
    if isinstance(value, bool):
        return 'on' if value else 'off'
    text = str(value)
    if os.sep in text or text.endswith('.pkl'):  # a dataset path: its file name
        text = os.path.splitext(os.path.basename(text.rstrip(os.sep)))[0]
    return re.sub(r'[^A-Za-z0-9.+=-]+', '-', text).strip('-') or 'x'


def _grid_configs(path, grid):
    """Named configurations from a grid (a mapping, or a list of mappings)."""
    grids = grid if isinstance(grid, list) else [grid]
    out = []
    for g in grids:
        if not isinstance(g, dict) or not g:
            _fail(path, 'grid: give a mapping of flag -> list of values (or -> {label: value})')
        axes = []
        for key, values in g.items():
            if isinstance(values, dict):
                axes.append([(str(label), key, v) for label, v in values.items()])
            elif isinstance(values, list) and values:
                axes.append([(_value_label(v), key, v) for v in values])
            else:
                _fail(path, 'grid: {!r} needs a non-empty list of values'.format(key))
        for combo in itertools.product(*axes):
            name = '_'.join(label for label, _, _ in combo)
            out.append((name, {key: v for _, key, v in combo}))
    return out


def _seeds(path, seeds):
    if seeds is None:
        return [1]
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        _fail(path, 'seeds: give a list of integers, e.g. [1, 2, 3]')
    if len(set(seeds)) != len(seeds):
        _fail(path, 'seeds: {} is listed twice'.format(
            next(s for s in seeds if seeds.count(s) > 1)))
    return seeds


def _configurations(path, data):
    named = data.get('configurations') or {}
    if not isinstance(named, dict):
        _fail(path, 'configurations: give a mapping of name -> flags')
    configs = [(str(k), v if v is not None else {}) for k, v in named.items()]
    if data.get('grid') is not None:
        configs += _grid_configs(path, data['grid'])
    if not configs:
        _fail(path, 'no configurations: add configurations: and/or grid:')
    seen = set()
    for name, flags in configs:
        if not _NAME.match(name):
            _fail(path, 'configuration name {!r}: use letters, digits, "_", "-", "." only'
                  .format(name))
        if name in seen:
            _fail(path, 'configuration {!r} is defined twice (names must be unique)'.format(name))
        if not isinstance(flags, dict):
            _fail(path, 'configuration {!r}: give a mapping of flag -> value'.format(name))
        seen.add(name)
    return configs


def load_study(path):
    """Read, expand and validate a study file; a :class:`Study` or one UserError."""
    text, data = _load_yaml(path)
    unknown = sorted(set(data) - set(STUDY_KEYS))
    if unknown:
        _fail(path, 'unknown key {!r}; a study has {}'.format(unknown[0], ', '.join(STUDY_KEYS)))
    name = data.get('name')
    if not isinstance(name, str) or not _NAME.match(name):
        _fail(path, 'name: give the study a plain name (letters, digits, "_", "-", ".")')
    shared = data.get('flags') or {}
    if not isinstance(shared, dict):
        _fail(path, 'flags: give a mapping of train.py flag -> value')
    seeds = _seeds(path, data.get('seeds'))
    from chainer_compare.training import config
    index = _option_index(config.build_parser())
    _to_argv('{}: flags'.format(path), shared, index)  # shared flags named as shared
    runs = []
    for cname, cflags in _configurations(path, data):
        where = '{}: configuration {!r}'.format(path, cname)
        cflags = dict(cflags)
        ranks = cflags.pop('ranks', 1)
        if not isinstance(ranks, int) or isinstance(ranks, bool) or ranks < 1:
            _fail(where, 'ranks: give a positive number of ChainerMN processes')
        if ranks > 1 and 'communicator' not in cflags and 'communicator' not in shared:
            cflags['communicator'] = 'naive'  # CPU default; GPU studies name theirs
        merged = dict(shared, **cflags)
        base = _to_argv(where, merged, index)
        for seed in seeds:
            argv = base + ['--seed', str(seed), '-p', '{}_s{}'.format(cname, seed)]
            runs.append(RunSpec(cname, seed, argv, _validated(where, argv), ranks))
    return Study(path, name, text, runs, str(data.get('description') or ''))
