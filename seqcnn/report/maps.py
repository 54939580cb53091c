"""Figures of what a model looks at: mutation maps, attribution logos, image overlays, kernels, projections.

Every ``*_figure`` function returns a ``matplotlib.figure.Figure`` built on the Agg canvas directly
(no pyplot state, no display); every ``plot_*`` function writes it with ``save_figure``, whose format
follows the extension (``.png``, ``.svg``, ``.pdf``), atomically.

- ``mutation_map_figure(delta (4, P), sequence)``: DeepBind-style map (Alipanahi et al. 2015): a
  heat map of the score change of every substitution under a logo whose letter heights are the
  importance of each reference base (by default the largest loss of score over its substitutions).
- ``attribution_logo_figure(contributions (4, L))``: a logo of signed per-base contributions.
- ``image_overlay_figure(image (C, H, W), heat (H, W))``: saliency / Grad-CAM over an image.
- ``kernel_grid_figure``, ``activation_maps_figure``, ``projections_figure``: first-layer filters,
  feature maps and 2D projections of layer features coloured by class.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqcnn.errors import InputError
from seqcnn.io.atomic import atomic_path

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
ALPHABET = "ACGT"


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` in the format its extension names (png, svg, pdf), atomically.

    Parameters
    ----------
    fig
        The figure.
    path
        The file; ``.png``, ``.svg`` or ``.pdf``.
    dpi
        Resolution (PNG).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        Another extension.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"unknown figure format {path.suffix or '(none)'!r}; use .png, .svg or .pdf",
                         file=str(path))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _bases(sequence: str | np.ndarray, length: int) -> np.ndarray:
    """(P,) reference base index per position (-1 where unknown) from a string or a one-hot (4, P)."""
    if isinstance(sequence, str):
        lookup = {b: i for i, b in enumerate(ALPHABET)} | {"U": 3}
        out = np.array([lookup.get(c, -1) for c in sequence.upper()], dtype=np.int64)
    else:
        arr = np.asarray(sequence)
        if arr.ndim == 1:
            out = arr.astype(np.int64)
        else:
            hot = (arr == 1).sum(0) == 1
            out = np.where(hot, arr.argmax(0), -1)
    if len(out) != length:
        raise InputError(f"sequence has {len(out)} positions, the map {length}")
    return out


def logo_matrix(heights: np.ndarray, bases: np.ndarray) -> pd.DataFrame:
    """Letter heights: ``heights[p]`` on the reference base of position ``p``, 0 elsewhere.

    Parameters
    ----------
    heights
        ``(P,)`` per-position heights.
    bases
        ``(P,)`` reference base index per position (-1 where unknown).

    Returns
    -------
    pd.DataFrame
        ``(P, 4)`` with columns A C G T.
    """
    matrix = np.zeros((len(bases), len(ALPHABET)))
    known = bases >= 0
    matrix[np.flatnonzero(known), bases[known]] = np.asarray(heights)[known]
    return pd.DataFrame(matrix, columns=list(ALPHABET))


def default_importance(delta: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """Largest loss of score over the substitutions of each position (DeepBind's logo heights).

    Parameters
    ----------
    delta
        ``(4, P)`` score changes.
    bases
        ``(P,)`` reference base index per position (-1 where unknown).

    Returns
    -------
    np.ndarray
        ``(P,)``.
    """
    loss = -np.asarray(delta, dtype=float)
    known = bases >= 0
    loss[bases[known], np.flatnonzero(known)] = -np.inf  # the reference base is no substitution
    return np.where(np.isfinite(loss.max(0)), loss.max(0), 0.0)


def _logo(ax: Any, matrix: pd.DataFrame) -> None:
    import logomaker

    with warnings.catch_warnings():  # logomaker warns about flat (all-zero) matrices
        warnings.simplefilter("ignore", UserWarning)
        logomaker.Logo(matrix, ax=ax, color_scheme="classic", show_spines=False, baseline_width=0.5)


def mutation_map_figure(delta: np.ndarray, sequence: str | np.ndarray, *,
                        importance: np.ndarray | None = None, title: str | None = None, start: int = 0,
                        max_width: float = 30.0) -> Figure:
    """DeepBind-style mutation map: a logo of position importance over a heat map of score changes.

    Parameters
    ----------
    delta
        ``(4, P)`` score change of every substitution.
    sequence
        The reference: a string, one-hot ``(4, P)`` or base indices ``(P,)``.
    importance
        ``(P,)`` logo heights (default :func:`default_importance`).
    title
        Title.
    start
        Coordinate of the first position (tick labels).
    max_width
        Widest figure, in inches.

    Returns
    -------
    Figure
        The map.

    Raises
    ------
    InputError
        ``delta`` not ``(4, P)`` or a sequence of another length.
    """
    delta = np.asarray(delta, dtype=float)
    if delta.ndim != 2 or delta.shape[0] != len(ALPHABET):
        raise InputError(f"mutation map needs a (4, P) array, got shape {delta.shape}")
    length = delta.shape[1]
    bases = _bases(sequence, length)
    heights = default_importance(delta, bases) if importance is None else np.asarray(importance, dtype=float)
    fig = _figure(min(max_width, 1.2 + 0.16 * length), 3.0)
    grid = fig.add_gridspec(2, 2, height_ratios=[1.1, 1.0], width_ratios=[60, 1], hspace=0.08, wspace=0.02)
    logo_ax = fig.add_subplot(grid[0, 0])
    _logo(logo_ax, logo_matrix(heights, bases))
    logo_ax.set_xlim(-0.5, length - 0.5)
    logo_ax.set_xticks([])
    logo_ax.set_ylabel("importance", fontsize=7)
    heat_ax = fig.add_subplot(grid[1, 0])
    limit = float(np.abs(delta).max()) or 1.0
    image = heat_ax.imshow(delta, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                           interpolation="nearest")
    known = np.flatnonzero(bases >= 0)
    heat_ax.scatter(known, bases[known], s=2, c="black", marker="o", linewidths=0)
    heat_ax.set_yticks(range(len(ALPHABET)), list(ALPHABET), fontsize=7)
    ticks = np.linspace(0, length - 1, num=min(length, 11)).round().astype(int)
    heat_ax.set_xticks(ticks, [str(t + start) for t in ticks], fontsize=6)
    heat_ax.set_xlim(-0.5, length - 0.5)
    bar = fig.colorbar(image, cax=fig.add_subplot(grid[1, 1]))
    bar.ax.tick_params(labelsize=6)
    bar.set_label("score change", fontsize=6)
    if title:
        logo_ax.set_title(title, fontsize=8)
    return fig


def plot_mutation_map(delta: np.ndarray, sequence: str | np.ndarray, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`mutation_map_figure` to ``path`` (png/svg/pdf).

    Parameters
    ----------
    delta, sequence
        As for :func:`mutation_map_figure`.
    path
        The file.
    **kwargs
        Passed to :func:`mutation_map_figure`.

    Returns
    -------
    Path
        ``path``.
    """
    return save_figure(mutation_map_figure(delta, sequence, **kwargs), path)


def attribution_logo_figure(contributions: np.ndarray, *, title: str | None = None, start: int = 0,
                            max_width: float = 30.0) -> Figure:
    """Logo of signed per-base contributions.

    Parameters
    ----------
    contributions
        ``(4, L)``, e.g. ``Attribution.actual[i]``.
    title
        Title.
    start
        Coordinate of the first position (tick labels).
    max_width
        Widest figure, in inches.

    Returns
    -------
    Figure
        The logo.

    Raises
    ------
    InputError
        An array that is not ``(4, L)``.
    """
    contributions = np.asarray(contributions, dtype=float)
    if contributions.ndim != 2 or contributions.shape[0] != len(ALPHABET):
        raise InputError(f"attribution logo needs a (4, L) array, got shape {contributions.shape}")
    length = contributions.shape[1]
    fig = _figure(min(max_width, 1.2 + 0.16 * length), 1.8)
    ax = fig.add_subplot()
    _logo(ax, pd.DataFrame(contributions.T, columns=list(ALPHABET)))
    ticks = np.linspace(0, length - 1, num=min(length, 11)).round().astype(int)
    ax.set_xticks(ticks, [str(t + start) for t in ticks], fontsize=6)
    ax.set_ylabel("contribution", fontsize=7)
    ax.tick_params(labelsize=6)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


def plot_attribution_logo(contributions: np.ndarray, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`attribution_logo_figure` to ``path``.

    Parameters
    ----------
    contributions
        ``(4, L)``.
    path
        The file (png/svg/pdf).
    **kwargs
        Passed to :func:`attribution_logo_figure`.

    Returns
    -------
    Path
        ``path``.
    """
    return save_figure(attribution_logo_figure(contributions, **kwargs), path)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) -> (H, W) or (H, W, 3) scaled to [0, 1] for imshow."""
    img = np.asarray(image, dtype=float)
    if img.ndim == 3:
        img = img[0] if img.shape[0] == 1 else np.moveaxis(img[:3], 0, -1)
    low, high = img.min(), img.max()
    return (img - low) / (high - low) if high > low else np.zeros_like(img)


def image_overlay_figure(image: np.ndarray, heat: np.ndarray, *, title: str | None = None,
                         alpha: float = 0.5, cmap: str = "jet") -> Figure:
    """A heat map over an image, next to the image.

    Parameters
    ----------
    image
        ``(C, H, W)`` or ``(H, W)``.
    heat
        ``(H, W)`` saliency, Grad-CAM or occlusion map.
    title
        Title.
    alpha
        Opacity of the heat map.
    cmap
        Colour map of the heat map.

    Returns
    -------
    Figure
        The two panels.

    Raises
    ------
    InputError
        A heat map of another size.
    """
    rgb, heat = _as_rgb(image), np.asarray(heat, dtype=float)
    if heat.shape != rgb.shape[:2]:
        raise InputError(f"heat map {heat.shape} does not match the image {rgb.shape[:2]}")
    fig = _figure(6.0, 3.0)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for ax in (left, right):
        ax.imshow(rgb, cmap="gray" if rgb.ndim == 2 else None)
        ax.set_axis_off()
    shown = right.imshow(heat, cmap=cmap, alpha=alpha)
    fig.colorbar(shown, ax=right, fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def plot_image_overlay(image: np.ndarray, heat: np.ndarray, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`image_overlay_figure` to ``path``.

    Parameters
    ----------
    image, heat
        As for :func:`image_overlay_figure`.
    path
        The file (png/svg/pdf).
    **kwargs
        Passed to :func:`image_overlay_figure`.

    Returns
    -------
    Path
        ``path``.
    """
    return save_figure(image_overlay_figure(image, heat, **kwargs), path)


def _grid(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def kernel_grid_figure(kernels: np.ndarray, *, title: str | None = None) -> Figure:
    """First-layer filters as a grid of images (RGB when C == 3, else the channel mean).

    Parameters
    ----------
    kernels
        ``(K, C, kh, kw)``.
    title
        Title.

    Returns
    -------
    Figure
        The grid.

    Raises
    ------
    InputError
        Kernels that are not 4D.
    """
    kernels = np.asarray(kernels, dtype=float)
    if kernels.ndim != 4:
        raise InputError(f"kernel grid needs (K, C, kh, kw) filters, got shape {kernels.shape}")
    rows, cols = _grid(kernels.shape[0])
    fig = _figure(1.0 + 0.9 * cols, 0.4 + 0.9 * rows)
    for k, w in enumerate(kernels):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(_as_rgb(w if w.shape[0] == 3 else w.mean(0, keepdims=True)), cmap="gray",
                  interpolation="nearest")
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def activation_maps_figure(maps: np.ndarray, *, title: str | None = None, max_maps: int = 64) -> Figure:
    """One input's feature maps as a grid of heat maps.

    Parameters
    ----------
    maps
        ``(C, H, W)``.
    title
        Title.
    max_maps
        Only the first this many.

    Returns
    -------
    Figure
        The grid.

    Raises
    ------
    InputError
        Maps that are not ``(C, H, W)``.
    """
    maps = np.asarray(maps, dtype=float)[:max_maps]
    if maps.ndim != 3:
        raise InputError(f"activation maps need (C, H, W), got shape {maps.shape}")
    rows, cols = _grid(maps.shape[0])
    fig = _figure(1.0 + 0.9 * cols, 0.4 + 0.9 * rows)
    for k, m in enumerate(maps):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(m, cmap="viridis", interpolation="nearest")
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def projections_figure(projections: Sequence[Any], *, class_names: Sequence[str] | None = None) -> Figure:
    """One scatter per projected layer, points coloured by class, silhouette in the title.

    Parameters
    ----------
    projections
        ``seqcnn.interpret.embed.Projection`` objects.
    class_names
        Names of the class labels (default: the labels).

    Returns
    -------
    Figure
        One panel per projection.
    """
    fig = _figure(3.0 * len(projections) + 0.5, 3.0)
    for i, proj in enumerate(projections):
        ax = fig.add_subplot(1, len(projections), i + 1)
        for label in np.unique(proj.labels):
            pts = proj.coords[proj.labels == label]
            name = class_names[int(label)] if class_names is not None else str(label)
            ax.scatter(pts[:, 0], pts[:, 1], s=6, label=name)
        ax.set_title(f"{proj.layer} ({proj.method}) silhouette {proj.silhouette:.2f}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.axes[-1].legend(fontsize=6, markerscale=2, loc="best")
    fig.tight_layout(pad=0.3)
    return fig

