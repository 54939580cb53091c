"""Planted-motif data sets in the style of Koo & Eddy (2019), from real JASPAR matrices.

Each positive sequence gets 1-5 non-overlapping motif instances (motif chosen uniformly with
replacement, random strand, each base sampled from the motif's position probability matrix)
embedded into an i.i.d. background with a set GC content; a fraction of sequences is pure
background. Labels are multi-hot: 1 if the motif was planted at least once.

Files written (see docs/formats.md): ``train.fa valid.fa test.fa labels.tsv motifs.meme
sites.tsv``; site coordinates are 0-based, half-open. Everything is a function of ``seed``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqcnn.errors import ConfigError
from seqcnn.io.atomic import atomic_open
from seqcnn.seq.fasta import write_fasta
from seqcnn.seq.meme import Motif, write_meme

_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)


@dataclass
class _Sites:
    """Planted sites as parallel arrays (one entry per instance)."""

    seq: np.ndarray
    start: np.ndarray
    motif: np.ndarray
    minus: np.ndarray


def _resolve_motifs(motifs: Sequence[str | Motif] | str | None) -> list[Motif]:
    from seqcnn.seq.jaspar import DEFAULT_MOTIFS, jaspar_motifs

    if motifs is None:
        return jaspar_motifs(DEFAULT_MOTIFS)
    if isinstance(motifs, str):
        return jaspar_motifs(motifs)
    keys = [m for m in motifs if not isinstance(m, Motif)]
    fetched = iter(jaspar_motifs(keys)) if keys else iter(())
    return [m if isinstance(m, Motif) else next(fetched) for m in motifs]


def _column_names(motifs: list[Motif]) -> list[str]:
    """One label column per motif: its name, or ``name_id`` where names repeat."""
    names = [m.name for m in motifs]
    out = [f"{m.name}_{m.id}" if names.count(m.name) > 1 and m.id else m.name for m in motifs]
    if len(set(out)) != len(out):
        raise ConfigError(f"motifs must be distinct, got {', '.join(out)}")
    return out


def _place_sites(rng: np.random.Generator, positive: np.ndarray, widths: np.ndarray, length: int,
                 min_instances: int, max_instances: int) -> _Sites:
    """Choose motifs, strands and non-overlapping starts (uniform over placements)."""
    counts = rng.integers(min_instances, max_instances + 1, size=positive.size)
    seq_idx = np.repeat(positive, counts)
    motif_idx = rng.integers(0, widths.size, size=seq_idx.size)
    minus = rng.random(seq_idx.size) < 0.5
    starts = np.empty(seq_idx.size, dtype=np.int64)
    # stars and bars: k sorted gap offsets in [0, free] plus the widths of earlier instances
    pos = 0
    for count in counts.tolist():
        w = widths[motif_idx[pos:pos + count]]
        free = length - int(w.sum())
        gaps = np.sort(rng.integers(0, free + 1, size=count))
        starts[pos:pos + count] = gaps + np.concatenate(([0], np.cumsum(w)[:-1]))
        pos += count
    return _Sites(seq=seq_idx, start=starts, motif=motif_idx, minus=minus)


def _sample_instances(rng: np.random.Generator, pwm: np.ndarray, n: int) -> np.ndarray:
    """``n`` instances (n, w) of base codes drawn column by column from ``pwm`` (w, 4).

    A base with probability 0 is never drawn: its cumulative interval is empty.
    """
    cum = np.cumsum(pwm, axis=1)
    cum = cum / cum[:, -1:]
    u = rng.random((n, pwm.shape[0], 1))
    return (u >= cum[None, :, :3]).sum(axis=2).astype(np.uint8)


def _plant(rng: np.random.Generator, codes: np.ndarray, sites: _Sites, motifs: list[Motif]) -> None:
    """Write sampled instances into ``codes`` (N, L) in place; minus strand reverse-complemented."""
    for m, motif in enumerate(motifs):
        which = np.flatnonzero(sites.motif == m)
        if which.size == 0:
            continue
        inst = _sample_instances(rng, motif.pwm, which.size)
        flip = sites.minus[which]
        inst[flip] = 3 - inst[flip, ::-1]
        cols = sites.start[which, None] + np.arange(motif.length)
        codes[sites.seq[which, None], cols] = inst


def _check_args(n_sequences: int, length: int, min_instances: int, max_instances: int,
                negative_fraction: float, gc: float, split: Sequence[float], max_width: int) -> None:
    if n_sequences < 1 or length < 1:
        raise ConfigError(f"need n_sequences >= 1 and length >= 1, got {n_sequences}, {length}")
    if not 1 <= min_instances <= max_instances:
        raise ConfigError(f"need 1 <= min_instances <= max_instances, got {min_instances}, {max_instances}")
    if max_instances * max_width > length:
        raise ConfigError(f"length {length} cannot hold {max_instances} non-overlapping motifs of "
                         f"width up to {max_width}; use a longer length or fewer instances")
    if not 0 <= negative_fraction <= 1 or not 0 <= gc <= 1:
        raise ConfigError(f"negative_fraction and gc must be in [0, 1], got {negative_fraction}, {gc}")
    if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1) > 1e-6:
        raise ConfigError(f"split must be three fractions summing to 1, got {tuple(split)}")


def _write_outputs(out: Path, ids: list[str], seqs: list[str], labels: np.ndarray, columns: list[str],
                   sites: _Sites, motifs: list[Motif], split: Sequence[float],
                   background: np.ndarray) -> dict[str, Path]:
    n = len(ids)
    n_train = int(round(split[0] * n))
    n_valid = int(round(split[1] * n))
    bounds = {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n_train + n_valid, n)}
    paths: dict[str, Path] = {}
    for part, (a, b) in bounds.items():
        paths[part] = write_fasta(zip(ids[a:b], seqs[a:b], strict=True), out / f"{part}.fa")
    paths["labels"] = out / "labels.tsv"
    with atomic_open(paths["labels"], "w") as handle:
        handle.write("\t".join(["id", *columns]) + "\n")
        for rid, row in zip(ids, labels.astype(int).astype(str).tolist(), strict=True):
            handle.write(rid + "\t" + "\t".join(row) + "\n")
    paths["motifs"] = write_meme(motifs, out / "motifs.meme", background=background)
    paths["sites"] = out / "sites.tsv"
    order = np.lexsort((sites.start, sites.seq))
    widths = np.array([m.length for m in motifs])
    with atomic_open(paths["sites"], "w") as handle:
        handle.write("id\tstart\tend\tstrand\tmotif\n")
        for k in order.tolist():
            start = int(sites.start[k])
            handle.write(f"{ids[sites.seq[k]]}\t{start}\t{start + widths[sites.motif[k]]}\t"
                         f"{'-' if sites.minus[k] else '+'}\t{columns[sites.motif[k]]}\n")
    return paths


def simulate_dataset(
    out_dir: str | os.PathLike,
    *,
    motifs: Sequence[str | Motif] | str | None = None,
    n_sequences: int = 25000,
    length: int = 200,
    min_instances: int = 1,
    max_instances: int = 5,
    negative_fraction: float = 0.2,
    gc: float = 0.5,
    split: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> dict[str, Path]:
    """Simulate a planted-motif data set into a folder.

    Parameters
    ----------
    out_dir
        Output folder (created if missing).
    motifs
        The motifs to plant, one label column each: JASPAR matrix ids or TF names (a list or a
        comma-separated string), :class:`~seqcnn.seq.meme.Motif` objects, or None for
        :data:`seqcnn.seq.jaspar.DEFAULT_MOTIFS`.
    n_sequences
        Number of sequences, split in order into train, valid and test.
    length
        Length of every sequence.
    min_instances
        Fewest motif instances planted in a positive sequence.
    max_instances
        Most motif instances planted in a positive sequence (instances never overlap, so
        ``length`` must hold this many of the widest motif).
    negative_fraction
        Fraction of sequences left as pure background (all labels 0).
    gc
        GC content of the background.
    split
        Fractions of train, valid and test (summing to 1).
    seed
        Random seed; the files are a function of it.

    Returns
    -------
    dict[str, pathlib.Path]
        The written files, keyed ``train``, ``valid``, ``test`` (FASTA), ``labels`` (TSV: ``id``
        plus one 0/1 column per motif), ``motifs`` (MEME, with the background frequencies) and
        ``sites`` (TSV: ``id, start, end, strand, motif`` per planted site, 0-based, half-open).

    Raises
    ------
    ConfigError
        Unknown JASPAR ids or names, no or repeated motifs, or values out of range (the folder is
        then not created).
    """
    chosen = _resolve_motifs(motifs)
    if not chosen:
        raise ConfigError("no motifs to plant")
    columns = _column_names(chosen)
    widths = np.array([m.length for m in chosen])
    _check_args(n_sequences, length, min_instances, max_instances, negative_fraction, gc, split,
                int(widths.max()))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    background = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    codes = rng.choice(4, size=(n_sequences, length), p=background).astype(np.uint8)
    n_negative = int(round(negative_fraction * n_sequences))
    positive = np.sort(rng.permutation(n_sequences)[n_negative:])
    sites = _place_sites(rng, positive, widths, length, min_instances, max_instances)
    _plant(rng, codes, sites, chosen)
    labels = np.zeros((n_sequences, len(chosen)), dtype=np.int8)
    labels[sites.seq, sites.motif] = 1
    text = _LETTERS[codes].tobytes().decode("ascii")
    seqs = [text[i * length:(i + 1) * length] for i in range(n_sequences)]
    width = len(str(n_sequences))
    ids = [f"sim{i:0{width}d}" for i in range(n_sequences)]
    return _write_outputs(out, ids, seqs, labels, columns, sites, chosen, split, background)
