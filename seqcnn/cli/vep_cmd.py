"""``seqcnn vep``: variant effects of VCF records, ref and alt windows through the model."""

from __future__ import annotations

from typing import Any

import click

from seqcnn.cli.options import (
    batch_size_option,
    device_option,
    load_scorer,
    logits_option,
    note,
    quiet_broken_pipe,
    quiet_option,
    rc_option,
)
from seqcnn.cli.profile_vep import load_profile_scorer, profile_scores_option, use_profile
from seqcnn.cli.splice_vep import splice_options, splice_vep, use_splice


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("vcf", metavar="VCF")
@click.option("--genome", required=True, help="Indexed genome FASTA the VCF refers to.")
@click.option("-o", "--output", default="-", show_default=True,
              help="Output table (.tsv, .tsv.gz, .parquet, .npz, -).")
@click.option("--window", type=click.IntRange(1), default=None,
              help="Window width for models that take any length (default: the model's input length).")
@click.option("--no-header", is_flag=True, help="Leave out the header line (TSV).")
@click.option("--skip-invalid", is_flag=True,
              help="Skip records with a bad REF/ALT, an unknown contig or a position past the contig's end "
                   "(counted by reason on stderr) instead of stopping.")
@click.option("--rejects", type=click.Path(dir_okay=False), default=None,
              help="With --skip-invalid: write the skipped VCF lines here, each with a reason column.")
@profile_scores_option
@splice_options
@logits_option
@rc_option
@batch_size_option
@device_option
@quiet_option
def vep(model_path: str, vcf: str, genome: str, output: str, window: int | None, no_header: bool,
        skip_invalid: bool, rejects: str | None, logits: bool, rc: str | None, batch_size: int,
        device: str | None, quiet: bool, profile_scores: bool | None = None, **splice: Any) -> None:
    """Variant effects: score ref and alt windows centred on each VCF variant (SNVs, small indels).

    Columns: chrom pos id ref alt ref_match, then ref_<task> alt_<task> diff_<task> log2fc_<task>.
    Splice models (tasks acceptor and donor, e.g. from `seqcnn import spliceai`) give SpliceAI delta
    scores per variant and gene instead: ... gene strand DS_AG DS_AL DS_DG DS_DL DP_AG DP_AL DP_DG DP_DL
    (give --annotation or --strand). Profile models (BPNet) give, per task, logcounts_ref_<task>
    logcounts_alt_<task> log2fc_<task> jsd_<task> (count log2 fold change, profile Jensen-Shannon distance).
    """
    from seqcnn.errors import ConfigError
    from seqcnn.seq.genome import Genome
    from seqcnn.seq.variants import VcfStats, read_vcf
    from seqcnn.workflows.score_tables import TableOptions
    from seqcnn.workflows.variant_tables import rejects_file, variant_table

    if rejects is not None and not skip_invalid:
        raise ConfigError("--rejects needs --skip-invalid (without it the first bad record stops the run)")
    splicing = use_splice(model_path, splice, {"--window": window, "--rc": rc, "--logits": logits})
    profile = use_profile(model_path, profile_scores, splicing, logits)
    scorer = None if splicing else (load_profile_scorer(model_path, device, rc) if profile
                                    else load_scorer(model_path, device, rc, logits))
    stats = VcfStats()
    options = TableOptions(header=not no_header, skip_invalid=skip_invalid, batch_size=batch_size,
                           progress=not quiet)
    with quiet_broken_pipe(), rejects_file(rejects, stats):
        if splicing:  # a per-position splice model (SpliceAI): delta scores per variant and gene
            mismatches = splice_vep(model_path, vcf, genome, output, options=options, stats=stats,
                                    device=device, quiet=quiet, **splice)
        else:
            mismatches = variant_table(scorer, read_vcf(vcf, stats, skip_invalid=skip_invalid),
                                       Genome(genome), output, window=window, file=vcf, options=options,
                                       stats=stats, profile=profile)
    if stats.n_split:
        note(f"split {stats.n_split} extra ALT allele(s) of multi-allelic records into rows", quiet)
    if stats.skipped:
        shown = ", ".join(stats.skipped[:10])
        note(f"skipped {len(stats.skipped)} symbolic or missing ALT allele(s): {shown}", quiet)
    summary = stats.invalid_summary()
    if summary:  # always shown: a skip is never silent
        click.echo(f"seqcnn: {summary}" + (f" (written to {rejects})" if rejects else ""), err=True)
    if mismatches:
        click.echo(f"seqcnn: {mismatches} variant(s) have a REF that differs from the genome "
                   "(ref_match False)", err=True)
