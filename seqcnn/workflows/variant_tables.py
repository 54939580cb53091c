"""Variant-effect tables: the ref and alt windows of VCF variants scored into an output table."""

from __future__ import annotations

from typing import Any

from seqcnn.io.tables import open_table
from seqcnn.score.scorer import Scorer
from seqcnn.score.variants import score_variants, variant_width
from seqcnn.workflows.score_tables import TableOptions


def variant_table(scorer: Scorer, variants: Any, genome: Any, output: str, *, window: int | None = None,
                  file: str | None = None, options: TableOptions | None = None) -> int:
    """Score the ref and alt windows of each variant into ``output``
    (:func:`seqcnn.score.variants.score_variants` gives the columns).

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
        Writing options (``skip_invalid`` does not apply).

    Returns
    -------
    int
        Variants whose REF differs from the genome (``ref_match`` False).
    """
    opts = options or TableOptions()
    width = variant_width(scorer, window)
    mismatches = 0
    with open_table(output, header=opts.header) as table:
        for cols in score_variants(scorer, variants, genome, width=width, batch_size=opts.batch_size,
                                   file=file, progress=opts.progress):
            mismatches += int((~cols["ref_match"]).sum())
            table.write(cols)
    return mismatches


__all__ = ["variant_table"]
