"""Matplotlib (Agg) figures: error and loss curves per configuration, seed-004 bars."""
import io

import matplotlib
matplotlib.use('Agg')  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from chainer_compare.safeio import atomic_write  # noqa: E402

PANELS = (('validation_error', 'validation error (%)', 100.0),
          ('test_error', 'test error (%)', 100.0),
          ('train_loss', 'training loss (cross-entropy)', 1.0))


def mean_curve(runs, name):
    """(epochs, mean, std) over the runs at each epoch; std is NaN where n < 2.

    Runs of a seed group may have reached different epochs (one still running):
    each epoch averages the runs that logged it.
    """
    by_epoch = {}
    for run in runs:
        for epoch, value in zip(run.curves['epoch'], run.curves[name]):
            if value is not None:
                by_epoch.setdefault(epoch, []).append(value)
    epochs = np.array(sorted(by_epoch), dtype=np.float64)
    values = [np.array(by_epoch[e], dtype=np.float64) for e in epochs]
    mean = np.array([v.mean() for v in values])
    std = np.array([v.std(ddof=1) if len(v) > 1 else np.nan for v in values])
    return epochs, mean, std


def curves_figure(configs, log_epochs=False):
    """Three panels side by side, one colour per configuration, legend outside."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2), constrained_layout=True)
    colours = plt.get_cmap('tab10' if len(configs) <= 10 else 'tab20').colors
    for index, config in enumerate(configs):
        colour = colours[index % len(colours)]
        label = '{} (n={})'.format(config.label, len(config.runs))
        for ax, (name, _, scale) in zip(axes, PANELS):
            epochs, mean, std = mean_curve(config.runs, name)
            if len(epochs) == 0:
                continue
            ax.plot(epochs, mean * scale, color=colour, lw=1.6, label=label,
                    marker='o' if len(epochs) == 1 else None)
            band = ~np.isnan(std)
            if band.any():
                ax.fill_between(epochs[band], (mean - std)[band] * scale,
                                (mean + std)[band] * scale, color=colour, alpha=0.2, lw=0)
    for ax, (_, ylabel, _) in zip(axes, PANELS):
        ax.set_xlabel('epoch' + (' (log scale)' if log_epochs else ''))
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if log_epochs:
            ax.set_xscale('log')
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title('validation error (picks the best epoch)')
    axes[1].set_title('test error')
    axes[2].set_title('training loss')
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc='outside right upper', fontsize=8,
               title='configuration (n = runs)' + ('; band = mean \u00b1 std' if any(
                   len(c.runs) > 1 for c in configs) else ''), title_fontsize=8)
    return fig


def reference_figure(pairs, title):
    """Bars: published error beside ours (mean ± std over seeds) per configuration."""
    fig, ax = plt.subplots(figsize=(10, 4.5), constrained_layout=True)
    x = np.arange(len(pairs))
    ax.bar(x - 0.2, [p for _, p, _ in pairs], 0.4, color='0.65', label='published (seed 004)')
    ours = [(i, s) for i, (_, _, s) in enumerate(pairs) if s is not None and s.n]
    if ours:
        ax.bar([i + 0.2 for i, _ in ours], [s.mean * 100 for _, s in ours], 0.4,
               yerr=[(s.std or 0) * 100 for _, s in ours], capsize=3, color='tab:blue',
               label='this project: test error at best epoch (mean \u00b1 std)')
    for i, (_, _, stat) in enumerate(pairs):
        if stat is None or not stat.n:
            ax.text(i + 0.2, 0.5, 'not run', rotation=90, ha='center', va='bottom', fontsize=8)
    ax.set_xticks(x, [name for name, _, _ in pairs], rotation=20, ha='right')
    ax.set_ylabel('test error (%)')
    ax.set_title(title)
    ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.grid(True, axis='y', alpha=0.3)
    return fig


def png_bytes(fig, dpi=110):
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def save_png(data, path):
    with atomic_write(path) as f:
        f.write(data)
