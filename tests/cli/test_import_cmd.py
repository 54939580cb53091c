"""``seqcnn import``: the released SpliceAI files into a model file, then ``seqcnn vep`` with it; files that
are not what they should be give one line naming the layer and shapes, exit status 2 and no output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from seqcnn.modelfile import load_model, read_metadata
from seqcnn.models.registry import build_model

GENOME = Path(__file__).resolve().parents[2] / "data" / "genomes" / "chr17.hg19.part.fa"
VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def test_import_the_wheel(spliceai_release: dict, tmp_path: Path, run, capsys) -> None:
    out = tmp_path / "spliceai.safetensors"
    code, stdout, _ = run(["import", "spliceai", spliceai_release["wheel"], "-o", out], capsys)
    assert code == 0 and stdout.startswith(f"{out}\tspliceai") and "licence GPL-3.0" in stdout
    meta = read_metadata(out)
    assert meta.architecture == "spliceai" and meta.model_kwargs["n_models"] == 5
    assert meta.tasks == ["neither", "acceptor", "donor"] and meta.task_type == "multiclass"
    assert meta.source["version"] == "1.3.1" and meta.source["licence"] == "GPL-3.0"
    assert len(meta.source["files"]) == 5 and all(len(f["sha256"]) == 64 for f in meta.source["files"])
    model = load_model(out, device="cpu")
    assert len(model.members) == 5 and model.receptive_field == 10001
    code, stdout, _ = run(["info", out], capsys)
    assert code == 0 and "GPL-3.0" in stdout and "1.3.1" in stdout


@pytest.fixture
def single(spliceai_release: dict, tmp_path: Path, run, capsys) -> Path:
    out = tmp_path / "spliceai1.safetensors"
    code, _, _ = run(["import", "spliceai", spliceai_release["models"][0], "-o", out], capsys)
    assert code == 0
    return out


def test_import_then_vep(single: Path, spliceai_release: dict, tmp_path: Path, run, capsys,
                         toy_model_file: Path) -> None:
    genome = tmp_path / GENOME.name
    shutil.copy(GENOME, genome)  # the .fai index is written beside the copy
    vcf = tmp_path / "v.vcf"
    vcf.write_text(VCF_HEADER + "chr17\t13920\tdonor_G\tC\tA\t.\t.\t.\n")
    table = tmp_path / "deltas.tsv"
    args = ["vep", single, vcf, "--genome", genome, "--quiet"]
    code, _, err = run([*args, "--annotation", spliceai_release["annotation"], "-o", table], capsys)
    assert code == 0, err
    got = pd.read_csv(table, sep="\t")
    assert got.columns.tolist() == ["chrom", "pos", "id", "ref", "alt", "ref_match", "gene", "strand",
                                    "DS_AG", "DS_AL", "DS_DG", "DS_DL", "DP_AG", "DP_AL", "DP_DG", "DP_DL"]
    row = got.iloc[0]
    assert (row["gene"], row["strand"], row["DP_DL"]) == ("DOC2B", "-", 1) and row["DS_DL"] >= 0.8
    code, stdout, _ = run([*args, "--strand", "-"], capsys)
    assert code == 0
    by_strand = pd.read_csv(pd.io.common.StringIO(stdout), sep="\t").iloc[0]
    assert by_strand["gene"] == "." and by_strand["DS_DL"] == pytest.approx(row["DS_DL"], abs=1e-6)
    for extra, message in ((["--strand", "-", "--window", "100"], "--window: not for splice models"),
                           ([], "one of a gene annotation")):
        code, _, err = run([*args, *extra], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["vep", toy_model_file, vcf, "--genome", genome, "--strand", "+"], capsys)
    assert code == 2 and "--strand: only for splice models" in err


# -- bad input -----------------------------------------------------------------------------------------
def other_architecture(src: Path, dst: Path) -> None:
    """A Keras functional model of another shape: input -> Conv1D(3) -> global max pool -> Dense."""
    layers = [
        {"class_name": "InputLayer", "name": "input_1", "config": {"batch_input_shape": [None, None, 4]},
         "inbound_nodes": []},
        {"class_name": "Conv1D", "name": "conv1d_1", "config": {"kernel_size": [3], "filters": 8},
         "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {"class_name": "GlobalMaxPooling1D", "name": "pool", "config": {},
         "inbound_nodes": [[["conv1d_1", 0, 0, {}]]]},
        {"class_name": "Dense", "name": "dense_1", "config": {"units": 1},
         "inbound_nodes": [[["pool", 0, 0, {}]]]},
    ]
    config = {"class_name": "Model", "config": {"layers": layers, "input_layers": [["input_1", 0, 0]],
                                                "output_layers": [["dense_1", 0, 0]]}}
    with h5py.File(dst, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.create_group("model_weights")


def truncated(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes()[:1_000_000])


def missing_layer(src: Path, dst: Path) -> None:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        del f["model_weights/conv1d_5"]


def wrong_shape(src: Path, dst: Path) -> None:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        group = f["model_weights/conv1d_5/conv1d_5"]
        del group["kernel:0"]
        group["kernel:0"] = np.zeros((11, 32, 16), dtype=np.float32)


@pytest.mark.parametrize("make, message", [
    (other_architecture, "not a SpliceAI model: layer 'conv1d_1' is read by 0 Conv1D of kernel 1 layers"),
    (truncated, "not a readable HDF5 file (truncated file"),
    (missing_layer, "layer 'conv1d_5' has no weights in the file (expected kernel (11, 32, 32), bias (32,))"),
    (wrong_shape, "layer 'conv1d_5': kernel has shape (11, 32, 16), expected (11, 32, 32)"),
], ids=["other-architecture", "truncated", "missing-layer", "wrong-shape"])
def test_bad_keras_file(make, message: str, spliceai_release: dict, tmp_path: Path, run, capsys) -> None:
    bad = tmp_path / "bad.h5"
    make(spliceai_release["models"][0], bad)
    out = tmp_path / "model.safetensors"
    code, stdout, err = run(["import", "spliceai", spliceai_release["models"][1], bad, "-o", out], capsys)
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith(f"seqcnn: error: {bad}") and message in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_import_state_dict(tmp_path: Path, run, capsys) -> None:
    torch.manual_seed(0)
    model = build_model("spliceai", context=80, channels=4)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "m.safetensors"
    args = ["import", "state-dict", tmp_path / "w.pt", "--model", "spliceai", "--set", "context=80",
            "--tasks", "neither,acceptor,donor", "--task-type", "multiclass", "-o", out]
    code, _, err = run([*args, "--set", "channels=4"], capsys)
    assert code == 0, err
    loaded = load_model(out, device="cpu")
    x = torch.randn(2, 4, 90)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
    assert loaded.metadata.tasks == ["neither", "acceptor", "donor"]
    out.unlink()
    code, _, err = run([*args, "--set", "channels=8"], capsys)
    assert code == 2 and "has shape (4, 4, 1), the architecture expects (8, 4, 1)" in err and not out.exists()
