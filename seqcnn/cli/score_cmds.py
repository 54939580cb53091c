"""``seqcnn score``, ``vep``, ``info`` and ``export``: parse, call seqcnn.score.predict / export, write."""

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
    from seqcnn.score.predict import Scorer, keep_freed_memory

    keep_freed_memory()
    return Scorer(load_model(model_path), device=device, rc=rc, logits=logits)


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
    from seqcnn.score.stream import ScoreStats

    if (bed_path is None) != (genome is None):
        raise ConfigError("--bed and --genome go together")
    if window is None and (step or record_max):
        raise ConfigError("--step and --record-max need --window")
    if window is not None and (echo or bed_path):
        raise ConfigError("--window cannot be combined with --echo or --bed")
    scorer = _scorer(model_path, device, rc, logits)
    stats = ScoreStats()
    with _quiet_broken_pipe():
        if window is not None:
            _score_windows(scorer, fasta, output, window, step or window, record_max, not no_header,
                           skip_invalid, batch_size, quiet, stats)
        elif bed_path is not None:
            _score_bed(scorer, bed_path, genome, output, echo, not no_header, skip_invalid, batch_size, quiet,
                       stats)
        else:
            _score_fasta(scorer, fasta, output, echo, not no_header, skip_invalid, batch_size, quiet, stats)
    _note(stats.length_note(scorer.input_length), quiet)
    _report_skipped(stats.skipped)


def _score_fasta(scorer: Any, fasta: str, output: str, echo: bool, header: bool, skip_invalid: bool,
                 batch_size: int | None, quiet: bool, stats: Any) -> None:
    from seqcnn.io.tables import open_table
    from seqcnn.score.predict import score_fasta

    stream = score_fasta(scorer, fasta, batch_size=batch_size, skip_invalid=skip_invalid, echo=echo,
                         progress=not quiet, stats=stats)
    with open_table(output, header=header) as table:
        for chunk, scores in stream:
            cols: dict[str, Any] = {"id": chunk.keys}
            if echo:
                cols["sequence"] = chunk.seqs
            cols.update(zip(scorer.task_names(scores.shape[1]), scores.T, strict=True))
            table.write(cols)
        _check_scored(table, fasta, stats)


def _check_scored(table: Any, source: str, stats: Any) -> None:
    from seqcnn.errors import InputError

    if table.n_rows == 0:
        reason = "every record was skipped" if stats.skipped else "no records"
        raise InputError(f"nothing to score ({reason})", file=source)


def _score_bed(scorer: Any, bed_path: str, genome_path: str, output: str, echo: bool, header: bool,
               skip_invalid: bool, batch_size: int | None, quiet: bool, stats: Any) -> None:
    from seqcnn.io.tables import open_table
    from seqcnn.score.predict import score_records
    from seqcnn.seq.genome import Genome, iter_bed_sequences, read_bed

    bed = read_bed(bed_path)
    records = ((i, seq) for i, (_, seq) in enumerate(iter_bed_sequences(bed, Genome(genome_path))))
    stream = score_records(scorer, records, batch_size=batch_size, file=bed_path, skip_invalid=skip_invalid,
                           echo=echo, progress=not quiet, stats=stats)
    with open_table(output, header=header) as table:
        for chunk, scores in stream:
            rows = bed.iloc[chunk.keys]
            cols: dict[str, Any] = {c: rows[c].to_numpy() for c in bed.columns}
            if echo:
                cols["sequence"] = chunk.seqs
            cols.update(zip(scorer.task_names(scores.shape[1]), scores.T, strict=True))
            table.write(cols)
        _check_scored(table, bed_path, stats)


