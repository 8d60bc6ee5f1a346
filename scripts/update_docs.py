#!/usr/bin/env python
"""Regenerate the measured-figure tables in README.md and docs/ from the results files.

Every measured figure the docs quote comes from a committed results file with
a provenance sidecar (command, date, commit, machine): bench/results.csv +
bench/results.provenance.json (``make bench``), bench/results-gpu.csv +
bench/results-gpu.provenance.json (``bench/run_bench.py --gpu 0``).  The tables
sit between ``<!-- table:NAME:start -->`` and ``<!-- table:NAME:end -->``
markers and are only ever written by this script, so a figure cannot drift
from its file; tests/test_docs_tables.py regenerates them and compares.

    python scripts/update_docs.py           # rewrite the tables after a new make bench
    python scripts/update_docs.py --check   # exit 1 naming each table that is out of date
"""
import argparse
import collections
import csv
import importlib.util
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU_RESULTS = 'bench/results.csv'
GPU_RESULTS = 'bench/results-gpu.csv'
FASHION_STUDY = 'docs/results/fashion-mnist-study.json'  # python src/study.py export
ZALANDO_2CONV_BN = 93.4  # published test accuracy (%), Zalando's Fashion-MNIST benchmark


def _bench_models():
    """bench/bench_models.py's rows (the names run_bench.py writes in the CSV's ``model``)."""
    spec = importlib.util.spec_from_file_location(
        'bench_models', os.path.join(ROOT, 'bench', 'bench_models.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BENCH_MODELS


#: (CSV model name, docs label) in table order; `residual` is run_bench.py's
#: default res_depth 3, ResNet-20.  A results file from before a row existed
#: (e.g. no ResNet-74) simply lacks it: the tables leave that row out.
MODELS = tuple((name, spec.label) for name, spec in _bench_models().items())

Results = collections.namedtuple('Results', 'path rows provenance')


def load_results(relative_path, root=ROOT):
    """The rows of a results CSV and its provenance sidecar (``X.provenance.json``)."""
    path = os.path.join(root, relative_path)
    sidecar = path[:-len('.csv')] + '.provenance.json'
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    with open(sidecar) as f:
        provenance = json.load(f)
    missing = {'command', 'date', 'commit', 'machine'} - set(provenance)
    if missing:
        raise SystemExit('{}: provenance lacks {}'.format(sidecar, ', '.join(sorted(missing))))
    return Results(relative_path, rows, provenance)


def _row(results, **match):
    for row in results.rows:
        if all(row[k] == v for k, v in match.items()):
            return row
    raise SystemExit('{}: no row with {}'.format(results.path, match))


def train_rate(results, model, variant, section='train'):
    """images/s of a ``train`` row (or, with ``section='eval'``, an inference row)."""
    return float(_row(results, section=section, model=model, variant=variant)['images_per_s'])


def has_rows(results, **match):
    return any(all(row.get(k) == v for k, v in match.items()) for row in results.rows)


def models_in(results, section='train'):
    """(model, label) of :data:`MODELS` that ``results`` has ``section`` rows for."""
    return [(m, label) for m, label in MODELS if has_rows(results, section=section, model=m)]


def peak_fraction(results, model, variant, section='train'):
    """Fraction of the GEMM peak, or None in a results file from before it was measured."""
    value = _row(results, section=section, model=model, variant=variant).get('peak_fraction')
    return float(value) if value else None


def gemm_line(results):
    """The GEMM-peak sentence, or '' when ``results`` has no ``gemm`` section."""
    gemm = [row for row in results.rows if row['section'] == 'gemm']
    if not gemm:
        return ''
    sizes = ', '.join('{} {:.1f}'.format(row['variant'], float(row['gflop_per_s']))
                      for row in gemm if row['variant'] != 'peak')
    return ('GEMM peak {:.1f} GFLOP/s (float32 `numpy.matmul`, {} GFLOP/s); % of peak = '
            'FLOPs/image (bench/flops.py: 3F - F_first for training, F for inference; '
            'convolutions and linear layers only, counted as direct convolution: Winograd '
            'layers do 2.25x fewer multiply-adds, so (a) can pass 100 %) x images/s / peak.  '
            ''.format(
                float(_row(results, section='gemm', variant='peak')['gflop_per_s']), sizes))


def augment_rate(results, spec):
    return float(_row(results, section='augment', variant=spec)['images_per_s'])


def data_stage(results):
    """(wall seconds, peak RSS GB, training images, test images) of the data-stage row."""
    row = _row(results, section='data')
    note = dict(part.split('=', 1) for part in row['note'].split())
    return (float(row['median_step_s']), float(note['peak_rss_gb']), int(row['batch']),
            int(note['n_test']))


def source_line(results):
    p = results.provenance
    return '`{}`: `{}`, {}, commit {}, {}.'.format(
        results.path, p['command'], p['date'], p['commit'][:7], p['machine'])


def readme_speed(cpu, gpu):
    wall, rss, n_train, n_test = data_stage(cpu)
    training_cpu = '; '.join(
        '{} {:,.0f} / {:,.0f} / {:,.0f} images/s ({:.2f}× stock, {:.2f}× PyTorch)'.format(
            label, train_rate(cpu, m, 'fast'), train_rate(cpu, m, 'stock'),
            train_rate(cpu, m, 'torch'), train_rate(cpu, m, 'fast') / train_rate(cpu, m, 'stock'),
            train_rate(cpu, m, 'fast') / train_rate(cpu, m, 'torch'))
        for m, label in models_in(cpu))
    training_gpu = '; '.join('{} {:,.0f} / {:,.0f} images/s'.format(
        label, train_rate(gpu, m, 'cupy'), train_rate(gpu, m, 'torch_cuda'))
        for m, label in models_in(gpu))
    lines = [
        '| what | figure | file |', '|---|---|---|',
        '| data stage, CIFAR-10-sized random data ({:,} + {:,} images, all four pickles), CPU '
        '| {:.1f} s wall, peak RSS {:.2f} GB | `{}` |'.format(n_train, n_test, wall, rss, cpu.path),
        '| training, batch 128, CPU: this project vs stock Chainer vs PyTorch | {} | `{}` |'
        .format(training_cpu, cpu.path),
        '| training, batch 128, GPU: Chainer on CuPy (no cuDNN) vs PyTorch CUDA | {} | `{}` |'
        .format(training_gpu, gpu.path)]
    if models_in(cpu, 'eval'):
        lines.append(
            '| inference (test mode), batch 128, CPU: this project vs stock Chainer vs PyTorch '
            '| {} | `{}` |'.format('; '.join(
                '{} {:,.0f} / {:,.0f} / {:,.0f} images/s'.format(
                    label, *(train_rate(cpu, m, v, 'eval') for v in ('fast', 'stock', 'torch')))
                for m, label in models_in(cpu, 'eval')), cpu.path))
    lines += [
        '| augmentation `crop,flip`, batch 128 | {:,.0f} images/s on the CPU, {:,.0f} on the GPU '
        '| `{}`, `{}` |'.format(augment_rate(cpu, 'crop,flip'), augment_rate(gpu, 'crop,flip'),
                               cpu.path, gpu.path),
        '', 'Sources (command, date, code commit, machine):', '',
        '- ' + source_line(cpu), '- ' + source_line(gpu)]
    return '\n'.join(lines)


def _cpu_table(cpu, section):
    """(a)/(b)/(c) images/s of ``section``, with % of the GEMM peak when it was measured."""
    peaks = has_rows(cpu, section='gemm', variant='peak')
    head = '| model | (a) this project | (b) stock Chainer | (c) PyTorch | (a)/(b) | (a)/(c) |'
    head += ' (a) % of peak | (c) % of peak |' if peaks else ''
    lines = [head, '|---|' + '---:|' * (head.count('|') - 2)]
    for model, label in models_in(cpu, section):
        fast, stock, torch = (train_rate(cpu, model, v, section)
                              for v in ('fast', 'stock', 'torch'))
        line = '| {} | {:.1f} | {:.1f} | {:.1f} | {:.2f}x | {:.2f}x |'.format(
            label, fast, stock, torch, fast / stock, fast / torch)
        if peaks:
            fractions = (peak_fraction(cpu, model, v, section) for v in ('fast', 'torch'))
            line += ''.join(' - |' if f is None else ' {:.1f} % |'.format(100 * f)
                            for f in fractions)
        lines.append(line)
    return lines


def speed_cpu(cpu):
    lines = _cpu_table(cpu, 'train')
    lines += ['', 'images/s; augmentation `crop,flip` (batch 128) {:,.0f} images/s, {:.0f}x '
              'the `cnn` training throughput.  {}From {}'.format(
                  augment_rate(cpu, 'crop,flip'),
                  augment_rate(cpu, 'crop,flip') / train_rate(cpu, 'cnn', 'fast'),
                  gemm_line(cpu), source_line(cpu))]
    if models_in(cpu, 'eval'):
        lines += ['', 'Inference (test mode, no graph; batch 128, as the Evaluator runs it), '
                  'images/s, from the same run:', ''] + _cpu_table(cpu, 'eval')
    return '\n'.join(lines)


def speed_gpu(gpu):
    lines = ['| model | Chainer (CuPy 14, no cuDNN) | PyTorch CUDA | ratio |',
             '|---|---:|---:|---:|']
    for model, label in models_in(gpu):
        chainer, torch = train_rate(gpu, model, 'cupy'), train_rate(gpu, model, 'torch_cuda')
        lines.append('| {} | {:,.0f} | {:,.0f} | {:.2f}x |'.format(
            label, chainer, torch, chainer / torch))
    lines += ['', 'images/s; augmentation on the GPU: `crop,flip` {:,.0f} images/s, `rotate` '
              '{:,.0f}.  From {}'.format(augment_rate(gpu, 'crop,flip'),
                                          augment_rate(gpu, 'rotate'), source_line(gpu))]
    return '\n'.join(lines)


def data_table(cpu):
    wall, rss, n_train, n_test = data_stage(cpu)
    return '\n'.join([
        '| data | wall time | peak RSS |', '|---|---:|---:|',
        '| random CIFAR-10-format archive, {:,} + {:,} images, all four pickles | {:.1f} s '
        '| {:.2f} GB |'.format(n_train, n_test, wall, rss),
        '', 'From ' + source_line(cpu)])


def fashion_mnist_study(root=ROOT):
    """README table: the full-budget Fashion-MNIST study's runs beside Zalando's figure."""
    with open(os.path.join(root, FASHION_STUDY)) as f:
        study = json.load(f)
    prov = study['provenance']
    lines = ['| run | epochs | best (validation) epoch | validation error | test error at best '
             '| test accuracy at best | wall time | images/s (training) |',
             '|---|---:|---:|---:|---:|---:|---:|---:|']
    for run in study['runs']:
        s = run['summary'] or {}
        if s.get('status') != 'finished':
            lines.append('| `{}` | {} so far | | | | | | |'.format(
                run['run'], len(run['curve'])))
            continue
        lines.append('| `{}` | {} | {} | {:.2f} % | {:.2f} % | **{:.2f} %** (Zalando 2 conv + '
                     'pooling + BN: {} %) | {:.0f} min | {:.0f} |'.format(
                         run['run'], s['epochs'], s['best_epoch'],
                         100 * s['best_validation_error'], 100 * s['test_error_at_best'],
                         100 - 100 * s['test_error_at_best'], ZALANDO_2CONV_BN,
                         s['wall_time_s'] / 60, s['images_per_s']))
    commit = prov['commit'] if isinstance(prov['commit'], str) else ', '.join(prov['commit'])
    lines += ['', 'From `{}`: `{}`, run {} … {}, commit {}, {} ({}).'.format(
        FASHION_STUDY, prov['command'], study['runs'][0]['start_time'][:16],
        (study['runs'][-1]['end_time'] or 'unfinished')[:16], commit[:7],
        ', '.join(prov['machine']['hosts']), ', '.join(prov['machine']['devices']))]
    return '\n'.join(lines)


def tables(root=ROOT):
    """{(document, table name): generated Markdown}."""
    cpu, gpu = load_results(CPU_RESULTS, root), load_results(GPU_RESULTS, root)
    return {('README.md', 'speed'): readme_speed(cpu, gpu),
            ('docs/speed.md', 'speed-cpu'): speed_cpu(cpu),
            ('docs/speed.md', 'speed-gpu'): speed_gpu(gpu),
            ('docs/data.md', 'data-stage'): data_table(cpu),
            ('README.md', 'fashion-mnist'): fashion_mnist_study(root)}


def replace_table(text, name, content, document):
    """``text`` with the block between ``name``'s markers replaced by ``content``."""
    pattern = re.compile(r'(<!-- table:{0}:start -->).*?(<!-- table:{0}:end -->)'.format(
        re.escape(name)), re.S)
    if len(pattern.findall(text)) != 1:
        raise SystemExit('{}: needs exactly one <!-- table:{}:start --> ... end --> pair'.format(
            document, name))
    return pattern.sub(lambda m: '{}\n{}\n{}'.format(m.group(1), content, m.group(2)), text)


def regenerated(root=ROOT):
    """{document: (current text, regenerated text)} for every document with tables."""
    out = {}
    for (document, name), content in tables(root).items():
        if document not in out:
            with open(os.path.join(root, document), encoding='utf-8') as f:
                text = f.read()
            out[document] = (text, text)
        current, new = out[document]
        out[document] = (current, replace_table(new, name, content, document))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='change nothing; exit 1 naming each document whose tables differ '
                             'from what the results files give')
    args = parser.parse_args(argv)
    stale = []
    for document, (current, new) in sorted(regenerated().items()):
        if current == new:
            continue
        stale.append(document)
        if not args.check:
            sys.path.insert(0, os.path.join(ROOT, 'src'))
            from chainer_compare.safeio import atomic_write_text
            atomic_write_text(os.path.join(ROOT, document), new)
            print('updated', document)
    if args.check and stale:
        print('update_docs: out of date: {}; run python scripts/update_docs.py'.format(
            ', '.join(stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
