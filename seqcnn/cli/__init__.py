"""The ``seqcnn`` command: a click group whose commands live in one module per family.

Commands are imported on first use (``_COMMANDS``), so ``seqcnn --help`` and light
commands start without importing every heavy dependency.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from seqcnn._version import __version__
from seqcnn.errors import SeqcnnError

# command name -> ("module:attribute", one-line help); one module per command family
_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("seqcnn.cli.demo_cmd:demo", "Simulate, train, score, explain and report, end to end."),
    "simulate": ("seqcnn.cli.data_cmds:simulate", "Make a planted JASPAR-motif data set."),
    "dataset": ("seqcnn.cli.dataset_cmd:dataset", "A training dataset from peaks, a genome and bigWigs."),
    "models": ("seqcnn.cli.model_cmds:models", "List registered architectures."),
    "summary": ("seqcnn.cli.model_cmds:summary", "Layer-by-layer shapes, parameters, receptive field."),
    "train": ("seqcnn.cli.train_cmds:train", "Train a model from a YAML config."),
    "evaluate": ("seqcnn.cli.train_cmds:evaluate", "Metrics and ROC/PR curves of a model on labelled data."),
    "score": ("seqcnn.cli.score_cmds:score", "Score FASTA, BED intervals or a genome (tables, tracks)."),
    "vep": ("seqcnn.cli.vep_cmd:vep", "Score variant effects from a VCF."),
    "info": ("seqcnn.cli.score_cmds:info", "Show a model file's metadata and layers."),
    "export": ("seqcnn.cli.score_cmds:export", "Export a model to ONNX or TorchScript."),
    "ism": ("seqcnn.cli.ism_cmds:ism", "In-silico mutagenesis maps for FASTA records."),
    "explain": ("seqcnn.cli.explain_cmds:explain", "Attribution maps for sequences or images."),
    "motifs": ("seqcnn.cli.motif_cmds:motifs", "Motifs from filters, annotated against JASPAR, as a report."),
    "import": ("seqcnn.cli.import_cmd:import_group", "Published weights (SpliceAI, state dicts) to a model."),
    "modisco": ("seqcnn.cli.modisco_cmd:modisco", "TF-MoDISco patterns from attributions, as a report."),
    "marginalize": ("seqcnn.cli.experiment_cmds:marginalize", "Effect of a motif in shuffled backgrounds."),
    "spacing": ("seqcnn.cli.experiment_cmds:spacing", "Cooperativity of two motifs over their distance."),
    "ablate": ("seqcnn.cli.experiment_cmds:ablate", "Loss of score when a span is shuffled or masked."),
}


class LazyGroup(click.Group):
    """A group that imports each command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute = entry[0].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in _COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="seqcnn")
def cli() -> None:
    """seqcnn: convolutional neural networks for genomic sequences.

    Simulate or load sequences, train DeepBind/Basset/BPNet-style models, score FASTA
    files and variants, explain predictions and turn filters into annotated motifs.
    """


# commands that start no processes or servers and write their outputs completely before returning:
# run as a program, they end without the interpreter's teardown (see ``main``)
FAST_EXIT_COMMANDS = frozenset({"score", "vep", "info", "export", "ism", "explain", "models", "summary",
                                "dataset", "marginalize", "spacing", "ablate"})


def main(argv: list[str] | None = None) -> None:
    """Console entry point: SeqcnnError becomes one line on stderr and exit status 2.

    Run as a program (``argv`` None) with one of ``FAST_EXIT_COMMANDS``, the process ends with
    ``os._exit`` once the command has returned and stdout/stderr are flushed: tearing down torch's
    and numba's modules took 0.5-1 s of every ``seqcnn score`` run (measured on 2 cores; 1.9 s of
    work then took 2.8 s). Every output file is complete and renamed into place before that.
    """
    code = _invoke(argv)
    if argv is None and _command_of(sys.argv[1:]) in FAST_EXIT_COMMANDS:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing more can be written
                pass
        os._exit(code)
    sys.exit(code)


def _invoke(argv: list[str] | None) -> int:
    """Run the command line; the exit status."""
    try:
        cli.main(args=argv, prog_name="seqcnn", standalone_mode=False)
    except SeqcnnError as exc:
        click.echo(f"seqcnn: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("seqcnn: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except BrokenPipeError:
        # downstream closed the pipe (e.g. `| head`): stop quietly, as Unix tools do
        sys.stderr.close()
        return 0
    return 0


def _command_of(args: list[str]) -> str | None:
    """The command name of a command line (its first word that is not an option)."""
    return next((a for a in args if not a.startswith("-")), None)
