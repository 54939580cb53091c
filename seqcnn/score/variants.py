"""Variant effect scores: ref and alt windows through a :class:`~seqcnn.score.scorer.Scorer`, streamed.

:func:`variant_effects` is the one-call API (a model, a VCF and a genome in, a DataFrame out);
:func:`score_variants` streams batches of columns for tables of any size.

Columns per batch: ``chrom pos id ref alt ref_match`` then, per task ``t``, ``ref_t alt_t diff_t
log2fc_t`` with ``diff = alt - ref`` and ``log2fc = log2((alt + eps) / (ref + eps))`` (``eps = 1e-6``;
NaN where a score is negative, e.g. logits).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from seqcnn._common import resolve_batch_size, resolve_targets
from seqcnn.errors import ConfigError, InputError
from seqcnn.score.scorer import Scorer
from seqcnn.score.scoring import iter_scores
from seqcnn.score.stream import Chunk, valid_codes
from seqcnn.seq.variants import (
    Variant,
    VcfStats,
    chrom_length,
    past_end_message,
    read_vcf,
    variant_windows,
)

if TYPE_CHECKING:
    import pandas as pd

LOG2FC_EPS = 1e-6
AUTO_VARIANTS = 256  # variants a batch (512 windows) when the batch size is left to the scorer


def variant_width(scorer: Scorer, window: int | None) -> int:
    """The window width variants are scored in.

    Parameters
    ----------
    scorer
        The scorer of the model.
    window
        The width asked for (None: the model's input length).

    Returns
    -------
    int
        The model's input length, or ``window`` for models that take any length.

    Raises
    ------
    ConfigError
        A ``window`` other than a fixed-length model's input length, none for a model that takes
        any length, or one shorter than the model's receptive field.
    """
    if scorer.input_length:
        if window and window != scorer.input_length:
            raise ConfigError(f"--window {window} differs from the model's input length "
                              f"{scorer.input_length}")
        return scorer.input_length
    if not window:
        raise ConfigError("the model takes any length: give the window width with --window")
    if window < scorer.minimum:
        raise ConfigError(f"--window {window} is shorter than the model's receptive field {scorer.minimum}")
    return window


def _variant_chunks(scorer: Scorer, variants: Iterable[Variant], genome: Any, width: int,
                    batch_size: int, file: str | None, stats: VcfStats | None = None) -> Iterator[Chunk]:
    """Chunks whose keys are ``(variant, ref_match)`` and whose one group holds the ref windows
    followed by the alt windows. With ``stats``, variants on a contig the genome lacks or past its
    end are counted there and left out; without, they raise."""
    lengths: dict[str, int | None] = {}
    keys: list[tuple[Variant, bool]] = []
    rows: list[np.ndarray] = []
    alts: list[np.ndarray] = []

    def flush() -> Chunk:
        codes = np.stack(rows + alts)
        return Chunk(list(keys), [(np.arange(len(keys)), scorer.prepare(codes))])

    for variant in variants:
        if variant.chrom not in lengths:
            lengths[variant.chrom] = variant_chrom_length(genome, variant, file, stats is None)
        length = lengths[variant.chrom]
        if stats is not None and not on_known_contig(variant, length, genome, stats):
            continue
        ref, alt, match = variant_windows(variant, genome, width, file=file, length=length)
        label = variant.id if variant.id != "." else f"{variant.chrom}:{variant.pos}"
        rows.append(valid_codes(label, ref, file, None, False))
        alts.append(valid_codes(label, alt, file, None, False))
        keys.append((variant, match))
        if len(keys) == batch_size:
            yield flush()
            keys, rows, alts = [], [], []
    if keys:
        yield flush()


def variant_chrom_length(genome: Any, variant: Variant, file: str | None, strict: bool = True) -> int | None:
    """The chromosome's length; an unknown one raises (``strict``) or gives None."""
    if not strict and variant.chrom not in genome.chroms:
        return None
    try:
        return chrom_length(genome, variant.chrom)
    except InputError as exc:
        where = f"line {variant.line}" if variant.line is not None else f"{variant.chrom}:{variant.pos}"
        raise InputError(f"{exc.message} ({getattr(genome, 'path', 'genome')})", file=file,
                         record=where) from None


def on_known_contig(variant: Variant, length: int | None, genome: Any, stats: VcfStats) -> bool:
    """True when the variant's REF lies on a known contig; else counted in ``stats`` as a reject."""
    if length is None:
        stats.reject("unknown contig", f"unknown contig {variant.chrom!r} (not in "
                     f"{getattr(genome, 'path', 'the genome')})", variant.line, variant.text)
        return False
    if variant.pos - 1 + len(variant.ref) > length:
        stats.reject("past contig end", past_end_message(variant, length), variant.line, variant.text)
        return False
    return True


def score_variants(scorer: Scorer, variants: Iterable[Variant], genome: Any, *, width: int,
                   batch_size: int | None = None, file: str | None = None, progress: bool = False,
                   skip_invalid: bool = False, stats: VcfStats | None = None) -> Iterator[dict[str, Any]]:
    """Score the ref and alt windows of each variant.

    Parameters
    ----------
    scorer
        The scorer of the model (strands and output transform as it was made with).
    variants
        Variants (``seqcnn.seq.variants.read_vcf``).
    genome
        The genome the variants refer to (``seqcnn.seq.genome.Genome``).
    width
        Window width (:func:`variant_width`), centred on each variant.
    batch_size
        Variants per batch (None: 256); each is two windows.
    file
        Source named in error messages.
    progress
        A progress bar on stderr.
    skip_invalid
        Leave out variants on a chromosome the genome lacks or past its end, counting them in
        ``stats`` (read the VCF with ``read_vcf(path, stats, skip_invalid=True)`` to leave out bad
        REF/ALT records too).
    stats
        Counts of the variants left out (:attr:`seqcnn.seq.variants.VcfStats.invalid`); its
        ``on_reject`` sees each one. Pass the one ``read_vcf`` fills to get one count of both.

    Yields
    ------
    dict[str, Any]
        One column mapping per batch (see the module docstring for the columns).

    Raises
    ------
    InputError
        A chromosome missing from the genome or a position past its end (without
        ``skip_invalid``), or a window with invalid bases.
    """
    batch_size = resolve_batch_size(batch_size, AUTO_VARIANTS)
    if skip_invalid and stats is None:
        stats = VcfStats()
    chunks = _variant_chunks(scorer, variants, genome, width, batch_size, file,
                             stats if skip_invalid else None)
    for chunk, both in iter_scores(_RefAlt(scorer), chunks, progress=progress, desc="variants"):
        yield _columns(chunk.keys, both, scorer)


class _RefAlt:
    """Runs a ref+alt group through the scorer and keeps the alt half for ``_columns``."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer

    def lent(self) -> contextlib.AbstractContextManager:
        return self.scorer.lent()

    def run(self, prepared: Any) -> np.ndarray:
        both = self.scorer.run(prepared)
        half = both.shape[0] // 2
        return np.concatenate([both[:half], both[half:]], axis=1)  # (n, 2T): ref then alt


def variant_columns(scorer: Scorer, width: int) -> dict[str, np.dtype]:
    """The columns of a variant table and their types, known before any row (an empty table's header).

    Parameters
    ----------
    scorer
        The scorer of the model; its task names come from the model file, or (when it names none)
        from the output count of one forward pass on an all-N window.
    width
        The window width (:func:`variant_width`).

    Returns
    -------
    dict[str, numpy.dtype]
        ``chrom pos id ref alt ref_match``, then ``ref_t alt_t diff_t log2fc_t`` per task ``t``.
    """
    meta = getattr(scorer.source, "metadata", None)
    if meta is not None and meta.tasks:
        names = list(meta.tasks)
    else:
        n_tasks = scorer.run(scorer.prepare(valid_codes("N", "N" * width, None, None, False)[None])).shape[1]
        names = scorer.task_names(n_tasks)
    score = np.dtype(np.float32)
    cols = key_column_types()
    for task in names:
        cols.update({f"ref_{task}": score, f"alt_{task}": score, f"diff_{task}": score,
                     f"log2fc_{task}": score})
    return cols


def key_column_types() -> dict[str, np.dtype]:
    """``chrom pos id ref alt ref_match``, the first columns of a variant table, and their types."""
    text = np.dtype(str)
    return {"chrom": text, "pos": np.dtype(np.int64), "id": text, "ref": text, "alt": text,
            "ref_match": np.dtype(bool)}


def key_columns(keys: list[tuple[Variant, bool]]) -> dict[str, Any]:
    """The ``chrom pos id ref alt ref_match`` columns of ``(variant, ref_match)`` keys."""
    variants = [v for v, _ in keys]
    return {
        "chrom": [v.chrom for v in variants],
        "pos": np.array([v.pos for v in variants], dtype=np.int64),
        "id": [v.id for v in variants],
        "ref": [v.ref for v in variants],
        "alt": [v.alt for v in variants],
        "ref_match": np.array([m for _, m in keys], dtype=bool),
    }


def _columns(keys: list[tuple[Variant, bool]], both: np.ndarray, scorer: Scorer) -> dict[str, Any]:
    n_tasks = both.shape[1] // 2
    ref, alt = both[:, :n_tasks], both[:, n_tasks:]
    with np.errstate(divide="ignore", invalid="ignore"):
        log2fc = np.log2((alt + LOG2FC_EPS) / (ref + LOG2FC_EPS))
    cols = key_columns(keys)
    for i, task in enumerate(scorer.task_names(n_tasks)):
        cols[f"ref_{task}"] = ref[:, i]
        cols[f"alt_{task}"] = alt[:, i]
        cols[f"diff_{task}"] = alt[:, i] - ref[:, i]
        cols[f"log2fc_{task}"] = log2fc[:, i].astype(np.float32)
    return cols


def variant_effects(model: nn.Module, variants: str | os.PathLike | Iterable[Variant], genome: Any, *,
                    window: int | None = None, target: int | str | Sequence[int | str] | None = None,
                    rc: str | None = None, batch_size: int | None = None,
                    device: str | torch.device | None = None, progress: bool = False,
                    logits: bool = False, skip_invalid: bool = False,
                    stats: VcfStats | None = None) -> pd.DataFrame:
    """Score the effect of each variant: ref and alt windows centred on it, in one call.

    Parameters
    ----------
    model
        A model returning ``(N, T)`` outputs; left as it was found.
    variants
        A VCF file (plain or gzip) or :class:`~seqcnn.seq.variants.Variant` objects.
    genome
        The genome the variants refer to: an indexed FASTA path or a ``seqcnn.seq.genome.Genome``.
    window
        Window width for models that take any length (None: the model's input length).
    target
        The tasks to report: None for all, or an index, a task name, or a list of them.
    rc, batch_size, device, progress, logits
        As :func:`seqcnn.score.scoring.predict` (``batch_size`` counts variants).
    skip_invalid
        Leave out records with a bad REF/ALT, on a chromosome the genome lacks or past its end,
        counting them by reason in ``stats.invalid`` instead of raising.
    stats
        Filled in while reading and scoring (:class:`seqcnn.seq.variants.VcfStats`: records, split
        and skipped alleles, records left out by reason).

    Returns
    -------
    pandas.DataFrame
        One row per variant (ALT allele): ``chrom pos id ref alt ref_match``, then per selected task
        ``t``: ``ref_t alt_t diff_t log2fc_t`` (these columns even when no row is left, for a model
        that names its tasks).

    Raises
    ------
    InputError
        A bad VCF line, a chromosome missing from the genome or a position past its end (without
        ``skip_invalid``), or a window with invalid bases.
    ConfigError
        A bad ``target``, ``rc``, ``batch_size`` or ``window``.
    """
    import pandas as pd

    from seqcnn.seq.genome import Genome

    resolve_batch_size(batch_size, AUTO_VARIANTS)
    is_file = isinstance(variants, (str, os.PathLike))
    stats = stats if stats is not None else VcfStats()
    records = read_vcf(variants, stats, skip_invalid=skip_invalid) if is_file else variants
    file = os.fspath(variants) if is_file else None
    genome = Genome(genome) if isinstance(genome, (str, os.PathLike)) else genome
    scorer = Scorer(model, device=device, rc=rc, logits=logits)
    width = variant_width(scorer, window)
    meta = getattr(model, "metadata", None)
    if target is not None and meta is not None and meta.tasks:
        resolve_targets(target, list(meta.tasks))  # a bad target fails before any work
    stream = score_variants(scorer, records, genome, width=width, batch_size=batch_size, file=file,
                            progress=progress, skip_invalid=skip_invalid, stats=stats)
    with scorer:
        parts = [pd.DataFrame(cols) for cols in stream]
    if parts:
        frame = pd.concat(parts, ignore_index=True)
    else:  # no row left: the columns all the same
        frame = pd.DataFrame({c: np.array([], d) for c, d in variant_columns(scorer, width).items()})
    if target is None:
        return frame
    n_tasks = (frame.shape[1] - 6) // 4
    names = scorer.task_names(n_tasks)
    keep = [names[i] for i in resolve_targets(target, names)]
    task_cols = [f"{kind}_{task}" for task in keep for kind in ("ref", "alt", "diff", "log2fc")]
    return frame[[*frame.columns[:6], *task_cols]]
