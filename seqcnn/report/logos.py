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
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqcnn.io.atomic import atomic_path
from seqcnn.motifs.pwm import as_pwm, information_content, reverse_complement
from seqcnn.progress import progress_bar

LOGOS_PER_WORKER = 12  # a worker starts in ~1.3 s (matplotlib, logomaker), about 4 logos' time


def information_matrix(pwm: np.ndarray) -> pd.DataFrame:
    """Letter heights in bits, ``p_b * IC`` per position.

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities (or counts).

    Returns
    -------
    pd.DataFrame
        ``(L, 4)`` with columns A C G T.
    """
    p = as_pwm(pwm)
    return pd.DataFrame(p * information_content(p)[:, None], columns=list("ACGT"))


def logo_figure(pwm: np.ndarray, *, title: str | None = None, height: float = 1.5,
                width_per_position: float = 0.32) -> Figure:
    """An information-scaled logo on a 0-2 bit axis.

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities.
    title
        Title above the logo.
    height
        Figure height in inches.
    width_per_position
        Inches per position.

    Returns
    -------
    Figure
        The logo.
    """
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
    """The logo of ``pwm`` as PNG bytes.

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities.
    title
        Title above the logo.
    dpi
        Resolution.
    **kwargs
        Passed to :func:`logo_figure`.

    Returns
    -------
    bytes
        The PNG file's contents.
    """
    buffer = io.BytesIO()
    logo_figure(pwm, title=title, **kwargs).savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_logo(pwm: np.ndarray, path: str | Path, *, title: str | None = None, dpi: int = 100) -> Path:
    """Write the logo of ``pwm`` to ``path`` (PNG, atomically).

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities.
    path
        The PNG file.
    title
        Title above the logo.
    dpi
        Resolution.

    Returns
    -------
    Path
        ``path``.
    """
    data = logo_png(pwm, title=title, dpi=dpi)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)


def logo_pngs(jobs: Sequence[tuple[np.ndarray, str | None]], *, dpi: int = 100, workers: int | None = None,
              progress: bool = False) -> list[bytes]:
    """PNG bytes of the logo of every ``(pwm (L, 4), title)`` in ``jobs``, in order.

    With enough logos (``LOGOS_PER_WORKER`` a worker) they are drawn by up to ``workers`` processes
    (default: one per usable CPU); otherwise, or where no process can be started, in this process.

    Parameters
    ----------
    jobs
        ``(pwm (L, 4), title)`` pairs.
    dpi
        Resolution.
    workers
        Most worker processes (None: one per usable CPU).
    progress
        Show a progress bar.

    Returns
    -------
    list[bytes]
        One PNG per job, in order.
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


def motif_logo_pngs(
    named_pwms: Sequence[tuple[str, np.ndarray]], matches: pd.DataFrame, targets: Sequence[Any], *,
    progress: bool = False,
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Logos of motifs and of their best matches, all drawn in one :func:`logo_pngs` call.

    Parameters
    ----------
    named_pwms
        ``(name, pwm (L, 4))`` of every motif.
    matches
        Their match table (``seqcnn.motifs.annotate.MATCH_COLUMNS``; queries named as in
        ``named_pwms``).
    targets
        The target motifs the matches refer to (``id``, ``name``, ``pwm``).
    progress
        Show a progress bar.

    Returns
    -------
    tuple[dict[str, bytes], dict[str, bytes]]
        PNGs keyed ``NAME`` and ``NAME_rc`` (reverse complement) of every motif, and, keyed by motif
        name, the logo of its best match in the orientation it matched.
    """
    from seqcnn.motifs.annotate import best_matches

    jobs, own_keys = [], []
    for name, pwm in named_pwms:
        jobs += [(pwm, name), (reverse_complement(pwm), f"{name} (reverse complement)")]
        own_keys += [name, f"{name}_rc"]
    by_id = {str(t.id or t.name): t for t in targets}
    best = best_matches(matches)
    match_keys: dict[tuple[str, str], int] = {}  # (target, orientation) -> index into jobs
    for _, hit in best.iterrows():
        key = (hit.target_id, hit.orientation)
        if key not in match_keys and hit.target_id in by_id:
            pwm = by_id[hit.target_id].pwm
            match_keys[key] = len(jobs)
            jobs.append((reverse_complement(pwm) if hit.orientation == "-" else pwm,
                         f"{hit.target_id} {hit.target_name} ({hit.orientation})"))
    pngs = logo_pngs(jobs, progress=progress)
    own = dict(zip(own_keys, pngs[:len(own_keys)], strict=True))
    by_query = {name: pngs[match_keys[(hit.target_id, hit.orientation)]] for name, hit in best.iterrows()
                if (hit.target_id, hit.orientation) in match_keys}
    return own, by_query
