"""ONNX and TorchScript exports give the torch outputs and carry the model file's metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqcnn.errors import ConfigError
from seqcnn.export import export_model, read_export_metadata
from seqcnn.modelfile import ModelMetadata, load_model, save_model
from seqcnn.models.registry import build_model
from seqcnn.seq.encode import one_hot

DEEPBIND = {"n_tasks": 2, "n_filters": 6, "filter_width": 7, "hidden": 5}
BASSET = {"n_tasks": 3, "input_length": 60, "channels": [6, 5, 4], "kernel_sizes": [7, 3, 3],
          "pool_sizes": [2, 2, 2], "hidden": [8, 8]}


def _model(tmp_path, name: str, kwargs: dict, **meta) -> torch.nn.Module:
    torch.manual_seed(0)
    path = save_model(build_model(name, **kwargs), tmp_path / f"{name}.safetensors",
                      ModelMetadata(name, kwargs, tasks=[f"t{i}" for i in range(kwargs["n_tasks"])], **meta))
    return load_model(path)


def _inputs(n: int, length: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return one_hot(["".join(rng.choice(list("ACGTN"), size=length)) for _ in range(n)])


def _torch(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize(("name", "kwargs", "lengths"),
                         [("deepbind", DEEPBIND, (1000, 37)), ("basset", BASSET, (60,))])
def test_onnx_runs_in_onnxruntime_like_torch(tmp_path, name: str, kwargs: dict, lengths: tuple) -> None:
    import onnxruntime

    model = _model(tmp_path, name, kwargs, input_length=kwargs.get("input_length"), rc_mode="mean")
    out = export_model(model, tmp_path / "m.onnx", "onnx")
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for length in lengths:  # any-length models keep a dynamic length axis
        x = _inputs(5, length)
        got = session.run(["output"], {"input": x})[0]
        np.testing.assert_allclose(got, _torch(model, x), atol=1e-5, rtol=0)
    meta = read_export_metadata(out)
    assert meta["architecture"] == name
    assert json.loads(meta["tasks"]) == model.metadata.tasks
    assert meta["rc_mode"] == "mean" and meta["alphabet"] == "dna" and meta["seqcnn_output"] == "logits"
    assert json.loads(meta["input_length"]) == kwargs.get("input_length")


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_torchscript_keeps_outputs_and_metadata(tmp_path) -> None:
    model = _model(tmp_path, "basset", BASSET, input_length=60, task_type="binary")
    out = export_model(model, tmp_path / "m.pt", "torchscript")
    scripted = torch.jit.load(str(out))
    x = _inputs(4, 60)
    np.testing.assert_allclose(_torch(scripted, x), _torch(model, x), atol=1e-6)
    meta = read_export_metadata(out)
    assert meta["task_type"] == "binary" and json.loads(meta["model_kwargs"]) == BASSET


def test_unknown_format_and_failed_export_leave_nothing(tmp_path) -> None:
    model = _model(tmp_path, "deepbind", DEEPBIND)
    with pytest.raises(ConfigError, match="unknown export format"):
        export_model(model, tmp_path / "m.bin", "keras")
    assert not (tmp_path / "m.bin").exists()


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_export_leaves_the_model_as_it_was_and_reads_the_format_from_the_name(tmp_path) -> None:
    model = _model(tmp_path, "deepbind", DEEPBIND).train()
    first = next(model.parameters())
    first.requires_grad_(False)  # a frozen layer stays frozen
    modes = [m.training for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert export_model(model, tmp_path / "m.onnx").is_file()  # format from the extension
    assert export_model(model, tmp_path / "m.pt").is_file()
    assert "seqcnn_output" in read_export_metadata(tmp_path / "m.onnx")
    assert "seqcnn_output" in read_export_metadata(tmp_path / "m.pt")
    assert [m.training for m in model.modules()] == modes and all(modes)
    assert [p.requires_grad for p in model.parameters()] == grads
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    with pytest.raises(ConfigError, match="export format"):
        export_model(model, tmp_path / "m.bin")
