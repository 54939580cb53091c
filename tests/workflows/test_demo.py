"""`seqcnn demo --quick` end to end in a temporary directory (issue 9)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from seqcnn.seq.meme import read_meme


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "seqcnn.cli", "demo", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = proc.stdout
    auroc = float(re.search(r"test AUROC[^:]*: ([0-9.]+)", summary).group(1))
    assert auroc > 0.75, summary
    recovered = int(re.search(r"recovered[^:]*: (\d+)/12", summary).group(1))
    assert recovered >= 6, summary
    first_path = re.search(r"^\s+report\s+(\S+)$", summary, re.MULTILINE)
    assert first_path and first_path.group(1).endswith("report.html"), summary

    html = (out / "motifs" / "report.html").read_text()
    sources = re.findall(r"<img[^>]*\ssrc=\"([^\"]+)\"", html)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert len(read_meme(out / "motifs" / "filters.meme")) == 64
    scores = pd.read_csv(out / "test_scores.tsv", sep="\t")
    assert len(scores) == 1600 and scores.columns[0] == "id"
    assert scores.drop(columns="id").apply(lambda c: c.between(0, 1).all()).all()
    assert len(list((out / "mutation_maps").glob("*.png"))) == 3
    assert (out / "run" / "model.safetensors").is_file()


def test_demo_counts_recovery_with_the_benchmark_rule() -> None:
    """One definition: the demo's count is seqcnn.motifs.recovery's (as scripts/bench_train.py --sets)."""
    from seqcnn.motifs import recovery
    from seqcnn.workflows import demo

    assert demo.recovered_motifs is recovery.recovered_motifs
    result = demo.DemoResult(0.95, ["HOXB2", "Prdm14"], ["HOXB2"], 0.5, seconds=1.0)
    line = demo.format_summary(result).splitlines()[1]
    assert line == ("planted motifs recovered by a filter (TomTom q < 0.05 among its top 5; same-TF or "
                    "equivalent matrices count): 1/2 (HOXB2)")
    assert re.search(r"recovered[^:]*: (\d+)/2", line).group(1) == "1"  # what the end-to-end test reads
