"""Model files: round trip, and untrusted files that must fail with ModelFileError and run no code."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from seqcnn.errors import ModelFileError
from seqcnn.modelfile import ModelMetadata, load_model, read_metadata, save_model
from seqcnn.models.registry import build_model

KWARGS = {"n_tasks": 2, "n_filters": 4, "filter_width": 5}


@pytest.fixture()
def model_path(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model("deepbind", **KWARGS)
    meta = ModelMetadata(architecture="deepbind", model_kwargs=KWARGS, tasks=["a", "b"], rc_mode="max",
                         input_length=None, training={"epochs": 3, "best_valid_auroc": 0.9})
    return save_model(model, tmp_path / "model.safetensors", meta)


def tamper(path: Path, out: Path, **changes: str) -> Path:
    """Copy a model file, replacing metadata fields with raw strings."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = dict(handle.metadata())
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    header.update(changes)
    save_file(tensors, str(out), metadata=header)
    return out


def test_round_trip_gives_identical_outputs(model_path: Path) -> None:
    torch.manual_seed(0)
    original = build_model("deepbind", **KWARGS).eval()
    loaded = load_model(model_path)
    x = torch.rand(3, 4, 50)
    assert torch.equal(original(x), loaded(x))
    assert loaded.metadata.tasks == ["a", "b"]
    assert loaded.metadata.rc_mode == "max"
    assert loaded.metadata.training["epochs"] == 3
    assert not loaded.training


def test_read_metadata_only(model_path: Path) -> None:
    meta = read_metadata(model_path)
    assert meta.architecture == "deepbind" and meta.model_kwargs == KWARGS


def test_save_leaves_no_temp_files(model_path: Path) -> None:
    assert [p.name for p in model_path.parent.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize("cut", [0, 7, 100, -10])
def test_truncated_file(model_path: Path, tmp_path: Path, cut: int) -> None:
    data = model_path.read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[:cut] if cut >= 0 else data[:cut])
    with pytest.raises(ModelFileError, match="cut.safetensors"):
        load_model(bad)


def test_foreign_files(tmp_path: Path) -> None:
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))  # a safetensors file, but not ours
    for path in (png, plain, tmp_path / "missing.safetensors"):
        with pytest.raises(ModelFileError):
            load_model(path)


class _Payload:
    """Unpickling this would create a file: the loader must never unpickle."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_payload_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.safetensors"
    evil.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(ModelFileError):
        load_model(evil)
    torch_evil = tmp_path / "torch.safetensors"
    torch.save({"x": _Payload(str(marker))}, torch_evil)
    with pytest.raises(ModelFileError):
        load_model(torch_evil)
    assert not marker.exists()


def test_pickle_bytes_in_metadata(model_path: Path, tmp_path: Path) -> None:
    injected = pickle.dumps(_Payload(str(tmp_path / "pwned"))).decode("latin-1")
    bad = tamper(model_path, tmp_path / "bad.safetensors", model_kwargs=injected)
    with pytest.raises(ModelFileError, match="model_kwargs"):
        load_model(bad)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("architecture", "resnet9000", "unknown model"),
        ("model_kwargs", json.dumps({**KWARGS, "n_filters": 8}), "shape"),
        ("model_kwargs", json.dumps({**KWARGS, "n_filters": 10**9}), "shape"),
        ("model_kwargs", json.dumps({**KWARGS, "rm_rf": True}), "rm_rf"),
        ("model_kwargs", "[1, 2]", "model_kwargs"),
        ("task_type", "astrology", "task_type"),
        ("rc_mode", "sideways", "rc_mode"),
        ("format_version", "99", "format_version"),
        ("input_length", "-5", "input_length"),
        ("tasks", "x" * 1_000_001, "oversized"),
    ],
)
def test_tampered_metadata(model_path: Path, tmp_path: Path, field: str, value: str, message: str) -> None:
    bad = tamper(model_path, tmp_path / "bad.safetensors", **{field: value})
    with pytest.raises(ModelFileError, match=message):
        load_model(bad)


def test_tampered_tensor_shape(model_path: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(model_path), framework="pt") as handle:
        header = dict(handle.metadata())
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    name = next(iter(tensors))
    tensors[name] = torch.from_numpy(np.zeros((1, 1), dtype=np.float32))
    bad = tmp_path / "shape.safetensors"
    save_file(tensors, str(bad), metadata=header)
    with pytest.raises(ModelFileError, match="shape"):
        load_model(bad)
