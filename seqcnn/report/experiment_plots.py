"""Figures of in-silico experiments (``seqcnn.interpret.experiments``): arrays in, figures or files out.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot state) and written by
``seqcnn.report.maps.save_figure``, whose format follows the extension (``.png``, ``.svg``, ``.pdf``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqcnn.errors import InputError
from seqcnn.report.maps import save_figure


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def effect_distribution_figure(values: np.ndarray, tasks: Sequence[str], *, title: str | None = None,
                               ylabel: str = "change of output") -> Figure:
    """Box plots of per-sequence effects, one box per task, with every value drawn as a point.

    Parameters
    ----------
    values
        ``(N, T)`` effects (e.g. ``Marginalization.change`` or ``Ablation.loss``).
    tasks
        ``T`` task names.
    title
        Title above the plot.
    ylabel
        Label of the value axis.

    Returns
    -------
    Figure
        The plot.

    Raises
    ------
    InputError
        ``values`` not ``(N, T)`` with one name per column.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(tasks) or values.shape[0] == 0:
        raise InputError(f"effects must be (N, T) with {len(tasks)} task name(s), got shape {values.shape}")
    fig = _figure(max(3.0, 0.55 * len(tasks) + 1.5), 3.0)
    ax = fig.add_subplot()
    positions = np.arange(1, len(tasks) + 1)
    ax.boxplot(values, positions=positions, widths=0.6, showfliers=False)
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, size=values.shape)
    ax.scatter((positions + jitter).ravel(), values.ravel(), s=4, alpha=0.35, color="#4477aa", linewidths=0)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(positions, list(tasks), rotation=90 if len(tasks) > 6 else 0, fontsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def spacing_figure(distances: np.ndarray, cooperativity: np.ndarray, tasks: Sequence[str], *,
                   sd: np.ndarray | None = None, title: str | None = None) -> Figure:
    """Cooperativity against distance, one line per task (with a +-1 sd band when given).

    Parameters
    ----------
    distances
        ``(D,)`` bases between the two motifs.
    cooperativity
        ``(D, T)`` mean effect of the pair minus the sum of the singles' effects.
    tasks
        ``T`` task names.
    sd
        ``(D, T)`` standard deviations over backgrounds, or None.
    title
        Title above the plot.

    Returns
    -------
    Figure
        The plot.

    Raises
    ------
    InputError
        Shapes that do not agree.
    """
    distances = np.asarray(distances)
    curve = np.asarray(cooperativity, dtype=float)
    if curve.ndim != 2 or curve.shape != (len(distances), len(tasks)):
        raise InputError(f"cooperativity must be (D, T) = ({len(distances)}, {len(tasks)}), "
                         f"got {curve.shape}")
    fig = _figure(5.0 + (0.9 if len(tasks) <= 12 else 0), 3.0)
    ax = fig.add_subplot()
    for t, task in enumerate(tasks):
        line = ax.plot(distances, curve[:, t], marker="o", markersize=2.5, linewidth=1, label=task)[0]
        if sd is not None:
            ax.fill_between(distances, curve[:, t] - sd[:, t], curve[:, t] + sd[:, t],
                            color=line.get_color(), alpha=0.15, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("distance between the motifs (bases)", fontsize=8)
    ax.set_ylabel("pair effect - sum of singles", fontsize=8)
    ax.tick_params(labelsize=7)
    if len(tasks) <= 12:
        ax.legend(fontsize=6, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def plot_effects(values: np.ndarray, tasks: Sequence[str], path: str | Path, **kwargs) -> Path:
    """Write :func:`effect_distribution_figure` to ``path`` (``.png``, ``.svg`` or ``.pdf``), atomically.

    Returns
    -------
    Path
        ``path``.
    """
    return save_figure(effect_distribution_figure(values, tasks, **kwargs), path)


def plot_spacing(distances: np.ndarray, cooperativity: np.ndarray, tasks: Sequence[str], path: str | Path,
                 **kwargs) -> Path:
    """Write :func:`spacing_figure` to ``path`` (``.png``, ``.svg`` or ``.pdf``), atomically.

    Returns
    -------
    Path
        ``path``.
    """
    return save_figure(spacing_figure(distances, cooperativity, tasks, **kwargs), path)
