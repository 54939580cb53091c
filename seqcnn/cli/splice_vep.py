"""``seqcnn vep`` with a per-position splice model (SpliceAI): delta scores per variant and gene.

``vep_cmd`` adds :data:`splice_options` to ``seqcnn vep`` and hands a model whose tasks name
``acceptor`` and ``donor`` to :func:`splice_vep`, which writes the table of
:func:`seqcnn.score.splice_variants.splice_deltas`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from seqcnn.cli.options import note

SPLICE_TASKS = ("acceptor", "donor")


def splice_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of ``seqcnn vep`` that only splice models use."""
    for option in reversed([
        click.option("--annotation", default=None, type=click.Path(dir_okay=False),
                     help="Splice models: genes in SpliceAI's format (#NAME CHROM STRAND TX_START TX_END "
                          "EXON_START EXON_END, e.g. spliceai/annotations/grch37.txt); each variant is "
                          "scored on the strand of every gene that covers it."),
        click.option("--strand", type=click.Choice(["+", "-"]), default=None,
                     help="Splice models: score every variant on this strand (instead of --annotation)."),
        click.option("--distance", type=click.IntRange(0), default=50, show_default=True,
                     help="Splice models: bases each side searched for gained and lost sites."),
        click.option("--mask", is_flag=True,
                     help="Splice models: zero gains of annotated and losses of unannotated sites."),
    ]):
        command = option(command)
    return command


def use_splice(model_path: str, splice: dict[str, Any], scorer_options: dict[str, Any]) -> bool:
    """True for a splice model file (its tasks name acceptor and donor; only the metadata is read).

    Raises ``ConfigError`` for splice options (``splice``: vep's annotation, strand, distance, mask)
    given with another model, or scorer options (``--window``, ``--rc``, ``--logits``) given with one.
    """
    from seqcnn.errors import ConfigError
    from seqcnn.modelfile import read_metadata

    is_splice = all(task in read_metadata(model_path).tasks for task in SPLICE_TASKS)
    given = [f"--{k}" for k in ("annotation", "strand", "mask") if splice.get(k) not in (None, False)]
    if given and not is_splice:
        raise ConfigError(f"{', '.join(given)}: only for splice models (tasks acceptor and donor)")
    wrong = [name for name, value in scorer_options.items() if value]
    if wrong and is_splice:
        raise ConfigError(f"{', '.join(wrong)}: not for splice models (they score SpliceAI windows)")
    return is_splice


def splice_vep(model_path: str, vcf: str, genome: str, output: str, *, options: Any, stats: Any,
               device: str | None, quiet: bool, annotation: str | None = None, strand: str | None = None,
               distance: int = 50, mask: bool = False) -> int:
    """Write the SpliceAI delta scores (DS_AG DS_AL DS_DG DS_DL and positions) of each VCF variant.

    ``options`` are vep's table options (header, skip_invalid, batch size, progress); ``stats`` the
    VCF counts. Returns the variants whose REF differs from the genome.
    """
    from seqcnn.io.tables import open_table
    from seqcnn.modelfile import load_model
    from seqcnn.score.splice_variants import read_gene_annotation, splice_delta_columns, splice_deltas
    from seqcnn.seq.genome import Genome
    from seqcnn.seq.variants import read_vcf

    genes = read_gene_annotation(annotation) if annotation is not None else None
    model = load_model(model_path, device=device)
    variants = read_vcf(vcf, stats, skip_invalid=options.skip_invalid)
    mismatches = outside = 0
    with open_table(output, header=options.header) as table:
        for cols in splice_deltas(model, variants, Genome(genome), annotation=genes, strand=strand,
                                  distance=distance, mask=mask, batch_size=None, device=device,
                                  progress=options.progress, file=vcf, skip_invalid=options.skip_invalid,
                                  stats=stats):
            table.write(cols)
            mismatches += int((~cols["ref_match"]).sum())
            outside += sum(g == "." for g in cols["gene"]) if genes is not None else 0
        if table.n_rows == 0:
            table.declare(splice_delta_columns())
    note(f"{outside} variant(s) in no annotated gene (scores NaN)" if outside else None, quiet)
    return mismatches
