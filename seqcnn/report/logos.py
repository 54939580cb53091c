"""Sequence logos (logomaker): information-scaled letters, as PNG bytes or files.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas directly (no pyplot), so no
global state or display is touched.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqcnn.atomic import atomic_path
from seqcnn.motifs.pwm import as_pwm, information_content


def information_matrix(pwm: np.ndarray) -> pd.DataFrame:
    """Letter heights in bits, ``p_b * IC`` per position: a DataFrame ``(L, 4)`` with columns A C G T."""
    p = as_pwm(pwm)
    return pd.DataFrame(p * information_content(p)[:, None], columns=list("ACGT"))


def logo_figure(pwm: np.ndarray, *, title: str | None = None, height: float = 1.5,
                width_per_position: float = 0.32) -> Figure:
    """An information-scaled logo of ``pwm`` ``(L, 4)`` on a 0-2 bit axis."""
    import logomaker

    heights = information_matrix(pwm)
    fig = Figure(figsize=(max(1.6, width_per_position * len(heights) + 0.6), height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    with warnings.catch_warnings():  # an all-zero-information matrix makes logomaker warn about ylims
        warnings.simplefilter("ignore", UserWarning)
        logomaker.Logo(heights, ax=ax, color_scheme="classic", show_spines=False)
    ax.set_ylim(0, 2)
    ax.set_yticks([0, 1, 2])
    ax.set_ylabel("bits", fontsize=8)
    ax.set_xticks([])
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout(pad=0.2)
    return fig


def logo_png(pwm: np.ndarray, *, title: str | None = None, dpi: int = 100, **kwargs) -> bytes:
    """The logo of ``pwm`` ``(L, 4)`` as PNG bytes."""
    buffer = io.BytesIO()
    logo_figure(pwm, title=title, **kwargs).savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_logo(pwm: np.ndarray, path: str | Path, *, title: str | None = None, dpi: int = 100) -> Path:
    """Write the logo of ``pwm`` ``(L, 4)`` to ``path`` (PNG, atomically); returns the path."""
    data = logo_png(pwm, title=title, dpi=dpi)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)
