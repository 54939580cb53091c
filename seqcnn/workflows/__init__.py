"""Multi-step jobs built from the library: the motif report, the end-to-end demo and score tables.

Each workflow calls the public scoring, interpretation and motif functions and hands arrays and
tables to ``seqcnn.report`` for the files. The names are imported on first use, so that a command
needing one workflow (``seqcnn score``) does not pay for importing the others (training, reports).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seqcnn.workflows.demo import DemoResult, DemoSettings, format_summary, run_demo
    from seqcnn.workflows.motif_pipeline import (
        MotifReport,
        ReportOptions,
        as_meme_motifs,
        attribution_table,
        example_maps,
        motif_report,
        summary_table,
    )
    from seqcnn.workflows.score_tables import (
        TableOptions,
        bed_table,
        fasta_table,
        window_table,
    )
    from seqcnn.workflows.variant_tables import variant_table

_HOME = {
    **dict.fromkeys(["DemoResult", "DemoSettings", "format_summary", "run_demo"], "seqcnn.workflows.demo"),
    **dict.fromkeys(["MotifReport", "ReportOptions", "as_meme_motifs", "attribution_table", "example_maps",
                     "motif_report", "summary_table"], "seqcnn.workflows.motif_pipeline"),
    **dict.fromkeys(["TableOptions", "bed_table", "fasta_table", "window_table"],
                    "seqcnn.workflows.score_tables"),
    **dict.fromkeys(["variant_table"], "seqcnn.workflows.variant_tables"),
}

__all__ = [
    "DemoResult", "DemoSettings", "MotifReport", "ReportOptions", "TableOptions", "as_meme_motifs",
    "attribution_table", "bed_table", "example_maps", "fasta_table", "format_summary", "motif_report",
    "run_demo", "summary_table", "variant_table", "window_table",
]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'seqcnn.workflows' has no attribute {name!r}")
