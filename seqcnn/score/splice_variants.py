"""SpliceAI-style variant scores: the splice sites a variant gains or loses near it, per annotated gene.

For each variant and each gene whose transcript covers it (or the one strand given), as SpliceAI 1.3
computes them (``spliceai/utils.py``, ``get_delta_scores``):

1. A reference window of ``context + 2 D + 1`` bases centred on the variant's first REF base
   (``D`` = ``distance``, 50 by default), with the bases outside the gene's transcript set to N
   (N is all zeros, as SpliceAI encodes it; seqcnn pads past the chromosome's ends with N where
   SpliceAI skips the record). The alternative window puts ALT in place of REF.
2. Both windows on the gene's strand (reverse-complemented for ``-``) through a per-position splice
   model (``(N, C, L) -> (N, C, L - context)``, classes ``neither, acceptor, donor``), its class
   probabilities (softmax over dim 1) put back in genome order: ``2 D + 1`` positions each, the
   variant in the middle. A deletion's missing positions score 0 in ALT; an insertion's positions are
   merged by their maximum.
3. ``DS_AG = max(alt - ref)`` and ``DS_AL = max(ref - alt)`` of the acceptor probability over the
   ``2 D + 1`` positions, ``DS_DG``, ``DS_DL`` the same for donors; ``DP_*`` where each maximum is,
   in bases from the variant (negative: upstream on the + strand). With ``mask``, a gain at the
   annotated exon boundary nearest the variant and a loss anywhere else score 0 (SpliceAI ``-M 1``).

Columns: ``chrom pos id ref alt ref_match gene strand DS_AG DS_AL DS_DG DS_DL DP_AG DP_AL DP_DG DP_DL``.
A variant in no annotated gene, a complex substitution (REF and ALT both longer than one base) or a
REF longer than ``2 D`` has one row with NaN scores (gene ``.`` when it is in none).

The gene annotation is SpliceAI's table (``spliceai/annotations/grch37.txt``): tab-separated
``#NAME CHROM STRAND TX_START TX_END EXON_START EXON_END``, 0-based starts, 1-based ends, exon lists
comma-terminated; chromosome names match with or without ``chr``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcnn._common import metadata_of, preserved, resolve_batch_size
from seqcnn.errors import ConfigError, InputError
from seqcnn.models.spliceai import SPLICEAI_TASKS
from seqcnn.progress import progress_bar
from seqcnn.score.variants import on_known_contig, variant_chrom_length
from seqcnn.seq.encode import one_hot, reverse_complement
from seqcnn.seq.variants import Variant, VcfStats

DISTANCE = 50
"""Bases on each side of a variant where gained and lost sites are looked for (SpliceAI ``-D``)."""

AUTO_JOBS = 8
"""Variant-gene pairs (each a ref and an alt window) a batch when ``batch_size`` is None."""

SCORES = ("DS_AG", "DS_AL", "DS_DG", "DS_DL")
POSITIONS = ("DP_AG", "DP_AL", "DP_DG", "DP_DL")
_ANNOTATION_COLUMNS = ("#NAME", "CHROM", "STRAND", "TX_START", "TX_END", "EXON_START", "EXON_END")


@dataclass(frozen=True)
class Gene:
    """One transcript of the annotation, in 1-based inclusive coordinates.

    Attributes
    ----------
    name, chrom, strand
        Gene name, chromosome (as the annotation writes it) and ``+``/``-``.
    tx_start, tx_end
        First and last base of the transcript.
    exon_starts, exon_ends
        First and last base of each exon.
    """

    name: str
    chrom: str
    strand: str
    tx_start: int
    tx_end: int
    exon_starts: tuple[int, ...]
    exon_ends: tuple[int, ...]

    def nearest_boundary(self, pos: int) -> int:
        """Signed distance from ``pos`` to the nearest exon start or end (SpliceAI's ``dist_exon_bdry``)."""
        bounds = np.union1d(self.exon_starts, self.exon_ends) - pos
        return int(bounds[np.argmin(np.abs(bounds))])


class GeneAnnotation:
    """Genes by chromosome, looked up by position (:meth:`at`)."""

    def __init__(self, genes: Iterable[Gene]) -> None:
        self.by_chrom: dict[str, list[Gene]] = {}
        for gene in genes:
            self.by_chrom.setdefault(gene.chrom, []).append(gene)
        self._spans = {c: np.array([(g.tx_start, g.tx_end) for g in gs], dtype=np.int64).reshape(-1, 2)
                       for c, gs in self.by_chrom.items()}

    def at(self, chrom: str, pos: int) -> list[Gene]:
        """The genes whose transcript covers ``chrom:pos`` (1-based; ``chr`` prefix optional)."""
        bare = chrom.removeprefix("chr")
        name = next((c for c in (chrom, bare, "chr" + bare) if c in self.by_chrom), None)
        if name is None:
            return []
        spans = self._spans[name]
        hits = np.nonzero((spans[:, 0] <= pos) & (pos <= spans[:, 1]))[0]
        return [self.by_chrom[name][i] for i in hits]


def _exon_list(text: str, path: str, line: int) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"bad exon list {text[:40]!r}", file=path, record=f"line {line}") from None


