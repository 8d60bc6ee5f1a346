"""Evaluate a trained run on its dataset's test split: error, per class, confusions, mistakes.

Outputs go to ``<run>/evaluation/`` (a new subdirectory: the run's own files
are never touched) or to ``--out``: ``evaluation.json``, ``per_class.md``,
``confusion.png`` and ``mistakes.png``.
"""
import json
import os

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402

from chainer_compare.data.samples import to_display  # noqa: E402
from chainer_compare.reporting.inference import load_trained_run  # noqa: E402
from chainer_compare.reporting.plots import png_bytes, save_png  # noqa: E402
from chainer_compare.reporting.summary import markdown_table  # noqa: E402
from chainer_compare.safeio import atomic_write_text  # noqa: E402


def confusion_matrix(labels, predictions, n_classes):
    """counts[true, predicted]."""
    counts = numpy.zeros((n_classes, n_classes), numpy.int64)
    numpy.add.at(counts, (labels, predictions), 1)
    return counts


def per_class_rows(counts, class_names):
    rows = []
    for i, name in enumerate(class_names):
        total = int(counts[i].sum())
        wrong = total - int(counts[i, i])
        confused = numpy.argsort(-numpy.where(numpy.arange(len(counts)) == i, -1, counts[i]))[0]
        rows.append([i, name, total, wrong, '{:.2f}'.format(100.0 * wrong / total) if total
                     else '\u2013', class_names[confused] if wrong else '\u2013'])
    return rows


def confusion_figure(counts, class_names, title):
    n = len(class_names)
    size = max(5.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size), constrained_layout=True)
    rates = counts / numpy.maximum(counts.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(rates * 100, cmap='Blues', vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, label='% of the true class')
    if n <= 20:  # counts are unreadable beyond that
        for (i, j), value in numpy.ndenumerate(counts):
            ax.text(j, i, str(value), ha='center', va='center', fontsize=7,
                    color='white' if rates[i, j] > 0.5 else 'black')
    ticks = numpy.arange(n) if n <= 20 else numpy.arange(0, n, max(1, n // 20))
    ax.set_xticks(ticks, [class_names[t] for t in ticks], rotation=60, ha='right', fontsize=8)
    ax.set_yticks(ticks, [class_names[t] for t in ticks], fontsize=8)
    ax.set_xlabel('predicted class')
    ax.set_ylabel('true class')
    ax.set_title(title)
    return fig


def mistakes_figure(images, labels, probs, class_names, count=25):
    """The ``count`` wrong predictions made with the highest confidence."""
    predicted = probs.argmax(axis=1)
    wrong = numpy.flatnonzero(predicted != labels)
    order = wrong[numpy.argsort(-probs[wrong, predicted[wrong]], kind='stable')][:count]
    cols = 5
    rows = max(1, -(-len(order) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.2, rows * 2.5), squeeze=False,
                             constrained_layout=True)
    shown = to_display(images[order], rescale=True) if len(order) else []
    for ax in axes.flat:
        ax.axis('off')
    for ax, i, picture in zip(axes.flat, order, shown):
        ax.imshow(picture, interpolation='nearest')
        ax.set_title('true: {}\npredicted: {} ({:.0f}%)'.format(
            class_names[labels[i]], class_names[predicted[i]], 100 * probs[i, predicted[i]]),
            fontsize=8)
    fig.suptitle('Most confident mistakes (images rescaled per image for display)'
                 if len(order) else 'No mistakes on the test split', fontsize=10)
    return fig


def evaluate_run(run_dir, out=None, dataset=None, model_file=None, batch_size=256, gpu=-1):
    """Evaluate; write the files into ``out`` (default ``<run>/evaluation``); return the result."""
    from chainer_compare.data import load_prepared

    trained = load_trained_run(run_dir, dataset, model_file, gpu)
    data = load_prepared(trained.dataset_path)
    probs = trained.probabilities(data.test_x, batch_size)
    labels = numpy.asarray(data.test_y)
    predicted = probs.argmax(axis=1)
    counts = confusion_matrix(labels, predicted, len(trained.class_names))
    error = float((predicted != labels).mean())
    rows = per_class_rows(counts, trained.class_names)
    out = out or os.path.join(run_dir, 'evaluation')
    name = os.path.basename(os.path.normpath(run_dir))
    result = {'run': run_dir, 'model_file': trained.model_path, 'dataset': trained.dataset_path,
              'preprocessing': trained.preprocessing, 'test_images': int(len(labels)),
              'test_error': error, 'confusion_matrix': counts.tolist(),
              'per_class_error': {r[1]: (r[3] / r[2] if r[2] else None) for r in rows}}
    header = ['class id', 'class', 'test images', 'wrong', 'error (%)', 'most often taken for']
    table = markdown_table(header, rows)
    os.makedirs(out, exist_ok=True)
    atomic_write_text(os.path.join(out, 'evaluation.json'), json.dumps(result, indent=2) + '\n')
    atomic_write_text(os.path.join(out, 'per_class.md'), '# {}: test error {:.2f}% on {} images '
                      '({})\n\n{}'.format(name, 100 * error, len(labels),
                                          os.path.basename(trained.model_path), table))
    title = '{} on {} test images: error {:.2f}%'.format(name, len(labels), 100 * error)
    save_png(png_bytes(confusion_figure(counts, trained.class_names, title)),
             os.path.join(out, 'confusion.png'))
    save_png(png_bytes(mistakes_figure(data.test_x, labels, probs, trained.class_names)),
             os.path.join(out, 'mistakes.png'))
    print(table)
    print('{}: test error {:.2f}% ({} of {} wrong) with {}; wrote {}/evaluation.json, '
          'per_class.md, confusion.png, mistakes.png'.format(
              name, 100 * error, int((predicted != labels).sum()), len(labels),
              os.path.basename(trained.model_path), out))
    return result
