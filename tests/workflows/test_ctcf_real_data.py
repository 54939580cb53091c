"""Real ChIP-seq end to end (issue 16): ENCODE GM12878 CTCF peaks -> `seqcnn dataset` -> `seqcnn train` with
the shipped configs/ctcf.yaml -> `seqcnn motifs`.

The top 500 CTCF peaks (200 bp windows, hg19; data/examples/, from gimmemotifs 0.18.4) against their
dinucleotide shuffles, split by chromosome (test: chr8 and chr9, 56 sequences). The trained model must
separate them (test AUROC >= 0.95; seeds 0-4 gave 0.966-0.996) and one of its filters must be the CTCF
motif: a TomTom match to JASPAR MA0139 at q < 0.05 among all JASPAR CORE vertebrate matrices.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
PEAKS = ROOT / "data" / "examples" / "Gm12878.CTCF.top500.w200.fa"


@pytest.mark.slow
def test_ctcf_peaks_dataset_train_motifs(tmp_path: Path, run, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["dataset", "--positives-fasta", f"{PEAKS}:CTCF", "-o", "runs/ctcf", "--quiet"],
                       capsys)
    assert code == 0, err
    labels = pd.read_csv("runs/ctcf/labels.tsv", sep="\t", index_col=0)
    assert len(labels) == 1000 and labels["CTCF"].sum() == 500

    code, out, err = run(["train", ROOT / "configs" / "ctcf.yaml", "--quiet"], capsys)
    assert code == 0, err
    auroc = float(re.search(r"test .*auroc=([0-9.]+)", out).group(1))
    assert auroc >= 0.95, out

    code, _, err = run(["motifs", "runs/ctcf-deepbind/model.safetensors", PEAKS, "-o", "runs/ctcf-motifs",
                        "--examples", "0", "--influence-sequences", "200", "--quiet"], capsys)
    assert code == 0, err
    matches = pd.read_csv("runs/ctcf-motifs/matches.tsv", sep="\t")
    ctcf = matches[matches["target_id"].str.startswith("MA0139")]
    assert (ctcf["q_value"] < 0.05).any(), matches.head(20)
