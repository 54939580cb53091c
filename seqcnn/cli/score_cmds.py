"""``seqcnn score``, ``vep``, ``info`` and ``export``: parse the options, call the library, write."""

from __future__ import annotations

import click

from seqcnn.cli.options import (
    device_option,
    load_scorer,
    logits_option,
    note,
    quiet_broken_pipe,
    quiet_option,
    rc_option,
    report_skipped,
    score_batch_option,
)


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("fasta", default="-", metavar="[FASTA|-]")
@click.option("-o", "--output", default="-", show_default=True,
              help="Output table; the extension picks .tsv, .tsv.gz, .parquet or .npz; - is stdout.")
@click.option("--echo", is_flag=True, help="Add the scored sequence as a column.")
@click.option("--extra-columns", is_flag=True,
              help="With --bed: also write the BED columns after the sixth (narrowPeak: signalValue, pValue, "
                   "qValue, peak).")
@click.option("--no-header", is_flag=True, help="Leave out the header line (TSV).")
@logits_option
@rc_option
@click.option("--bed", "bed_path", default=None, help="Score these BED intervals of --genome, not a FASTA.")
@click.option("--genome", default=None, help="Indexed genome FASTA for --bed.")
@click.option("--width", type=click.IntRange(1), default=None,
              help="With --bed: score the window this long centred on each interval (models taking any "
                   "length; default: the model's input length, else the interval).")
@click.option("--window", type=click.IntRange(1), default=None,
              help="Scan sequences (with --bed: each interval) with windows this long.")
@click.option("--step", type=click.IntRange(1), default=None, help="Window step (default: the window).")
@click.option("--record-max", default=None, help="With --window: also write each record's maximum here.")
@click.option("--skip-invalid", is_flag=True,
              help="Skip records with invalid bases (ids listed on stderr); with --bed also intervals "
                   "outside the genome or of length 0 (counted by reason on stderr).")
@score_batch_option
@device_option
@quiet_option
def score(model_path: str, fasta: str, output: str, echo: bool, extra_columns: bool, no_header: bool,
          logits: bool, rc: str | None, bed_path: str | None, genome: str | None, width: int | None,
          window: int | None, step: int | None, record_max: str | None, skip_invalid: bool,
          batch_size: int | None, device: str | None, quiet: bool) -> None:
    """Score FASTA records (or BED intervals) with MODEL: one row per record, a column per task.

    Reads stdin when FASTA is - or left out, so it works in a pipe:
    zcat x.fa.gz | seqcnn score model.safetensors - | head

    With --bed and --genome, each interval is scored on the genome window of the model's input length
    centred on it (narrowPeak: on its summit); an interval outside its contig is an error.
    """
    from seqcnn.errors import ConfigError
    from seqcnn.workflows.score_tables import TableOptions, bed_table, fasta_table, window_table

    if (bed_path is None) != (genome is None):
        raise ConfigError("--bed and --genome go together")
    if window is None and (step or record_max):
        raise ConfigError("--step and --record-max need --window")
    if bed_path is None and (width or extra_columns):
        raise ConfigError("--width and --extra-columns need --bed")
    if window is not None and bed_path is None and echo:
        raise ConfigError("--window cannot be combined with --echo (without --bed)")
    if bed_path is not None and record_max:
        raise ConfigError("--record-max cannot be combined with --bed")
    scorer = load_scorer(model_path, device, rc, logits)
    options = TableOptions(header=not no_header, skip_invalid=skip_invalid, batch_size=batch_size,
                           progress=not quiet)
    with quiet_broken_pipe():
        if bed_path is not None:
            stats = bed_table(scorer, bed_path, genome, output, echo=echo, extra_columns=extra_columns,
                              width=width, window=window, step=step, options=options)
        elif window is not None:
            stats = window_table(scorer, fasta, output, window=window, step=step or window,
                                 record_max=record_max, options=options)
        else:
            stats = fasta_table(scorer, fasta, output, echo=echo, options=options)
    note(stats.length_note(scorer.input_length), quiet)
    if bed_path is not None:
        edge = stats.n_edge_padded
        note(f"{edge} window(s) reach past a contig end and were padded with N" if edge else None, quiet)
        summary = stats.skip_summary("interval")
        if summary:
            click.echo(f"seqcnn: {summary}", err=True)
    else:
        report_skipped(stats.skipped)


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
