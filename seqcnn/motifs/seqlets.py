"""Motifs from attribution maps: seqlets (high-importance stretches) clustered into motifs.

A lighter, documented stand-in for TF-MoDISco (modisco-lite installs from PyPI but pulls leidenalg and
igraph, GPL-licensed, plus h5py; seqcnn keeps to permissive dependencies):

1. Importance per position is the attribution on the observed base, ``(A * X).sum(bases)``.
2. Seqlets: windows of ``width`` whose summed importance exceeds the median window sum over all
   sequences by ``threshold`` robust standard deviations (1.4826 x MAD); taken greedily from the
   strongest, non-overlapping, with ``flank`` bases added each side (shifted inward at sequence ends).
3. Clustering: seqlets in decreasing importance join the first cluster whose contribution-weighted
   matrix they match (cosine similarity of the flattened matrices, best over offsets up to ``max_shift``
   and both strands) above ``min_similarity``; otherwise they start a cluster (as TF-MoDISco's
   similarity, without its Leiden step). Clusters with at least ``min_seqlets`` members become motifs:
   base counts of the aligned seqlets, trimmed like any motif. TomTom annotates them afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seqcnn._common import as_onehot
from seqcnn.errors import InputError
from seqcnn.motifs.pwm import counts_to_pwm, trim_bounds


@dataclass
class Seqlet:
    """A high-importance window.

    Attributes
    ----------
    index
        The sequence it lies in.
    start, end
        Half-open bounds.
    importance
        Summed importance of its core window.
    """

    index: int
    start: int
    end: int
    importance: float


def position_importance(attributions: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Attribution on the observed base.

    Parameters
    ----------
    attributions
        ``(N, 4, L)`` maps.
    onehot
        ``(N, 4, L)`` one-hot sequences.

    Returns
    -------
    np.ndarray
        ``(N, L)``.

    Raises
    ------
    InputError
        Shapes that differ or are not ``(N, 4, L)``.
    """
    a, x = np.asarray(attributions, dtype=np.float64), np.asarray(onehot, dtype=np.float64)
    if a.shape != x.shape or a.ndim != 3 or a.shape[1] != 4:
        raise InputError(f"attributions {a.shape} and one-hot {x.shape} must both be (N, 4, L)")
    return (a * x).sum(axis=1)


def find_seqlets(importance: np.ndarray, *, width: int = 10, flank: int = 3, threshold: float = 3.0,
                 max_per_sequence: int = 5) -> list[Seqlet]:
    """Greedy non-overlapping windows whose importance sum stands out.

    Parameters
    ----------
    importance
        ``(N, L)`` per-position importance.
    width
        Core window width.
    flank
        Bases added each side (shifted inward at sequence ends).
    threshold
        Robust standard deviations (1.4826 x MAD) above the median window sum.
    max_per_sequence
        At most this many seqlets per sequence.

    Returns
    -------
    list[Seqlet]
        By decreasing importance.

    Raises
    ------
    InputError
        ``importance`` not ``(N, L)`` with ``L >= width``.
    """
    imp = np.asarray(importance, dtype=np.float64)
    if imp.ndim != 2 or imp.shape[1] < width:
        raise InputError(f"importance must be (N, L) with L >= width {width}, got {imp.shape}")
    csum = np.concatenate([np.zeros((len(imp), 1)), np.cumsum(imp, axis=1)], axis=1)
    sums = csum[:, width:] - csum[:, :-width]  # (N, L - width + 1)
    median = np.median(sums)
    cutoff = median + threshold * 1.4826 * np.median(np.abs(sums - median))  # robust: mostly background
    span = min(width + 2 * flank, imp.shape[1])
    seqlets = []
    for n, row in enumerate(sums):
        row = row.copy()
        for _ in range(max_per_sequence):
            best = int(np.argmax(row))
            if row[best] <= cutoff:
                break
            start = min(max(0, best - flank), imp.shape[1] - span)  # kept whole inside the sequence
            seqlets.append(Seqlet(n, start, start + span, float(row[best])))
            row[max(0, best - width + 1):best + width] = -np.inf
    return sorted(seqlets, key=lambda s: -s.importance)


@dataclass
class SeqletMotif:
    """A cluster of aligned seqlets.

    Attributes
    ----------
    counts
        ``(K, 4)`` base counts.
    cwm
        ``(K, 4)`` mean contribution matrix.
    n_seqlets
        Members.
    """

    counts: np.ndarray
    cwm: np.ndarray
    n_seqlets: int

    def pwm(self, pseudocount: float = 0.1, *, trimmed: bool = True) -> np.ndarray:
        """The cluster's probability matrix.

        Parameters
        ----------
        pseudocount
            Added to every count.
        trimmed
            Trim to the informative core.

        Returns
        -------
        np.ndarray
            ``(K', 4)``.
        """
        pwm = counts_to_pwm(self.counts, pseudocount)
        start, end = trim_bounds(pwm) if trimmed else (0, len(pwm))
        return pwm[start:end]


