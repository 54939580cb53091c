"""``seqcnn score``, ``vep``, ``info`` and ``export``: parse the options, call the library, write."""

from __future__ import annotations

from typing import Any

import click

from seqcnn.cli.options import (
    device_option,
    logits_option,
    note,
    quiet_broken_pipe,
    quiet_option,
    rc_option,
    refuse_options,
    report_skipped,
    score_batch_option,
)


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("fasta", default="-", metavar="[FASTA|-]")
@click.option("-o", "--output", default="-", show_default=True,
              help="Output table (.tsv, .tsv.gz, .parquet, .npz; - is stdout) or genome browser track "
                   "(.bw/.bigwig, .bedgraph: one file per task, NAME.<task>.bw).")
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
              help="Scan sequences (with --bed: each interval) with windows this long (tracks: default the "
                   "model's input length; per-position models taking any length: positions per tile).")
@click.option("--step", type=click.IntRange(1), default=None, help="Window step (default: the window).")
@click.option("--task", "tasks", multiple=True,
              help="Tracks and per-position outputs: the task (name or index) to write; repeatable "
                   "(default: all).")
@click.option("--record-max", default=None, help="With --window: also write each record's maximum here.")
@click.option("--skip-invalid", is_flag=True,
              help="Skip records with invalid bases (ids listed on stderr); with --bed also intervals "
                   "outside the genome or of length 0 (counted by reason on stderr).")
@score_batch_option
@device_option
@quiet_option
def score(model_path: str, fasta: str, output: str, echo: bool, extra_columns: bool, no_header: bool,
          logits: bool, rc: str | None, bed_path: str | None, genome: str | None, width: int | None,
          window: int | None, step: int | None, tasks: tuple[str, ...], record_max: str | None,
          skip_invalid: bool, batch_size: int | None, device: str | None, quiet: bool) -> None:
    """Score FASTA records (or BED intervals) with MODEL: one row per record, a column per task.

    Reads stdin when FASTA is - or left out, so it works in a pipe:
    zcat x.fa.gz | seqcnn score model.safetensors - | head

    With --bed and --genome, each interval is scored on the genome window of the model's input length
    centred on it (narrowPeak: on its summit); an interval outside its contig is an error.

    With -o x.bw (or .bedgraph), FASTA is a genome (indexed with a .fai, made when missing) scanned with
    --window W --step S (or --bed intervals of --genome), written as genome browser tracks. A model whose
    output is (N, T, L_out) gives one value per base (a row per base in tables).
    """
    from seqcnn.errors import ConfigError
    from seqcnn.io.tracks import track_format
    from seqcnn.modelfile import load_model
    from seqcnn.score.positions import output_shape, probe_length

    track = output != "-" and track_format(output) is not None
    if (bed_path is None) != (genome is None):
        raise ConfigError("--bed and --genome go together")
    if track and bed_path is None and fasta == "-":
        raise ConfigError("a track needs coordinates: give the genome FASTA as a file (not stdin), or --bed "
                          "with --genome")
    model = load_model(model_path, device=device)
    shape = output_shape(model, probe_length(model), device=device) if _is_sequence_model(model) else ()
    run = _ScoreRun(model, fasta, output, bed_path, genome, tasks, skip_invalid, batch_size, device, quiet)
    if len(shape) == 2:
        refuse_options("a per-position model (output (N, T, L_out): a value per base, tiles step by their "
                       "output length)", echo=echo, extra_columns=extra_columns, width=width, step=step,
                       record_max=record_max)
        run.positions(shape, window, rc, logits, track, header=not no_header)
        return
    if tasks and not track:
        raise ConfigError("--task selects tracks (-o x.bw or .bedgraph) or per-position outputs; tables "
                          "have a column per task")
    if track:
        refuse_options("a track output (.bw, .bedgraph)", echo=echo, extra_columns=extra_columns, width=width,
                       record_max=record_max)
        run.tracks(window, step, rc, logits)
        return
    _score_table(run, echo, extra_columns, no_header, logits, rc, width, window, step, record_max)


def _is_sequence_model(model: Any) -> bool:
    from seqcnn.models.registry import get_spec

    return get_spec(model.metadata.architecture).dims == 1


