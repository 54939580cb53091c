"""Variant-effect tables: the ref and alt windows of VCF variants scored into an output table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TextIO

from seqcnn.io.atomic import atomic_path
from seqcnn.io.tables import open_table
from seqcnn.score.profile_variants import profile_variant_columns, score_profile_variants
from seqcnn.score.scorer import Scorer
from seqcnn.score.variants import score_variants, variant_columns, variant_width
from seqcnn.seq.variants import VcfStats
from seqcnn.workflows.score_tables import TableOptions


def variant_table(scorer: Scorer, variants: Any, genome: Any, output: str, *, window: int | None = None,
                  file: str | None = None, options: TableOptions | None = None,
                  stats: VcfStats | None = None, profile: bool = False) -> int:
    """Score the ref and alt windows of each variant into ``output``
    (:func:`seqcnn.score.variants.score_variants` gives the columns). The table has its columns
    (a TSV its header) even when no variant is left to score.

    Parameters
    ----------
    scorer
        The scorer.
    variants
        Variants (``seqcnn.seq.variants.read_vcf``).
    genome
        The genome they refer to (``seqcnn.seq.genome.Genome``).
    output
        Table path or ``-``.
    window
        Window width for models that take any length (None: the model's input length).
    file
        The VCF's name for error messages.
    options
        Writing options; ``skip_invalid`` leaves out variants on a chromosome the genome lacks or
        past its end, counted in ``stats`` (read the VCF with ``skip_invalid`` too for bad REF/ALT).
    stats
        Where the variants left out are counted (the one ``read_vcf`` fills).
    profile
        Profile scores (``scorer`` from :func:`seqcnn.score.profile_variants.profile_scorer`): count
        log2 fold change and profile Jensen-Shannon distance
        (:func:`seqcnn.score.profile_variants.score_profile_variants` gives the columns).

    Returns
    -------
    int
        Variants whose REF differs from the genome (``ref_match`` False).
    """
    opts = options or TableOptions()
    width = variant_width(scorer, window)
    mismatches = 0
    score, columns = (score_profile_variants, profile_variant_columns) if profile else (score_variants,
                                                                                       variant_columns)
    with open_table(output, header=opts.header) as table:
        for cols in score(scorer, variants, genome, width=width, batch_size=opts.batch_size, file=file,
                          progress=opts.progress, skip_invalid=opts.skip_invalid, stats=stats):
            mismatches += int((~cols["ref_match"]).sum())
            table.write(cols)
        if table.n_rows == 0:
            table.declare(columns(scorer, width))
    return mismatches


@contextlib.contextmanager
def rejects_file(path: str | None, stats: VcfStats) -> Iterator[VcfStats]:
    """Write the VCF records ``stats`` sees rejected to ``path``, atomically, while the block runs.

    Each line is the VCF line as written plus a tab and the reason (``bad REF 'M' ...``); the
    first line is the VCF's ``#CHROM`` header plus ``\\treason`` (``#reason`` when it has none). A
    failed run leaves no file.

    Parameters
    ----------
    path
        The rejects file (None: none is written).
    stats
        The counts :func:`seqcnn.seq.variants.read_vcf` and :func:`variant_table` fill; its
        ``on_reject`` is set for the block.

    Yields
    ------
    VcfStats
        ``stats``.
    """
    if path is None:
        yield stats
        return
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        started = [False]

        def header(out: TextIO) -> None:
            if not started[0]:
                out.write(f"{stats.header}\treason\n" if stats.header else "#reason\n")
                started[0] = True

        def on_reject(text: str | None, reason: str) -> None:
            header(handle)
            handle.write(f"{text if text is not None else '.'}\t{reason}\n")

        stats.on_reject = on_reject
        try:
            yield stats
            header(handle)
        finally:
            stats.on_reject = None


__all__ = ["rejects_file", "variant_table"]
