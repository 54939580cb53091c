"""``seqcnn demo``: the whole product end to end on simulated data."""

from __future__ import annotations

import click

from seqcnn.cli.options import device_option, quiet_option


@click.command()
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), default="seqcnn-demo",
              show_default=True, help="Output directory (re-running into it is safe).")
@click.option("--quick", is_flag=True, help="Smaller data and fewer epochs: about a minute on 2 cores.")
@device_option
@quiet_option
def demo(out_dir: str, quick: bool, device: str | None, quiet: bool) -> None:
    """Simulate data, train a model, score, explain and write the motif report.

    Everything is generated locally (no download): 12 JASPAR motifs are planted into random
    sequences, koo_cnn learns them, and the report shows which motifs its filters recovered.
    """
    from seqcnn.workflows.demo import format_summary, run_demo

    log = (lambda _message: None) if quiet else (lambda message: click.echo(message, err=True))
    result = run_demo(out_dir, quick=quick, device=device, progress=not quiet, log=log)
    click.echo(format_summary(result))
