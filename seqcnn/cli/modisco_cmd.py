"""``seqcnn modisco MODEL FASTA -o DIR``: TF-MoDISco patterns of a model's contributions, as a report."""

from __future__ import annotations

import click

from seqcnn.cli.options import device_option, load_scalar_model, profile_option, quiet_option, rc_option


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.argument("fasta", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory (created): patterns.h5, patterns.meme, patterns.tsv, matches.tsv, "
                   "seqlets.tsv, logos/, report.html.")
@click.option("--attribution", type=click.Choice(["deeplift", "ism"]), default="deeplift", show_default=True,
              help="Hypothetical contributions: DeepLIFT/SHAP (shuffled references) or mutagenesis (ISM).")
@click.option("--sequences", "n_sequences", type=click.IntRange(1), default=2000, show_default=True,
              help="Sequences explained (a seeded random subset).")
@click.option("--task", "tasks", multiple=True,
              help="Task name or index explained (repeatable; several are summed; default: all).")
@click.option("--max-seqlets", type=click.IntRange(1), default=2000, show_default=True,
              help="Most seqlets clustered per sign (positive, negative).")
@click.option("--leiden-runs", type=click.IntRange(1), default=2, show_default=True,
              help="Leiden clusterings with different seeds (the best is kept).")
@click.option("--shuffles", type=click.IntRange(1), default=20, show_default=True,
              help="DeepLIFT/SHAP references (dinucleotide shuffles) per sequence.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the shuffled references.")
@click.option("--matches", "n_matches", type=click.IntRange(1), default=5, show_default=True,
              help="TomTom matches kept per pattern in matches.tsv.")
@click.option("--targets", type=click.Path(exists=True, dir_okay=False), default=None,
              help="MEME file of motifs to match against, instead of JASPAR.")
@click.option("--collection", default="CORE", show_default=True, help="JASPAR collection.")
@click.option("--taxon", default="vertebrates", show_default=True,
              help="JASPAR taxonomic group ('all' for every group).")
@click.option("--release", default="JASPAR2026", show_default=True,
              help="JASPAR release bundled with pyjaspar.")
@rc_option
@profile_option
@click.option("--batch-size", "-b", type=click.IntRange(1), default=None,
              help="Sequence-reference pairs (DeepLIFT) or substitutions (ISM) per batch [default: auto].")
@device_option
@quiet_option
def modisco(model_path: str, fasta: str, out_dir: str, attribution: str, n_sequences: int,
            tasks: tuple[str, ...], max_seqlets: int, leiden_runs: int, shuffles: int, seed: int,
            n_matches: int, targets: str | None, collection: str, taxon: str, release: str, rc: str | None,
            profile_output: str, batch_size: int | None, device: str | None, quiet: bool) -> None:
    """Find TF-MoDISco patterns in MODEL's contributions over the sequences in FASTA and annotate them.

    Writes DIR/patterns.h5 (modisco-lite's own format: `modisco report -i DIR/patterns.h5` reads it),
    DIR/patterns.meme (pattern cores, MEME v4), DIR/patterns.tsv (one row per pattern),
    DIR/matches.tsv (TomTom), DIR/seqlets.tsv (every seqlet), DIR/logos/*.png and DIR/report.html.
    """
    from seqcnn.errors import InputError
    from seqcnn.seq.fasta import read_fasta
    from seqcnn.workflows.modisco_report import ModiscoOptions, modisco_report

    model = load_scalar_model(model_path, profile_output, device=device)
    records = list(read_fasta(fasta))
    if not records:
        raise InputError("no sequences in FASTA file", file=fasta)
    options = ModiscoOptions(
        attribution=attribution, n_sequences=n_sequences, target=list(tasks) or None,
        max_seqlets=max_seqlets, n_shuffles=shuffles, seed=seed, settings={"n_leiden_runs": leiden_runs},
        targets=targets, collection=collection, tax_group=None if taxon == "all" else taxon, release=release,
        n_matches=n_matches, rc=rc, batch_size=batch_size, device=device, progress=not quiet)
    report = modisco_report(model, records, out_dir, options)
    if not quiet:
        part = report.part
        click.echo(f"seqcnn: {len(part.table)} patterns from {len(part.seqlets)} seqlets, {part.n_matched} "
                   f"matching a known motif (q < 0.05); report: {report.files['html']}", err=True)