def _score_windows(scorer: Any, fasta: str, output: str, window: int, step: int, record_max: str | None,
                   header: bool, skip_invalid: bool, batch_size: int | None, quiet: bool, stats: Any) -> None:
    from seqcnn.io.tables import open_table
    from seqcnn.score.predict import RecordMax, score_windows
    from seqcnn.seq.fasta import read_fasta

    stream = score_windows(scorer, read_fasta(fasta), window=window, step=step, batch_size=batch_size,
                           file=fasta, skip_invalid=skip_invalid, progress=not quiet, stats=stats)
    best = RecordMax()
    with contextlib.ExitStack() as stack:
        table = stack.enter_context(open_table(output, header=header))
        maxima = stack.enter_context(open_table(record_max, header=header)) if record_max else None
        for chunk, scores in stream:
            names = scorer.task_names(scores.shape[1])
            rid, start, end = zip(*chunk.keys, strict=True)
            table.write({"id": rid, "start": start, "end": end, **dict(zip(names, scores.T, strict=True))})
            if maxima is not None:
                _write_maxima(maxima, best.add(chunk.keys, scores), names)
        if maxima is not None:
            n_tasks = 0 if best.best is None else len(best.best)
            _write_maxima(maxima, best.finish(), scorer.task_names(n_tasks))
        _check_scored(table, fasta, stats)


def _write_maxima(table: Any, rows: list[tuple[str, int, Any]], names: list[str]) -> None:
    if not rows:
        return
    import numpy as np

    values = np.stack([r[2] for r in rows])
    table.write({"id": [r[0] for r in rows], "n_windows": [r[1] for r in rows],
                 **dict(zip(names, values.T, strict=True))})


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
    from seqcnn.io.tables import open_table
    from seqcnn.score.variants import score_variants, variant_width
    from seqcnn.seq.genome import Genome
    from seqcnn.seq.variants import VcfStats, read_vcf

    scorer = _scorer(model_path, device, rc, logits)
    width = variant_width(scorer, window)
    stats = VcfStats()
    mismatches = 0
    with _quiet_broken_pipe(), open_table(output, header=not no_header) as table:
        for cols in score_variants(scorer, read_vcf(vcf, stats), Genome(genome), width=width,
                                   batch_size=batch_size, file=vcf, progress=not quiet):
            mismatches += int((~cols["ref_match"]).sum())
            table.write(cols)
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
    from seqcnn.modelfile import load_model

    model = load_model(model_path)
    meta = model.metadata
    for key, value in vars(meta).items():
        if key != "tasks":
            click.echo(f"{key + ':':<16}{value}")
    more = ", ..." if len(meta.tasks) > 20 else ""
    click.echo(f"{'tasks:':<16}{len(meta.tasks)} ({', '.join(meta.tasks[:20])}{more})")
    click.echo("")
    for line in _layer_summary(model, example_input(model)):
        click.echo(line)


def _layer_summary(model: Any, x: Any) -> list[str]:
    """One line per leaf module: name, type, output shape (from a forward pass on ``x``), parameters."""
    import torch

    shapes: dict[str, str] = {}
    hooks = []
    for name, module in model.named_modules():
        if name and not list(module.children()):
            hooks.append(module.register_forward_hook(
                lambda _m, _i, out, name=name: shapes.__setitem__(name, _shape(out))))
    with torch.inference_mode():
        model(x[:1])
    for hook in hooks:
        hook.remove()
    lines = [f"{'layer':<32}{'type':<22}{'output':<22}{'params':>10}"]
    for name, module in model.named_modules():
        if name in shapes:
            n = sum(p.numel() for p in module.parameters(recurse=False))
            lines.append(f"{name:<32}{type(module).__name__:<22}{shapes[name]:<22}{n:>10,}")
    total = sum(p.numel() for p in model.parameters())
    lines.append(f"total parameters: {total:,} (output shapes for one sequence of length {x.shape[-1]})")
    return lines


def _shape(out: Any) -> str:
    if isinstance(out, dict):
        return ", ".join(f"{k}{tuple(v.shape)}" for k, v in out.items())
    return str(tuple(out.shape)) if hasattr(out, "shape") else type(out).__name__


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
    export_model(load_model(model_path), output, fmt)
