"""``seqcnn score``, ``vep``, ``info`` and ``export``: parse the options, call the library, write."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import click

from seqcnn.cli.options import batch_size_option, device_option, quiet_option

rc_option = click.option("--rc", type=click.Choice(["mean", "max", "none"]), default=None,
                         help="Combine both strands (default: the model file's rc_mode).")
score_batch_option = click.option(
    "--batch-size", "-b", type=click.IntRange(1), default=None,
    help="Sequences per batch [default: up to 1024, fewer for wide first layers or long sequences].")
logits_option = click.option("--logits", is_flag=True, help="Raw model outputs instead of probabilities.")


@contextlib.contextmanager
def _quiet_broken_pipe() -> Iterator[None]:
    """When stdout's reader goes away (``| head``), stop quietly with exit status 0, as
    ``seqcnn.cli.main`` intends (click itself would turn EPIPE into exit 1). stdout is pointed at
    /dev/null first so that the interpreter's final flush cannot fail again."""
    try:
        yield
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise click.exceptions.Exit(0) from None


def _note(message: str | None, quiet: bool) -> None:
    if message and not quiet:
        click.echo(f"seqcnn: {message}", err=True)


def _report_skipped(skipped: list[str]) -> None:
    if skipped:
        shown = ", ".join(skipped[:20]) + (f", ... ({len(skipped) - 20} more)" if len(skipped) > 20 else "")
        click.echo(f"seqcnn: skipped {len(skipped)} record(s) with invalid bases: {shown}", err=True)


def _scorer(model_path: str, device: str | None, rc: str | None, logits: bool) -> Any:
    from seqcnn.modelfile import load_model
    from seqcnn.score.scorer import Scorer
    from seqcnn.score.scoring import keep_freed_memory

    keep_freed_memory()
    return Scorer(load_model(model_path, device=device), device=device, rc=rc, logits=logits)


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("fasta", default="-", metavar="[FASTA|-]")
@click.option("-o", "--output", default="-", show_default=True,
              help="Output table; the extension picks .tsv, .tsv.gz, .parquet or .npz; - is stdout.")
@click.option("--echo", is_flag=True, help="Add the scored sequence as a column.")
@click.option("--no-header", is_flag=True, help="Leave out the header line (TSV).")
@logits_option
@rc_option
@click.option("--bed", "bed_path", default=None, help="Score these BED intervals of --genome, not a FASTA.")
@click.option("--genome", default=None, help="Indexed genome FASTA for --bed.")
@click.option("--window", type=click.IntRange(1), default=None, help="Scan sequences with windows this long.")
@click.option("--step", type=click.IntRange(1), default=None, help="Window step (default: the window).")
@click.option("--record-max", default=None, help="With --window: also write each record's maximum here.")
@click.option("--skip-invalid", is_flag=True, help="Skip records with invalid bases (ids listed on stderr).")
@score_batch_option
@device_option
@quiet_option
def score(model_path: str, fasta: str, output: str, echo: bool, no_header: bool, logits: bool,
          rc: str | None, bed_path: str | None, genome: str | None, window: int | None, step: int | None,
          record_max: str | None, skip_invalid: bool, batch_size: int | None, device: str | None,
          quiet: bool) -> None:
    """Score FASTA records (or BED intervals) with MODEL: one row per record, a column per task.

    Reads stdin when FASTA is - or left out, so it works in a pipe:
    zcat x.fa.gz | seqcnn score model.safetensors - | head
    """
    from seqcnn.errors import ConfigError
    from seqcnn.workflows.score_tables import TableOptions, bed_table, fasta_table, window_table

    if (bed_path is None) != (genome is None):
        raise ConfigError("--bed and --genome go together")
    if window is None and (step or record_max):
        raise ConfigError("--step and --record-max need --window")
    if window is not None and (echo or bed_path):
        raise ConfigError("--window cannot be combined with --echo or --bed")
    scorer = _scorer(model_path, device, rc, logits)
    options = TableOptions(header=not no_header, skip_invalid=skip_invalid, batch_size=batch_size,
                           progress=not quiet)
    with _quiet_broken_pipe():
        if window is not None:
            stats = window_table(scorer, fasta, output, window=window, step=step or window,
                                 record_max=record_max, options=options)
        elif bed_path is not None:
            stats = bed_table(scorer, bed_path, genome, output, echo=echo, options=options)
        else:
            stats = fasta_table(scorer, fasta, output, echo=echo, options=options)
    _note(stats.length_note(scorer.input_length), quiet)
    _report_skipped(stats.skipped)


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("vcf", metavar="VCF")
@click.option("--genome", required=True, help="Indexed genome FASTA the VCF refers to.")
@click.option("-o", "--output", default="-", show_default=True,
              help="Output table (.tsv, .tsv.gz, .parquet, .npz, -).")