def _score_table(run: _ScoreRun, echo: bool, extra_columns: bool, no_header: bool, logits: bool,
                 rc: str | None, width: int | None, window: int | None, step: int | None,
                 record_max: str | None) -> None:
    """A score table of a model scoring whole sequences (one row per record, interval or window)."""
    from seqcnn.errors import ConfigError
    from seqcnn.workflows.score_tables import TableOptions, bed_table, fasta_table, window_table

    bed_path, quiet = run.bed, run.quiet
    if window is None and (step or record_max):
        raise ConfigError("--step and --record-max need --window")
    if bed_path is None and (width or extra_columns):
        raise ConfigError("--width and --extra-columns need --bed")
    if window is not None and bed_path is None and echo:
        raise ConfigError("--window cannot be combined with --echo (without --bed)")
    if bed_path is not None and record_max:
        raise ConfigError("--record-max cannot be combined with --bed")
    scorer = run.scorer(rc, logits)
    options = TableOptions(header=not no_header, skip_invalid=run.skip_invalid, batch_size=run.batch_size,
                           progress=not quiet)
    with quiet_broken_pipe():
        if bed_path is not None:
            stats = bed_table(scorer, bed_path, run.genome, run.output, echo=echo,
                              extra_columns=extra_columns, width=width, window=window, step=step,
                              options=options)
        elif window is not None:
            stats = window_table(scorer, run.fasta, run.output, window=window, step=step or window,
                                 record_max=record_max, options=options)
        else:
            stats = fasta_table(scorer, run.fasta, run.output, echo=echo, options=options)
    note(stats.length_note(scorer.input_length), quiet)
    if bed_path is not None:
        run.report_bed(stats)
    else:
        report_skipped(stats.skipped)


class _ScoreRun:
    """The inputs of one ``seqcnn score`` run, and the track and per-position branches."""

    def __init__(self, model: Any, fasta: str, output: str, bed: str | None, genome: str | None,
                 tasks: tuple[str, ...], skip_invalid: bool, batch_size: int | None, device: str | None,
                 quiet: bool) -> None:
        self.model, self.fasta, self.output, self.bed, self.genome = model, fasta, output, bed, genome
        self.target = list(tasks) or None
        self.skip_invalid, self.batch_size, self.device, self.quiet = skip_invalid, batch_size, device, quiet

    def scorer(self, rc: str | None, logits: bool) -> Any:
        from seqcnn.score.scorer import Scorer
        from seqcnn.score.scoring import keep_freed_memory

        keep_freed_memory()
        return Scorer(self.model, device=self.device, rc=rc, logits=logits)

    def track_options(self) -> Any:
        from seqcnn.score.tracks import TrackOptions

        return TrackOptions(target=self.target, batch_size=self.batch_size, skip_invalid=self.skip_invalid,
                            progress=not self.quiet)

    def tracks(self, window: int | None, step: int | None, rc: str | None, logits: bool) -> None:
        """Window scores of a genome (or BED intervals of it) as tracks."""
        from seqcnn.score.tracks import window_tracks

        scorer = self.scorer(rc, logits)
        paths, stats = window_tracks(scorer, self.genome or self.fasta, self.output, window=window, step=step,
                                     bed=self.bed, options=self.track_options())
        self.report_bed(stats)
        report_skipped(stats.skipped)
        note(f"{stats.n_windows} window(s) written to {', '.join(map(str, paths))}", self.quiet)

    def positions(self, shape: tuple[int, ...], window: int | None, rc: str | None, logits: bool, track: bool,
                  header: bool) -> None:
        """Per-position outputs as tracks or as a table (a row per base)."""
        from seqcnn.score.positions import plan_tiling
        from seqcnn.score.tracks import position_tracks
        from seqcnn.workflows.score_tables import TableOptions, position_table

        tiling = plan_tiling(self.model, tile=window, shape=shape, device=self.device)
        if track:
            paths, stats = position_tracks(self.model, self.genome or self.fasta, self.output, tiling=tiling,
                                           bed=self.bed, rc=rc, logits=logits, device=self.device,
                                           options=self.track_options())
            note(f"per-position outputs of {stats.n_records} region(s) written to "
                 f"{', '.join(map(str, paths))}", self.quiet)
        else:
            options = TableOptions(header=header, skip_invalid=self.skip_invalid, batch_size=self.batch_size,
                                   progress=not self.quiet)
            with quiet_broken_pipe():
                stats = position_table(self.model, self.fasta, self.output, tiling=tiling, bed=self.bed,
                                       genome=self.genome, rc=rc, logits=logits, device=self.device,
                                       options=options, target=self.target)
        self.report_bed(stats)

    def report_bed(self, stats: Any) -> None:
        if self.bed is None:
            return
        edge = stats.n_edge_padded
        note(f"{edge} window(s) reach past a contig end and were padded with N" if edge else None, self.quiet)
        summary = stats.skip_summary("interval")
        if summary:
            click.echo(f"seqcnn: {summary}", err=True)


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
