"""``seqcnn motifs MODEL FASTA -o DIR``: first-layer filters as motifs, annotated against JASPAR."""

from __future__ import annotations

import click

from seqcnn.cli.options import batch_size_option, device_option, quiet_option


@click.command("motifs")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.argument("fasta", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory (created): filters.meme, table.tsv, matches.tsv, logos/, report.html.")
@click.option("--method", type=click.Choice(["sites", "kernel"]), default="sites", show_default=True,
              help="Motifs from activating sites over FASTA, or from the kernels' weights.")
@click.option("--fraction", type=click.FloatRange(0, 1, max_open=True), default=0.5, show_default=True,
              help="A site activates a filter above this fraction of its maximum.")
@click.option("--targets", type=click.Path(exists=True, dir_okay=False), default=None,
              help="MEME file of motifs to match against, instead of JASPAR.")
@click.option("--collection", default="CORE", show_default=True, help="JASPAR collection.")
@click.option("--taxon", default="vertebrates", show_default=True,
              help="JASPAR taxonomic group (vertebrates, plants, insects, nematodes, fungi, urochordates; "
                   "'all' for every group).")
@click.option("--release", default="JASPAR2026", show_default=True,
              help="JASPAR release bundled with pyjaspar.")
@click.option("--matches", "n_matches", type=click.IntRange(1), default=5, show_default=True,
              help="TomTom matches kept per filter in matches.tsv.")
@click.option("--examples", "n_examples", type=click.IntRange(0), default=3, show_default=True,
              help="Mutation maps of this many top-scoring sequences in report.html.")
@click.option("--attribution-sequences", type=click.IntRange(0), default=0, show_default=True,
              help="Also cluster seqlets of ISM maps of this many sequences into motifs (slow on CPU); "
                   "with --attribution, the sequences TF-MoDISco explains (0: 2000).")
@click.option("--attribution", type=click.Choice(["deeplift", "ism"]), default=None,
              help="Also find TF-MoDISco patterns in DeepLIFT/SHAP or ISM contributions (DIR/modisco/).")
@click.option("--influence-sequences", type=click.IntRange(1), default=1000, show_default=True,
              help="Sequences (a random subset) used for filter influence.")
@batch_size_option
@device_option
@quiet_option
def motifs(model_path: str, fasta: str, out_dir: str, method: str, fraction: float, targets: str | None,
           collection: str, taxon: str, release: str, n_matches: int, n_examples: int,
           attribution_sequences: int, attribution: str | None, influence_sequences: int, batch_size: int,
           device: str | None, quiet: bool) -> None:
    """Turn MODEL's first-layer filters into motifs over the sequences in FASTA and annotate them.

    Writes DIR/filters.meme (MEME v4), DIR/table.tsv (one row per filter), DIR/matches.tsv (TomTom
    matches), DIR/logos/*.png and DIR/report.html (self-contained; open it in any browser); with
    --attribution-sequences also DIR/attribution.meme and DIR/attribution.tsv; with --attribution the
    TF-MoDISco files of `seqcnn modisco` in DIR/modisco/ instead.
    """
    from seqcnn.errors import InputError
    from seqcnn.modelfile import load_model
    from seqcnn.seq.fasta import read_fasta
    from seqcnn.workflows.motif_pipeline import ReportOptions, motif_report

    model = load_model(model_path, device=device)
    records = list(read_fasta(fasta))
    if not records:
        raise InputError("no sequences in FASTA file", file=fasta)
    options = ReportOptions(
        method=method, fraction=fraction, targets=targets, collection=collection,
        tax_group=None if taxon == "all" else taxon, release=release, n_matches=n_matches,
        n_examples=n_examples, attribution_sequences=attribution_sequences, attribution=attribution,
        max_influence_sequences=influence_sequences, batch_size=batch_size, device=device, progress=not quiet)
    report = motif_report(model, records, out_dir, options)
    if not quiet:
        click.echo(f"seqcnn: {len(report.motifs)} filters, {report.fraction_matched:.0%} matching a known "
                   f"motif (q < 0.05); report: {report.files['html']}", err=True)
