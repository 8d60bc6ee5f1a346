"""Smaller promises kept: both flag spellings, refused conv options, cosine resume, help text."""
import json
import os
import subprocess
import sys

import pytest

from test_train_support import ROOT

CLIS = ('train.py', 'plot.py', 'evaluate.py', 'predict.py', 'dataset.py')


def test_every_long_option_takes_both_spellings():
    from chainer_compare.errors import ArgumentParser
    p = ArgumentParser(prog='x')
    p.add_argument('--batch_size', type=int, default=1, help='h')
    p.add_argument('--no-fast-cpu', dest='fast_cpu', action='store_false', help='h')
    p.add_argument('--group-by', default=None, help='h')
    for argv in (['--batch_size', '4', '--no-fast-cpu', '--group-by', 'm'],
                 ['--batch-size', '4', '--no_fast_cpu', '--group_by', 'm']):
        args = p.parse_args(argv)
        assert (args.batch_size, args.fast_cpu, args.group_by) == (4, False, 'm')
    # --help documents one spelling: the one the code names
    text = p.format_help()
    assert '--batch_size' in text and '--batch-size' not in text
    assert '--no-fast-cpu' in text and '--no_fast_cpu' not in text


def test_train_flags_both_spellings():
    from chainer_compare.training import config
    a = config.parse_args(['--batch-size', '32', '--lr-decay-iter', '5', '--no_fast_cpu',
                           '--train-size', '10'])
    b = config.parse_args(['--batch_size', '32', '--lr_decay_iter', '5', '--no-fast-cpu',
                           '--train_size', '10'])
    assert vars(a) == vars(b) and a.batch_size == 32 and not a.fast_cpu


@pytest.mark.parametrize('script, argv', [
    ('train.py', ['--batch-size', '0']), ('train.py', ['--no_fast_cpu', '-m', 'nope']),
    ('plot.py', ['--group_by', 'model', '--log_epochs', 'NOWHERE']),
    ('evaluate.py', ['NOWHERE', '--batch_size', '8', '--model_file', 'm.npz']),
    ('predict.py', ['NOWHERE', 'x.png', '--top_k', '2', '--model_file', 'm.npz']),
    ('dataset.py', ['--zca_eps', '0.1', '--skip_verify', '--no_download', '--archive',
                    'NOWHERE'])])
def test_each_cli_accepts_the_other_spelling(script, argv, tmp_path):
    # The flags parse; the run then stops on the missing input, with its own message.
    argv = [str(tmp_path / 'missing') if a == 'NOWHERE' else a for a in argv]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'src', script)] + argv,
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
                          env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, 'src')))
    assert proc.returncode != 0
    assert 'unrecognized arguments' not in proc.stderr, proc.stderr
    assert 'missing' in proc.stderr or 'must be' in proc.stderr or 'nope' in proc.stderr, \
        proc.stderr


def test_plot_group_by_help_names_every_ignored_arg():
    from chainer_compare.reporting.summary import DEFAULT_IGNORED_ARGS
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'src', 'plot.py'), '--help'],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, 'src')))
    help_text = ' '.join(proc.stdout.split())
    for name in DEFAULT_IGNORED_ARGS:
        assert name in help_text, name


@pytest.mark.parametrize('option', [{'dilate': 2}, {'groups': 2}])
def test_convolution_refuses_options_it_would_ignore(option):
    from chainer_compare.models import ops
    with pytest.raises(ValueError, match=list(option)[0]):
        ops.Convolution2D(4, 8, 3, pad=1, **option)
    ops.Convolution2D(4, 8, 3, pad=1, dilate=1, groups=1)  # the defaults are fine


def test_resume_with_another_iter_is_refused_for_cosine(tmp_path, monkeypatch):
    from chainer_compare.errors import UserError
    from chainer_compare.training import config, resume
    run = tmp_path / 'results' / 'cos'
    run.mkdir(parents=True)
    saved = vars(config.parse_args(['--lr_shape', 'cosine', '--iter', '4', '-p', 'cos']))
    saved = {k: v for k, v in saved.items() if k not in ('explicit', 'resume')}
    (run / 'args').write_text(json.dumps(saved))
    (run / 'snapshot').write_bytes(b'')
    monkeypatch.chdir(str(tmp_path))
    with pytest.raises(UserError, match='--iter.*cosine'):
        resume.resumed_args(config.parse_args(['--resume', 'results/cos', '--iter', '8']))
    # The same --iter, or the multistep shape, may be resumed
    assert resume.resumed_args(config.parse_args(['--resume', 'results/cos', '--iter', '4'])).iter == 4


def test_no_unused_pickle_writer():
    from chainer_compare import safeio
    assert not hasattr(safeio, 'atomic_pickle')
