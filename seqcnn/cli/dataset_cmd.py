"""``seqcnn dataset``: peaks + genome (+ bigWig signal), or peak sequences, to a training dataset directory
(thin adapter over seqcnn.data.build)."""

from __future__ import annotations

import click

from seqcnn.cli.options import quiet_option


def _chroms(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


@click.command("dataset")
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False),
              help="Dataset directory to make (must not exist or be empty, unless --overwrite).")
@click.option("--genome", default=None, type=click.Path(dir_okay=False),
              help="Genome FASTA, plain or bgzip (read by index; a .fai is made when missing).")
@click.option("--peaks", multiple=True, metavar="FILE[:NAME]",
              help="Peaks: BED3+, narrowPeak (windows centred on the summit) or broadPeak (on the midpoint); "
                   "repeat for one task per file.")
@click.option("--positives-fasta", multiple=True, metavar="FILE[:NAME]",
              help="Instead of --genome/--peaks: sequences already cut around peaks, ids chrom:start-end.")
@click.option("--length", type=click.IntRange(1), default=None,
              help="Window length (required with --peaks; FASTA records are cropped/padded to it).")
@click.option("--single-task", is_flag=True, help="One task, positive for a peak of any file.")
@click.option("--label-width", type=click.IntRange(1), default=200, show_default=True,
              help="A window is positive for a task with a peak overlapping its central bases.")
@click.option("--negatives", type=click.Choice(["gc-matched", "shuffle", "none"]), default=None,
              help="gc-matched genome windows (default with --genome), dinucleotide shuffles of the "
                   "positives (default with --positives-fasta) or none.")
@click.option("--ratio", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="Negatives per positive.")
@click.option("--flank", type=click.IntRange(0), default=None,
              help="Bases around each peak kept free of gc-matched negatives [default: --length].")
@click.option("--blacklist", type=click.Path(dir_okay=False), default=None,
              help="BED of regions no window may touch (peaks there are dropped).")
@click.option("--max-n", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Largest fraction of non-ACGT bases in a gc-matched negative.")
@click.option("--gc-bins", type=click.IntRange(1), default=50, show_default=True,
              help="Equal GC bins on [0, 1] matched between positives and negatives.")
@click.option("--shuffle-k", type=click.IntRange(1), default=2, show_default=True,
              help="k-mer size the shuffled negatives keep (2: dinucleotides).")
@click.option("--signal", multiple=True, metavar="FILE.bw[:NAME]",
              help="bigWig targets; PLUS.bw,MINUS.bw[:NAME] for a stranded pair. Repeatable.")
@click.option("--stat", type=click.Choice(["sum", "mean"]), default="sum", show_default=True,
              help="Per-window target: signal sum or mean over the window.")
@click.option("--log1p", is_flag=True, help="log(1 + x) of the per-window targets.")
@click.option("--profile", is_flag=True,
              help="Base-resolution profiles (BPNet) instead of per-window targets.")
@click.option("--control", default=None, metavar="FILE.bw",
              help="Control bigWig (or PLUS.bw,MINUS.bw) stored beside --profile targets.")
@click.option("--valid-chroms", default="chr7", show_default=True,
              help="Comma-separated chromosomes of the validation split.")
@click.option("--test-chroms", default="chr8,chr9", show_default=True,
              help="Comma-separated chromosomes of the test split (defaults after DeepSEA).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the negatives.")
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset directory.")
@quiet_option
def dataset(out: str, genome: str | None, peaks: tuple[str, ...], positives_fasta: tuple[str, ...],
            length: int | None, single_task: bool, label_width: int, negatives: str | None, ratio: float,
            flank: int | None, blacklist: str | None, max_n: float, gc_bins: int, shuffle_k: int,
            signal: tuple[str, ...], stat: str, log1p: bool, profile: bool, control: str | None,
            valid_chroms: str, test_chroms: str, seed: int, overwrite: bool, quiet: bool) -> None:
    """Build a training dataset: windows around peaks (or peak sequences), negatives, labels and
    targets, split by chromosome.

    Writes OUT/train.fa valid.fa test.fa, labels.tsv (one 0/1 column per peak file), targets.tsv or
    profiles.npz (with --signal), windows.bed, manifest.json and config.<model>.yaml skeletons that
    `seqcnn train` reads as they are.
    """
    from seqcnn.data.build import DatasetOptions, build_dataset

    options = DatasetOptions(
        genome=genome, peaks=list(peaks), positives_fasta=list(positives_fasta), length=length,
        single_task=single_task, label_width=label_width, negatives=negatives, ratio=ratio, flank=flank,
        blacklist=blacklist, max_n=max_n, gc_bins=gc_bins, shuffle_k=shuffle_k, signal=list(signal),
        stat=stat, log1p=log1p, profile=profile, control=control, valid_chroms=_chroms(valid_chroms),
        test_chroms=_chroms(test_chroms), seed=seed)
    result = build_dataset(out, options, overwrite=overwrite, progress=not quiet)
    if not quiet:
        _report(result.manifest, out)


def _report(manifest: dict, out: str) -> None:
    """Counts per split and task, negatives, NaN signal and the configs written, on stderr."""
    for split, count in manifest["splits"].items():
        tasks = " ".join(f"{t}={n}" for t, n in count["positives"].items())
        click.echo(f"{split}\t{count['windows']} windows\tpositives {tasks or '-'}\t"
                   f"negatives {count['negatives']}", err=True)
    gc = manifest["gc"]
    if gc["ks_statistic"] is not None:
        click.echo(f"GC\tpositives {gc['positives_mean']:.3f}\tnegatives {gc['negatives_mean']:.3f}\t"
                   f"KS {gc['ks_statistic']:.3f}", err=True)
    signal = manifest.get("signal") or {}
    for track, n in signal.get("nan_bases_counted_as_zero", {}).items():
        if n:
            click.echo(f"seqcnn: {track}: {n} bases without signal (NaN) counted as 0", err=True)
    for config in manifest["configs"]:
        click.echo(f"config\tseqcnn train {out}/{config}", err=True)
