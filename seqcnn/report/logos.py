"""Sequence logos (logomaker): information-scaled letters, as PNG bytes or files.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas directly (no pyplot), so no
global state or display is touched. ``logo_pngs`` draws many logos on a pool of worker processes:
logomaker builds each letter as a matplotlib path in pure Python (about 0.35 s a logo here), which
made drawing a motif report's ~100 logos most of ``seqcnn motifs``'s time.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqcnn.io.atomic import atomic_path
from seqcnn.motifs.pwm import as_pwm, information_content
from seqcnn.progress import progress_bar

LOGOS_PER_WORKER = 12  # a worker starts in ~1.3 s (matplotlib, logomaker), about 4 logos' time


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


def logo_pngs(jobs: Sequence[tuple[np.ndarray, str | None]], *, dpi: int = 100, workers: int | None = None,
              progress: bool = False) -> list[bytes]:
    """PNG bytes of the logo of every ``(pwm (L, 4), title)`` in ``jobs``, in order.

    With enough logos (``LOGOS_PER_WORKER`` a worker) they are drawn by up to ``workers`` processes
    (default: one per usable CPU); otherwise, or where no process can be started, in this process.
    """
    tasks = [(pwm, title, dpi) for pwm, title in jobs]
    n_workers = min(workers or _usable_cpus(), len(tasks) // LOGOS_PER_WORKER)
    if n_workers >= 2:
        try:
            with ProcessPoolExecutor(n_workers, mp_context=_start_context()) as pool:
                drawn = pool.map(_draw, tasks, chunksize=2)
                return list(progress_bar(drawn, enabled=progress, total=len(tasks), desc="logos"))
        except (OSError, BrokenProcessPool):  # no worker processes here (sandbox, no /dev/shm)
            pass
    return [_draw(task) for task in progress_bar(tasks, enabled=progress, desc="logos")]


def _draw(task: tuple[np.ndarray, str | None, int]) -> bytes:
    pwm, title, dpi = task
    return logo_png(pwm, title=title, dpi=dpi)


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _start_context() -> multiprocessing.context.BaseContext:
    """A fresh-interpreter start method: forking a process that runs torch's thread pools can deadlock."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
