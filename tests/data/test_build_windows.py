"""Windows, labels, splits and files of `seqcnn dataset` (issue 16), checked by hand on a tiny genome.

narrowPeak windows centre on the summit, broadPeak and BED3 on the midpoint; a window is positive for
every peak file with a peak in its central bases; the sequences are the genome's (soft-masking kept as
case); splits follow the chromosomes; FASTA positives get dinucleotide-shuffled negatives that keep
every dinucleotide count; the manifest's checksums are the files'.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from seqcnn.config import load_config
from seqcnn.data.build import DatasetOptions, build_dataset
from seqcnn.seq.fasta import read_fasta

L = 50


@pytest.fixture
def tiny(tmp_path: Path) -> dict:
    rng = np.random.default_rng(5)
    chroms = {c: "".join(rng.choice(list("ACGT"), 800)) for c in ("chr1", "chr2", "chr3")}
    chroms["chr1"] = chroms["chr1"][:110] + chroms["chr1"][110:130].lower() + "R" + chroms["chr1"][131:]
    (tmp_path / "genome.fa").write_text("".join(f">{c}\n{s}\n" for c, s in chroms.items()))
    # A: narrowPeak (10 columns; column 10 = summit offset), B: broadPeak (9 columns; midpoint)
    (tmp_path / "a.narrowPeak").write_text("# comment\ntrack name=a\nbrowser position chr1:1-100\n"
                                           "chr1\t100\t200\tp1\t0\t.\t1\t1\t1\t30\n"
                                           "chr2\t400\t420\tp2\t0\t.\t1\t1\t1\t5\n"
                                           "chr3\t600\t640\tp3\t0\t.\t1\t1\t1\t-1\n")
    (tmp_path / "b.broadPeak").write_text("chr1\t120\t160\tq1\t0\t.\t1\t1\t1\n"
                                          "chr1\t500\t520\tq2\t0\t.\t1\t1\t1\n"
                                          "chr2\t400\t420\tq3\t0\t.\t1\t1\t1\n")
    return {"root": tmp_path, "chroms": chroms}


def _build(tiny: dict, **kw) -> tuple[Path, dict]:
    root = tiny["root"]
    peaks = [str(root / "a.narrowPeak"), f"{root / 'b.broadPeak'}:B"]
    base = {"genome": str(root / "genome.fa"), "peaks": peaks, "length": L, "label_width": 20,
            "valid_chroms": ["chr2"], "test_chroms": ["chr3"], "negatives": "none"}
    out = root / "ds"
    return out, build_dataset(out, DatasetOptions(**{**base, **kw})).manifest


def test_windows_labels_sequences_and_splits_by_hand(tiny: dict) -> None:
    out, manifest = _build(tiny)
    labels = pd.read_csv(out / "labels.tsv", sep="\t", index_col=0)
    assert list(labels.columns) == ["a", "B"]
    # centres: p1 summit 100+30=130, p2 405, p3 (summit -1) midpoint 620; q1 140, q2 510, q3 410
    expected = {"chr1:105-155": (1, 1), "chr1:115-165": (1, 1), "chr1:485-535": (0, 1),
                "chr2:380-430": (1, 1), "chr2:385-435": (1, 1), "chr3:595-645": (1, 0)}
    assert {k: tuple(v) for k, v in zip(labels.index, labels.to_numpy(), strict=True)} == expected
    records = {split: dict(read_fasta(out / f"{split}.fa")) for split in ("train", "valid", "test")}
    assert set(records["train"]) == {k for k in expected if k.startswith("chr1")}
    assert set(records["valid"]) == {"chr2:380-430", "chr2:385-435"}
    assert set(records["test"]) == {"chr3:595-645"}
    genome = tiny["chroms"]["chr1"]
    assert records["train"]["chr1:105-155"] == genome[105:155].replace("R", "N")  # case kept, IUPAC -> N
    assert records["train"]["chr1:105-155"][5:25].islower()
    assert manifest["splits"]["train"] == {"windows": 3, "negatives": 0, "positives": {"a": 2, "B": 3}}
    assert manifest["peaks"] == {"a": {"peaks": 3, "blacklisted": 0, "kept": 3},
                                 "B": {"peaks": 3, "blacklisted": 0, "kept": 3}}
    single = _build_again(tiny, single_task=True)
    assert list(pd.read_csv(single / "labels.tsv", sep="\t", index_col=0).columns) == ["peak"]


def _build_again(tiny: dict, **kw) -> Path:
    import shutil

    shutil.rmtree(tiny["root"] / "ds")
    return _build(tiny, **kw)[0]


def test_manifest_checksums_configs_and_blacklist(tiny: dict) -> None:
    blacklist = tiny["root"] / "black.bed"
    blacklist.write_text("chr1\t150\t151\n")  # touches the windows of p1 (105-155) and q1 (115-165)
    out, manifest = _build(tiny, blacklist=str(blacklist))
    assert manifest["peaks"]["a"] == {"peaks": 3, "blacklisted": 1, "kept": 2}
    assert manifest["peaks"]["B"] == {"peaks": 3, "blacklisted": 1, "kept": 2}
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["format"] == "seqcnn-dataset" and on_disk["length"] == L
    for entry in on_disk["inputs"]:
        assert entry["sha256"] == hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest()
    assert {e["role"] for e in on_disk["inputs"]} == {"genome", "peaks", "blacklist"}
    config = yaml.safe_load((out / "config.deepbind.yaml").read_text())
    assert config["data"]["train"] == f"{out}/train.fa" and config["data"]["labels"] == f"{out}/labels.tsv"
    assert load_config(out / "config.deepbind.yaml").data.task_type == "binary"
    assert (out.stat().st_mode & 0o777) != 0o700  # ordinary permissions, not mkdtemp's private ones


def test_fasta_positives_get_shuffled_negatives_keeping_dinucleotides(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    seqs = {f"chr{c}:{100 * i}-{100 * i + 60}": "".join(rng.choice(list("ACGTacgt"), 60))
            for i, c in enumerate([1, 1, 2, 3, 4, 1])}
    fasta = tmp_path / "peaks.fa"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    out = tmp_path / "ds"
    options = DatasetOptions(positives_fasta=[str(fasta)], ratio=2, length=40, valid_chroms=["chr2"],
                             test_chroms=["chr3", "chr4"])
    manifest = build_dataset(out, options).manifest
    records = {k: v for split in ("train", "valid", "test") for k, v in read_fasta(out / f"{split}.fa")}
    assert len(records) == 18 and manifest["windows"] == {"positive": 6, "negative": 0, "shuffle": 12}
    for rid, seq in seqs.items():
        cropped = seq[10:50]
        assert records[rid] == cropped
        for k in (1, 2):
            shuffled = records[f"{rid}_shuf{k}"]
            assert shuffled != cropped
            assert Counter(zip(shuffled, shuffled[1:], strict=False)) == Counter(zip(cropped, cropped[1:],
                                                                                   strict=False))
    labels = pd.read_csv(out / "labels.tsv", sep="\t", index_col=0)["peaks"]
    assert labels.sum() == 6 and labels[[k for k in records if "_shuf" in k]].sum() == 0
    assert manifest["gc"]["ks_statistic"] == 0.0  # shuffles keep the composition exactly
    assert manifest["splits"]["test"]["windows"] == 6  # chr3 and chr4, each with its shuffles


def test_gzipped_peak_files_read_like_plain_ones(tiny: dict) -> None:
    import gzip

    root = tiny["root"]
    plain, _ = _build(tiny)
    expected = (plain / "labels.tsv").read_text()
    (root / "a.narrowPeak.gz").write_bytes(gzip.compress((root / "a.narrowPeak").read_bytes()))
    _build_again(tiny, peaks=[str(root / "a.narrowPeak.gz"), f"{root / 'b.broadPeak'}:B"])
    assert (root / "ds" / "labels.tsv").read_text() == expected  # task name "a" from a.narrowPeak.gz


def test_fasta_positives_need_coordinate_ids(tmp_path: Path) -> None:
    from seqcnn.errors import InputError

    fasta = tmp_path / "peaks.fa"
    fasta.write_text(">chr1:0-8\nACGTACGT\n>peak_2\nACGTACGT\n")
    with pytest.raises(InputError, match=r"peaks.fa:peak_2: record id is not chrom:start-end"):
        build_dataset(tmp_path / "ds", DatasetOptions(positives_fasta=[str(fasta)]))
    assert not (tmp_path / "ds").exists()
