"""Exact k-mer preserving shuffles (Altschul & Erickson 1985; Eulerian-path form of Kandel et al. 1996).

The (k-1)-mers of a sequence are the vertices of a multigraph with one edge per k-mer occurrence;
the sequence is an Eulerian path from its first to its last (k-1)-mer. A uniformly random
Eulerian path with the same start and end is drawn by (1) a uniformly random spanning
arborescence of "last exit" edges towards the final vertex (Wilson's loop-erased random walks),
(2) a random order of every other out-edge, last-exit edges placed last, (3) walking the edges.
Every k-mer count is preserved exactly, and the first and last (k-1)-mers are kept.

We implement this ourselves: Biopython has no k-mer shuffle and tangermeme's works only on
one-hot tensors for k=2; this one works on any symbols (N, soft-masked letters) and any k.
Every shuffle is a function of ``seed`` (an int, a ``numpy.random.Generator`` or None).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqcnn.errors import ConfigError, InputError

Seed = int | np.random.Generator | None
"""Seeds the shuffles take (an int, a ``numpy.random.Generator`` advanced in place, or None)."""


def _arborescence(out_edges: list[list[int]], end: int, rng: np.random.Generator) -> list[int]:
    """Wilson's algorithm: per vertex, the index of its last-exit edge (a tree towards ``end``)."""
    n_vertices = len(out_edges)
    in_tree = [False] * n_vertices
    in_tree[end] = True
    choice = [-1] * n_vertices
    for v in range(n_vertices):
        u = v
        while not in_tree[u]:  # random walk; later choices overwrite loops (loop erasure)
            choice[u] = int(rng.integers(len(out_edges[u])))
            u = out_edges[u][choice[u]]
        u = v
        while not in_tree[u]:
            in_tree[u] = True
            u = out_edges[u][choice[u]]
    return choice


def _shuffle_codes(codes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-mer preserving shuffle of a 1-D integer array of symbols."""
    n = len(codes)
    if k == 1:
        return rng.permutation(codes)
    if n <= k:
        return codes.copy()
    windows = np.lib.stride_tricks.sliding_window_view(codes, k - 1)  # (n - k + 2, k - 1)
    _, vertex = np.unique(windows, axis=0, return_inverse=True)
    vertex = vertex.reshape(-1).tolist()
    n_vertices = max(vertex) + 1
    out_edges: list[list[int]] = [[] for _ in range(n_vertices)]
    for a, b in zip(vertex[:-1], vertex[1:], strict=True):
        out_edges[a].append(b)
    last_symbol = np.empty(n_vertices, dtype=codes.dtype)
    last_symbol[vertex] = windows[:, -1]
    end = vertex[-1]
    choice = _arborescence(out_edges, end, rng)
    for v, edges in enumerate(out_edges):
        if not edges:
            continue
        if v == end:
            rng.shuffle(edges)
            continue
        last = edges.pop(choice[v])
        rng.shuffle(edges)
        edges.append(last)
    used = [0] * n_vertices
    walk = []
    u = vertex[0]
    for _ in range(n - k + 1):
        nxt = out_edges[u][used[u]]
        used[u] += 1
        walk.append(nxt)
        u = nxt
    return np.concatenate([codes[: k - 1], last_symbol[walk]])


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")


def kmer_shuffle(seq: str, k: int = 2, *, seed: Seed = None) -> str:
    """Shuffle a sequence, keeping every k-mer count.

    The shuffle is drawn uniformly among the sequences with the same k-mer counts and the same
    first and last ``k - 1`` letters. Sequences of length <= k have only one such arrangement and
    are returned unchanged.

    Parameters
    ----------
    seq
        Any string; letters are symbols as they are (case, N and other codes kept).
    k
        The k-mer size kept (1: a plain permutation; 2: a dinucleotide shuffle).
    seed
        An int, a ``numpy.random.Generator`` (advanced in place) or None.

    Returns
    -------
    str
        The shuffled sequence, of the same length.

    Raises
    ------
    ConfigError
        ``k`` is not a positive integer.
    """
    _check_k(k)
    rng = np.random.default_rng(seed)
    codes = np.frombuffer(seq.encode("utf-32-le"), dtype=np.uint32)
    return _shuffle_codes(codes, k, rng).tobytes().decode("utf-32-le")


def shuffle_one_hot(x: Any, k: int = 2, n: int = 1, *, seed: Seed = None) -> np.ndarray:
    """``n`` k-mer preserving shuffles of each one-hot sequence.

    Columns are shuffled as whole symbols, so N and fractional (ambiguous) columns are kept as
    they are; each shuffle is drawn as in :func:`kmer_shuffle`.

    Parameters
    ----------
    x
        One sequence ``(4, L)`` or a batch ``(N, 4, L)``: a numpy array or a torch tensor (any
        device), of any dtype.
    k
        The k-mer size kept.
    n
        Shuffles per sequence.
    seed
        An int, a ``numpy.random.Generator`` (advanced in place) or None.

    Returns
    -------
    np.ndarray
        ``(n, 4, L)`` for one sequence, ``(N, n, 4, L)`` for a batch; the dtype of ``x``.

    Raises
    ------
    ConfigError
        ``k`` or ``n`` is not a positive integer.
    InputError
        ``x`` is not two- or three-dimensional.
    """
    _check_k(k)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if arr.ndim not in (2, 3):
        raise InputError(f"expected a (4, L) or (N, 4, L) array, got shape {arr.shape}")
    rng = np.random.default_rng(seed)
    batch = arr[None] if arr.ndim == 2 else arr
    out = np.empty((batch.shape[0], n) + batch.shape[1:], dtype=arr.dtype)
    for i, one in enumerate(batch):
        columns, codes = np.unique(one.T, axis=0, return_inverse=True)
        codes = codes.reshape(-1)
        for j in range(n):
            out[i, j] = columns[_shuffle_codes(codes, k, rng)].T
    return out[0] if arr.ndim == 2 else out