def _parse_gene(fields: list[str], cols: dict[str, int], path: str, line: int) -> Gene:
    get = {name: fields[i] for name, i in cols.items()}
    try:
        tx_start, tx_end = int(get["TX_START"]) + 1, int(get["TX_END"])
    except ValueError:
        raise InputError("TX_START and TX_END must be integers", file=path, record=f"line {line}") from None
    starts = tuple(s + 1 for s in _exon_list(get["EXON_START"], path, line))
    ends = _exon_list(get["EXON_END"], path, line)
    if get["STRAND"] not in ("+", "-") or len(starts) != len(ends) or not starts:
        raise InputError(f"need strand + or - and as many exon starts as ends, got {get['STRAND']!r}, "
                         f"{len(starts)} and {len(ends)}", file=path, record=f"line {line}")
    return Gene(get["#NAME"], get["CHROM"], get["STRAND"], tx_start, tx_end, starts, ends)


def read_gene_annotation(path: str | os.PathLike) -> GeneAnnotation:
    """Read a gene annotation in SpliceAI's format (see the module docstring).

    Parameters
    ----------
    path
        The tab-separated file (its first line the header ``#NAME CHROM STRAND ...``).

    Returns
    -------
    GeneAnnotation
        Its genes.

    Raises
    ------
    InputError
        A missing file, a missing column (naming it) or a malformed row (naming the line).
    """
    file = os.fspath(path)
    if not os.path.isfile(file):
        raise InputError("no such gene annotation file", file=file)
    genes: list[Gene] = []
    with open(file, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        missing = [c for c in _ANNOTATION_COLUMNS if c not in header]
        if missing:
            raise InputError(f"not a SpliceAI gene annotation: no column(s) {', '.join(missing)} "
                             f"(expected {' '.join(_ANNOTATION_COLUMNS)})", file=file)
        cols = {c: header.index(c) for c in _ANNOTATION_COLUMNS}
        for number, text in enumerate(handle, start=2):
            fields = text.rstrip("\n").split("\t")
            if not text.strip():
                continue
            if len(fields) < len(header):
                raise InputError(f"{len(fields)} columns, expected {len(header)}", file=file,
                                 record=f"line {number}")
            genes.append(_parse_gene(fields, cols, file, number))
    return GeneAnnotation(genes)


def splice_probabilities(model: nn.Module, sequences: str | list[str], *, batch_size: int | None = None,
                         device: str | torch.device | None = None) -> np.ndarray:
    """Class probabilities at every position a per-position splice model can see.

    Parameters
    ----------
    model
        ``(N, 4, L) -> (N, C, L - context)`` log-probabilities or logits; left as it was found.
    sequences
        One sequence or equal-length sequences (N is encoded as zeros, as SpliceAI does).
    batch_size
        Sequences per forward pass (None: 8).
    device
        Where to run (None: automatic).

    Returns
    -------
    numpy.ndarray
        ``(N, C, L - context)`` float32 probabilities (softmax over the classes); position ``i`` is
        the sequence's position ``i + context // 2``.
    """
    seqs = [sequences] if isinstance(sequences, str) else list(sequences)
    size = resolve_batch_size(batch_size, AUTO_JOBS)
    x = one_hot(seqs, n_value=0.0)
    out = []
    with preserved(model, device) as lent, torch.no_grad():
        target = next(lent.parameters()).device
        for start in range(0, len(seqs), size):
            batch = torch.from_numpy(x[start:start + size]).to(target)
            out.append(lent(batch).softmax(dim=1).float().cpu().numpy())
    return np.concatenate(out)


@dataclass
class _Job:
    """One variant in one gene (or on the given strand): the windows to score."""

    variant: Variant
    match: bool
    gene: str
    strand: str
    ref: str | None  # None: not scored (NaN row)
    alt: str | None
    boundary: int | None  # signed distance to the nearest exon boundary (for ``mask``)


def _splice_classes(model: nn.Module) -> tuple[int, int]:
    """Indices of the acceptor and donor classes: by the model file's task names, or SpliceAI's order
    (neither, acceptor, donor) for a model without names (built or imported in code)."""
    meta = metadata_of(model)
    names = list(meta.tasks) if meta is not None and meta.tasks else SPLICEAI_TASKS
    if "acceptor" not in names or "donor" not in names:
        raise ConfigError(f"splice scores need a model with 'acceptor' and 'donor' outputs, got {names}")
    return names.index("acceptor"), names.index("donor")


def _windows(variant: Variant, seq: str, half: int, gene: Any) -> tuple[str, str]:
    """Ref and alt windows (``seq`` is the genome's ``2 half + 1`` bases around the variant)."""
    if gene is not None:  # SpliceAI sets the bases outside the transcript to N
        left = max(half + gene.tx_start - variant.pos, 0)
        right = max(half - (gene.tx_end - variant.pos), 0)
        seq = "N" * left + seq[left: len(seq) - right] + "N" * right
    ref = seq.upper()
    return ref, ref[:half] + variant.alt.upper() + ref[half + len(variant.ref):]


def _jobs(variants: Iterable[Variant], genome: Any, annotation: GeneAnnotation | None, strand: str | None,
          context: int, distance: int, file: str | None, stats: VcfStats | None) -> Iterator[_Job]:
    half = (context + 2 * distance + 1) // 2
    lengths: dict[str, int | None] = {}
    for v in variants:
        if v.chrom not in lengths:
            lengths[v.chrom] = variant_chrom_length(genome, v, file, stats is None)
        if stats is not None and not on_known_contig(v, lengths[v.chrom], genome, stats):
            continue
        seq = genome.fetch(v.chrom, v.pos - 1 - half, v.pos + half)
        match = seq[half: half + len(v.ref)].upper() == v.ref.upper()
        genes: list[Any] = annotation.at(v.chrom, v.pos) if annotation is not None else [None]
        if not genes:
            yield _Job(v, match, ".", ".", None, None, None)
        scorable = (len(v.ref) == 1 or len(v.alt) == 1) and len(v.ref) <= 2 * distance
        for gene in genes:
            name, side = (gene.name, gene.strand) if gene is not None else (".", strand or "+")
            ref, alt = _windows(v, seq, half, gene) if scorable else (None, None)
            bound = gene.nearest_boundary(v.pos) if gene is not None else None
            yield _Job(v, match, name, side, ref, alt, bound)


def _deltas(y_ref: np.ndarray, y_alt: np.ndarray, job: _Job, classes: tuple[int, int], distance: int,
            mask: bool) -> tuple[list[float], list[int]]:
    """The four delta scores and their positions from ``(C, 2 D + 1)`` ref and alt probabilities."""
    ref_len, alt_len = len(job.variant.ref), len(job.variant.alt)
    if ref_len > 1 and alt_len == 1:  # deletion: the deleted positions score 0 in alt
        cut = distance + alt_len
        gap = np.zeros((y_alt.shape[0], ref_len - alt_len))
        y_alt = np.concatenate([y_alt[:, :cut], gap, y_alt[:, cut:]], 1)
    elif ref_len == 1 and alt_len > 1:  # insertion: the inserted positions merged by their maximum
        inserted = y_alt[:, distance: distance + alt_len].max(axis=1, keepdims=True)
        y_alt = np.concatenate([y_alt[:, :distance], inserted, y_alt[:, distance + alt_len:]], 1)
    scores, positions = [], []
    for cls in classes:
        for gain in (True, False):
            diff = y_alt[cls] - y_ref[cls] if gain else y_ref[cls] - y_alt[cls]
            index = int(diff.argmax())
            at = index - distance
            masked = mask and job.boundary is not None and ((at == job.boundary) == gain)
            scores.append(0.0 if masked else float(diff[index]))
            positions.append(at)
    return scores, positions


def _window_probabilities(model: nn.Module, windows: list[tuple[str, str]],
                          device: torch.device) -> list[np.ndarray]:
    """Class probabilities ``(C, L - context)`` in genome order of ``(sequence, strand)`` windows."""
    out: list[Any] = [None] * len(windows)
    for length in sorted({len(seq) for seq, _ in windows}):  # indels make windows of other lengths
        idx = [i for i, (seq, _) in enumerate(windows) if len(seq) == length]
        seqs = [seq if side == "+" else reverse_complement(seq) for seq, side in (windows[i] for i in idx)]
        probs = splice_probabilities(model, seqs, batch_size=len(seqs), device=device)
        for i, p in zip(idx, probs, strict=True):
            out[i] = p if windows[i][1] == "+" else p[:, ::-1]
    return out


def _score_batch(model: nn.Module, jobs: list[_Job], classes: tuple[int, int], distance: int,
                 mask: bool, device: torch.device) -> dict[str, Any]:
    rows = [j for j in jobs if j.ref is not None and j.alt is not None]
    windows = [(j.ref, j.strand) for j in rows] + [(j.alt, j.strand) for j in rows]
    probs = _window_probabilities(model, windows, device) if rows else []  # type: ignore[arg-type]
    found = {id(j): _deltas(probs[k], probs[k + len(rows)], j, classes, distance, mask)
             for k, j in enumerate(rows)}
    return _columns(jobs, found)


def _columns(jobs: list[_Job], found: dict[int, tuple[list[float], list[int]]]) -> dict[str, Any]:
    nan = ([np.nan] * 4, [np.nan] * 4)
    values = [found.get(id(j), nan) for j in jobs]
    cols: dict[str, Any] = {
        "chrom": [j.variant.chrom for j in jobs], "pos": np.array([j.variant.pos for j in jobs], np.int64),
        "id": [j.variant.id for j in jobs], "ref": [j.variant.ref for j in jobs],
        "alt": [j.variant.alt for j in jobs], "ref_match": np.array([j.match for j in jobs], bool),
        "gene": [j.gene for j in jobs], "strand": [j.strand for j in jobs],
    }
    for k, name in enumerate(SCORES):
        cols[name] = np.array([s[k] for s, _ in values], np.float32)
    for k, name in enumerate(POSITIONS):
        cols[name] = np.array([p[k] for _, p in values], np.float32)  # float: NaN where not scored
    return cols


def splice_delta_columns() -> dict[str, np.dtype]:
    """The columns of a splice-score table and their types (an empty table's header)."""
    text = np.dtype(str)
    cols = {"chrom": text, "pos": np.dtype(np.int64), "id": text, "ref": text, "alt": text,
            "ref_match": np.dtype(bool), "gene": text, "strand": text}
    return cols | {name: np.dtype(np.float32) for name in SCORES + POSITIONS}


def splice_deltas(model: nn.Module, variants: Iterable[Variant], genome: Any, *,
                  annotation: GeneAnnotation | None = None, strand: str | None = None,
                  distance: int = DISTANCE, mask: bool = False, batch_size: int | None = None,
                  device: str | torch.device | None = None, progress: bool = False, file: str | None = None,
                  skip_invalid: bool = False, stats: VcfStats | None = None) -> Iterator[dict[str, Any]]:
    """SpliceAI delta scores of each variant, per gene (see the module docstring), batch by batch.

    Parameters
    ----------
    model
        A per-position splice model (``seqcnn import spliceai``): ``(N, 4, L) -> (N, C, L - context)``
        with ``acceptor`` and ``donor`` among its task names. Left as it was found.
    variants
        Variants (``seqcnn.seq.variants.read_vcf``).
    genome
        The genome they refer to (``seqcnn.seq.genome.Genome``).
    annotation
        Genes (:func:`read_gene_annotation`): each variant is scored on the strand of every gene whose
        transcript covers it (both strands when genes on both do).
    strand
        ``+`` or ``-``: score every variant on this strand, without genes (give this or ``annotation``).
    distance
        Bases on each side searched for gains and losses (SpliceAI ``-D``; 50).
    mask
        Zero a gain at the nearest annotated exon boundary and a loss elsewhere (SpliceAI ``-M 1``).
    batch_size
        Variant-gene pairs a forward pass (each two windows; None: 8).
    device
        Where to run (None: automatic).
    progress
        A progress bar (variant-gene pairs) on stderr.
    file
        The VCF, named in errors.
    skip_invalid, stats
        As in :func:`seqcnn.score.variants.score_variants`: leave out variants on an unknown contig or
        past its end, counted in ``stats``.

    Yields
    ------
    dict[str, Any]
        Columns of one batch of rows (:func:`splice_delta_columns`).

    Raises
    ------
    ConfigError
        Neither or both of ``annotation`` and ``strand``, a strand other than ``+``/``-``, ``mask``
        without an annotation, a negative distance, or a model without acceptor and donor outputs.
    InputError
        An unknown contig or a position past its end (without ``skip_invalid``).
    """
    if (annotation is None) == (strand is None):
        raise ConfigError("splice scores need one of a gene annotation (SpliceAI's format; vep --annotation) "
                          "and a strand (+ or -; vep --strand)")
    if strand not in (None, "+", "-"):
        raise ConfigError(f"strand must be + or -, got {strand!r}")
    if mask and annotation is None:
        raise ConfigError("mask needs a gene annotation (it zeroes scores at annotated exon boundaries)")
    if isinstance(distance, bool) or not isinstance(distance, int) or distance < 0:
        raise ConfigError(f"distance must be a non-negative integer, got {distance!r}")
    classes = _splice_classes(model)
    receptive = getattr(model, "receptive_field", None)
    if not isinstance(receptive, int):
        raise ConfigError("splice scores need a per-position model that names its receptive field")
    context = receptive - 1
    size = resolve_batch_size(batch_size, AUTO_JOBS)
    if skip_invalid and stats is None:
        stats = VcfStats()
    counts = stats if skip_invalid else None
    jobs = _jobs(variants, genome, annotation, strand, context, distance, file, counts)
    with preserved(model, device) as lent:
        target = next(lent.parameters()).device
        batch: list[_Job] = []
        for job in progress_bar(jobs, enabled=progress, desc="variants", unit="pair"):
            batch.append(job)
            if len(batch) == size:
                yield _score_batch(lent, batch, classes, distance, mask, target)
                batch = []
        if batch:
            yield _score_batch(lent, batch, classes, distance, mask, target)