@click.option("--window", type=click.IntRange(1), default=None,
              help="Window width for models that take any length (default: the model's input length).")
@click.option("--no-header", is_flag=True, help="Leave out the header line (TSV).")
@logits_option
@rc_option
@batch_size_option
@device_option
@quiet_option
def vep(model_path: str, vcf: str, genome: str, output: str, window: int | None, no_header: bool,
        logits: bool, rc: str | None, batch_size: int, device: str | None, quiet: bool) -> None:
    """Variant effects: score ref and alt windows centred on each VCF variant (SNVs, small indels).

    Columns: chrom pos id ref alt ref_match, then ref_<task> alt_<task> diff_<task> log2fc_<task>.
    """
    from seqcnn.seq.genome import Genome
    from seqcnn.seq.variants import VcfStats, read_vcf
    from seqcnn.workflows.score_tables import TableOptions, variant_table

    scorer = _scorer(model_path, device, rc, logits)
    stats = VcfStats()
    options = TableOptions(header=not no_header, batch_size=batch_size, progress=not quiet)
    with _quiet_broken_pipe():
        mismatches = variant_table(scorer, read_vcf(vcf, stats), Genome(genome), output, window=window,
                                   file=vcf, options=options)
    if stats.n_split:
        _note(f"split {stats.n_split} extra ALT allele(s) of multi-allelic records into rows", quiet)
    if stats.skipped:
        shown = ", ".join(stats.skipped[:10])
        _note(f"skipped {len(stats.skipped)} symbolic or missing ALT allele(s): {shown}", quiet)
    if mismatches:
        click.echo(f"seqcnn: {mismatches} variant(s) have a REF that differs from the genome "
                   "(ref_match False)", err=True)


@click.command()
@click.argument("model_path", metavar="MODEL")
def info(model_path: str) -> None:
    """Show MODEL's metadata, tasks and a layer summary."""
    from seqcnn.export import example_input
    from seqcnn.layers.summary import format_summary, summarize
    from seqcnn.modelfile import load_model

    model = load_model(model_path, device="cpu")
    meta = model.metadata
    for key, value in vars(meta).items():
        if key != "tasks":
            click.echo(f"{key + ':':<16}{value}")
    more = ", ..." if len(meta.tasks) > 20 else ""
    click.echo(f"{'tasks:':<16}{len(meta.tasks)} ({', '.join(meta.tasks[:20])}{more})")
    click.echo("")
    shape = tuple(example_input(model).shape[1:])
    table = summarize(model, shape, depth=_ALL_LEVELS, batch=1)
    click.echo(format_summary(table, footer=f"total parameters: {table.total:,} (output shapes for one "
                                            f"sequence of length {shape[-1]})"))


_ALL_LEVELS = 99  # summary depth that lists every leaf module


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default=None,
              help="Export format (default: from the -o extension: .onnx, or .pt/.ts for TorchScript).")
@click.option("-o", "--output", required=True, help="Exported file.")
def export(model_path: str, fmt: str | None, output: str) -> None:
    """Export MODEL to ONNX or TorchScript; its metadata travels inside the file."""
    from seqcnn.errors import ConfigError
    from seqcnn.export import export_model
    from seqcnn.modelfile import load_model

    if fmt is None:
        lower = output.lower()
        fmt = "onnx" if lower.endswith(".onnx") else "torchscript" if lower.endswith((".pt", ".ts")) else None
        if fmt is None:
            raise ConfigError("give --format onnx|torchscript (or an .onnx/.pt output name)")
    export_model(load_model(model_path, device="cpu"), output, fmt)
