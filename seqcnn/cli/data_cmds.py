"""``seqcnn simulate``: a planted JASPAR-motif data set (thin adapter over seqcnn.seq.simulate)."""

from __future__ import annotations

import click

from seqcnn.cli.options import quiet_option


@click.command()
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory (created if missing).")
@click.option("--n", "n_sequences", type=click.IntRange(1), default=25000, show_default=True,
              help="Number of sequences.")
@click.option("--length", type=click.IntRange(1), default=200, show_default=True, help="Sequence length.")
@click.option("--motifs", default=None,
              help="Comma-separated JASPAR ids or TF names (default: a dozen well-known vertebrate TFs).")
@click.option("--random", "n_random", type=click.IntRange(1), default=None,
              help="Plant a seeded random draw of this many JASPAR CORE vertebrate motifs (distinct TF "
                   "names; the draw follows --seed) instead of --motifs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--gc", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Background GC content.")
@click.option("--negative-fraction", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Fraction of pure-background sequences.")
@click.option("--min-instances", type=click.IntRange(1), default=1, show_default=True,
              help="Fewest motif instances per positive sequence.")
@click.option("--max-instances", type=click.IntRange(1), default=5, show_default=True,
              help="Most motif instances per positive sequence.")
@quiet_option
def simulate(out_dir: str, n_sequences: int, length: int, motifs: str | None, n_random: int | None,
             seed: int, gc: float, negative_fraction: float, min_instances: int, max_instances: int,
             quiet: bool) -> None:
    """Make a planted JASPAR-motif data set (Koo & Eddy 2019 style).

    Writes train.fa, valid.fa, test.fa, labels.tsv (multi-hot), motifs.meme (ground truth)
    and sites.tsv (every planted site) into OUT.
    """
    from seqcnn.seq.simulate import simulate_dataset

    if n_random is not None:
        if motifs is not None:
            raise click.UsageError("give --motifs or --random, not both")
        from seqcnn.seq.jaspar import random_jaspar_motifs

        motifs = random_jaspar_motifs(n_random, seed=seed)
        if not quiet:
            click.echo("motifs\t" + ",".join(f"{m.id}:{m.name}" for m in motifs), err=True)
    paths = simulate_dataset(out_dir, motifs=motifs, n_sequences=n_sequences, length=length,
                             min_instances=min_instances, max_instances=max_instances,
                             negative_fraction=negative_fraction, gc=gc, seed=seed)
    if not quiet:
        for key, path in paths.items():
            click.echo(f"{key}\t{path}", err=True)
