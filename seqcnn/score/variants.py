"""Variant effect scores: ref and alt windows through a :class:`seqcnn.score.predict.Scorer`, streamed.

Columns per batch: ``chrom pos id ref alt ref_match`` then, per task ``t``, ``ref_t alt_t diff_t
log2fc_t`` with ``diff = alt - ref`` and ``log2fc = log2((alt + eps) / (ref + eps))`` (``eps = 1e-6``;
NaN where a score is negative, e.g. logits).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from seqcnn.errors import ConfigError, InputError
from seqcnn.score.predict import Scorer, iter_scores
from seqcnn.score.stream import Chunk, valid_codes
from seqcnn.seq.variants import Variant, chrom_length, variant_windows

LOG2FC_EPS = 1e-6


def variant_width(scorer: Scorer, window: int | None) -> int:
    """Window width: the model's input length, or ``window`` for models that take any length."""
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
                    batch_size: int, file: str | None) -> Iterator[Chunk]:
    """Chunks whose keys are ``(variant, ref_match)`` and whose one group holds the ref windows
    followed by the alt windows."""
    lengths: dict[str, int] = {}
    keys: list[tuple[Variant, bool]] = []
    rows: list[np.ndarray] = []
    alts: list[np.ndarray] = []

    def flush() -> Chunk:
        codes = np.stack(rows + alts)
        return Chunk(list(keys), [(np.arange(len(keys)), scorer.prepare(codes))])

    for variant in variants:
        if variant.chrom not in lengths:
            lengths[variant.chrom] = _length(genome, variant, file)
        ref, alt, match = variant_windows(variant, genome, width, file=file, length=lengths[variant.chrom])
        label = variant.id if variant.id != "." else f"{variant.chrom}:{variant.pos}"
        rows.append(valid_codes(label, ref, file, None, False))
        alts.append(valid_codes(label, alt, file, None, False))
        keys.append((variant, match))
        if len(keys) == batch_size:
            yield flush()
            keys, rows, alts = [], [], []
    if keys:
        yield flush()


def _length(genome: Any, variant: Variant, file: str | None) -> int:
    try:
        return chrom_length(genome, variant.chrom)
    except InputError as exc:
        raise InputError(f"{exc.message} ({getattr(genome, 'path', 'genome')})", file=file,
                         record=f"{variant.chrom}:{variant.pos}") from None


def score_variants(scorer: Scorer, variants: Iterable[Variant], genome: Any, *, width: int,
                   batch_size: int = 256, file: str | None = None,
                   progress: bool = False) -> Iterator[dict[str, Any]]:
    """Yield one column mapping per batch of variants (see the module docstring for the columns)."""
    chunks = _variant_chunks(scorer, variants, genome, width, batch_size, file)
    for chunk, both in iter_scores(_RefAlt(scorer), chunks, progress=progress, desc="variants"):
        yield _columns(chunk.keys, both, scorer)


class _RefAlt:
    """Runs a ref+alt group through the scorer and keeps the alt half for ``_columns``."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer

    def run(self, prepared: Any) -> np.ndarray:
        both = self.scorer.run(prepared)
        half = both.shape[0] // 2
        return np.concatenate([both[:half], both[half:]], axis=1)  # (n, 2T): ref then alt


def _columns(keys: list[tuple[Variant, bool]], both: np.ndarray, scorer: Scorer) -> dict[str, Any]:
    n_tasks = both.shape[1] // 2
    ref, alt = both[:, :n_tasks], both[:, n_tasks:]
    with np.errstate(divide="ignore", invalid="ignore"):
        log2fc = np.log2((alt + LOG2FC_EPS) / (ref + LOG2FC_EPS))
    variants = [v for v, _ in keys]
    cols: dict[str, Any] = {
        "chrom": [v.chrom for v in variants],
        "pos": np.array([v.pos for v in variants], dtype=np.int64),
        "id": [v.id for v in variants],
        "ref": [v.ref for v in variants],
        "alt": [v.alt for v in variants],
        "ref_match": np.array([m for _, m in keys], dtype=bool),
    }
    for i, task in enumerate(scorer.task_names(n_tasks)):
        cols[f"ref_{task}"] = ref[:, i]
        cols[f"alt_{task}"] = alt[:, i]
        cols[f"diff_{task}"] = alt[:, i] - ref[:, i]
        cols[f"log2fc_{task}"] = log2fc[:, i].astype(np.float32)
    return cols