def _best_alignment(cwm: np.ndarray, seq_cwm: np.ndarray, max_shift: int) -> tuple[float, int, bool]:
    """Best cosine similarity of ``seq_cwm`` ``(K, 4)`` with ``cwm`` ``(K, 4)`` over shifts and strands."""
    best = (-1.0, 0, False)
    k = len(cwm)
    for rc in (False, True):
        s = seq_cwm[::-1, ::-1] if rc else seq_cwm
        for shift in range(-max_shift, max_shift + 1):
            a = cwm[max(0, shift):k + min(0, shift)]
            b = s[max(0, -shift):k - max(0, shift)]
            denom = np.linalg.norm(a) * np.linalg.norm(b)
            sim = float((a * b).sum() / denom) if denom > 0 else 0.0
            if sim > best[0]:
                best = (sim, shift, rc)
    return best


def _shifted(matrix: np.ndarray, shift: int) -> np.ndarray:
    """``matrix`` ``(K, 4)`` moved by ``shift`` rows, zero-filled (row i of the result is row i - shift)."""
    out = np.zeros_like(matrix)
    k = len(matrix)
    if shift >= 0:
        out[shift:] = matrix[:k - shift]
    else:
        out[:k + shift] = matrix[-shift:]
    return out


def cluster_seqlets(seqlets: list[Seqlet], attributions: np.ndarray, onehot: np.ndarray, *,
                    min_similarity: float = 0.7, max_shift: int = 4, min_seqlets: int = 10,
                    max_clusters: int = 50) -> list[SeqletMotif]:
    """Greedy clustering of equal-width seqlets by contribution-matrix similarity (module docstring).

    Parameters
    ----------
    seqlets
        From :func:`find_seqlets`.
    attributions, onehot
        ``(N, 4, L)`` maps and sequences they were found in.
    min_similarity
        Cosine similarity needed to join a cluster.
    max_shift
        Offsets tried when aligning.
    min_seqlets
        Clusters with fewer members are dropped.
    max_clusters
        At most this many clusters are started.

    Returns
    -------
    list[SeqletMotif]
        By decreasing size.
    """
    x = np.asarray(onehot, dtype=np.float64)
    a = np.asarray(attributions, dtype=np.float64) * x
    widths = {s.end - s.start for s in seqlets}
    if len(widths) > 1:  # seqlets clipped at sequence ends: keep the common width only
        full = max(widths)
        seqlets = [s for s in seqlets if s.end - s.start == full]
    clusters: list[list[np.ndarray]] = []  # [cwm_sum, counts, n]
    for s in seqlets:
        cwm, seq = a[s.index, :, s.start:s.end].T, x[s.index, :, s.start:s.end].T
        for cluster in clusters:
            sim, shift, rc = _best_alignment(cluster[0], cwm, max_shift)
            if sim >= min_similarity:
                cwm_al, seq_al = (cwm[::-1, ::-1], seq[::-1, ::-1]) if rc else (cwm, seq)
                cluster[0] += _shifted(cwm_al, shift)
                cluster[1] += _shifted(seq_al, shift)
                cluster[2] += 1
                break
        else:
            if len(clusters) < max_clusters:
                clusters.append([cwm.copy(), seq.copy(), np.array(1)])
    motifs = [SeqletMotif(c[1], c[0] / int(c[2]), int(c[2])) for c in clusters if int(c[2]) >= min_seqlets]
    return sorted(motifs, key=lambda m: -m.n_seqlets)


def seqlet_motifs(attributions: np.ndarray, onehot: np.ndarray, *, width: int = 10, flank: int = 3,
                  threshold: float = 3.0, min_similarity: float = 0.7, min_seqlets: int = 10,
                  ) -> list[SeqletMotif]:
    """Seqlets of attribution maps, clustered into motifs.

    Parameters
    ----------
    attributions, onehot
        ``(N, 4, L)`` maps and sequences.
    width, flank, threshold
        As for :func:`find_seqlets`.
    min_similarity, min_seqlets
        As for :func:`cluster_seqlets`.

    Returns
    -------
    list[SeqletMotif]
        By decreasing size.
    """
    importance = position_importance(attributions, onehot)
    seqlets = find_seqlets(importance, width=width, flank=flank, threshold=threshold)
    return cluster_seqlets(seqlets, attributions, onehot, min_similarity=min_similarity,
                           min_seqlets=min_seqlets)


def ism_contributions(model: nn.Module, seqs: Sequence[str] | np.ndarray, *, batch_size: int | None = None,
                      device: torch.device | str | None = None,
                      progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """ISM contributions of the observed bases, for the sequence's top-scoring task.

    The contribution of the observed base is the mean loss of score of the sequence's top-scoring task
    when that base is substituted (``seqcnn.interpret.ism.ism``); other bases get 0.

    Parameters
    ----------
    model
        A model with ``(N, T)`` outputs; given back as it was.
    seqs
        Equal-length strings or one-hot ``(N, 4, L)``.
    batch_size, device, progress
        As for ``seqcnn.interpret.ism.ism``.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        One-hot ``(N, 4, L)`` float32 and contributions ``(N, 4, L)``.
    """
    from seqcnn.interpret.ism import ism

    x = as_onehot(seqs).numpy()
    result = ism(model, x, batch_size=batch_size, device=device, progress=progress)
    task = result.reference.argmax(axis=1)
    delta = result.delta[np.arange(len(x)), :, :, task]  # (N, 4, L)
    importance = -delta.sum(axis=1) / 3.0
    return x, x * importance[:, None, :]
