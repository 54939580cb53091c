"""Every malformed file in tests/data/bad/ through the CLI commands that read it (issue 8).

Each must end with exit status 2, exactly one line on stderr naming the file, no traceback, and no
output file (nor temporary file) left behind.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqcnn.modelfile import ModelMetadata, save_model
from seqcnn.models.registry import build_model

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
CORPUS = sorted(p.name for p in BAD.iterdir() if not p.name.startswith("."))
GOOD_SEQ = "ACGTACGTTGCAACGTGGCCAATTACGTACGTAGCTAGCTAGGATCCAAGCTT" * 2


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny sequence and image models, a genome, a FASTA and a config the bad files are swapped into."""
    root = tmp_path_factory.mktemp("bad_input")
    torch.manual_seed(0)
    kw = {"filters": [4, 4], "kernel_sizes": [5, 3], "pool1": 2, "hidden": 8, "input_length": 60,
          "n_tasks": 2}
    save_model(build_model("koo_cnn", **kw), root / "seq.safetensors",
               ModelMetadata(architecture="koo_cnn", model_kwargs=kw, tasks=["t1", "t2"], input_length=60))
    img_kw = {"in_channels": 1, "num_classes": 10, "input_size": [8, 8], "small_input": True}
    save_model(build_model("lenet5", **img_kw), root / "image.safetensors",
               ModelMetadata(architecture="lenet5", model_kwargs=img_kw, tasks=[str(i) for i in range(10)],
                             task_type="multiclass", input_shape=[1, 8, 8]))
    chrom = (GOOD_SEQ * 10)[:1000]
    (root / "genome.fa").write_text(f">chr1\n{chrom}\n>chr2\n{chrom[::-1]}\n")
    records = "".join(f">s{i}\n{GOOD_SEQ}\n" for i in range(1, 41))
    (root / "good.fa").write_text(records)
    (root / "labels.tsv").write_text("id\ttask1\n" + "".join(f"s{i}\t{i % 2}\n" for i in range(1, 41)))
    (root / "good.yaml").write_text(
        "data:\n  kind: fasta\n  fasta: good.fa\n  labels: labels.tsv\n  task_type: binary\n"
        "model:\n  name: koo_cnn\n  kwargs: {filters: [4, 4], kernel_sizes: [5, 3], pool1: 2, hidden: 8}\n"
        "train:\n  epochs: 1\n"
    )
    return root


def commands(name: str, bad: str, root: Path, out: Path) -> list[list[str]]:
    """The CLI invocations that read a file of this kind (by the corpus file's prefix)."""
    kind = name.split("_")[0]
    seq_model, image_model, genome = str(root / "seq.safetensors"), str(root / "image.safetensors"), \
        str(root / "genome.fa")
    table = str(out / "out.tsv")
    return {
        "fasta": [["score", seq_model, bad, "-o", table],
                  ["ism", seq_model, bad, "-o", str(out / "maps.npz")]],
        "bed": [["score", seq_model, "--bed", bad, "--genome", genome, "-o", table]],
        "vcf": [["vep", seq_model, bad, "--genome", genome, "-o", table]],
        "config": [["train", bad, "-o", str(out / "run"), "--quiet"]],
        "labels": [["train", str(root / "good.yaml"), "--set", f"data.labels={bad}", "-o", str(out / "run"),
                    "--quiet"]],
        "image": [["explain", image_model, bad, "--method", "saliency", "-o", str(out / "map.png")]],
        "model": [["score", bad, str(root / "good.fa"), "-o", table], ["info", bad]],
    }[kind]


@pytest.mark.slow
@pytest.mark.parametrize("name", CORPUS)
def test_bad_file_fails_cleanly(name: str, workdir: Path, tmp_path: Path) -> None:
    assert len(CORPUS) >= 40
    for args in commands(name, str(BAD / name), workdir, tmp_path):
        proc = subprocess.run([sys.executable, "-m", "seqcnn.cli", *args], capture_output=True, text=True,
                              cwd=workdir, timeout=120)
        where = f"seqcnn {' '.join(args[:1])} on {name}"
        assert proc.returncode == 2, f"{where}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"{where}: expected one line on stderr, got:\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr
        assert name in lines[0], f"{where}: the message does not name the file: {lines[0]}"
        assert list(tmp_path.iterdir()) == [], f"{where}: left output behind: {list(tmp_path.iterdir())}"
