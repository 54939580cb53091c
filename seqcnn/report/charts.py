"""Small charts for reports, as figures or PNG bytes: filter influence bars."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """A figure as PNG bytes.

    Parameters
    ----------
    fig
        The figure.
    dpi
        Resolution.

    Returns
    -------
    bytes
        The PNG file's contents.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def influence_figure(names: Sequence[str], values: Sequence[float] | np.ndarray) -> Figure:
    """Bar chart of filter influences (mean prediction drop when a filter is silenced), in the given order.

    Parameters
    ----------
    names
        Filter names (``filterK``; the bars are labelled ``K``).
    values
        One influence per filter.

    Returns
    -------
    Figure
        The chart.
    """
    fig = Figure(figsize=(max(4.0, 0.28 * len(names) + 1.2), 2.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(range(len(names)), list(values), color="#4477aa")
    ax.set_xticks(range(len(names)), [n.removeprefix("filter") for n in names], fontsize=7, rotation=90)
    ax.set_xlabel("filter", fontsize=8)
    ax.set_ylabel("mean prediction drop", fontsize=8)
    ax.axhline(0, color="black", linewidth=0.5)
    fig.tight_layout(pad=0.3)
    return fig
