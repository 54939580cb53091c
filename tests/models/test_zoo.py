"""Every registered model, 1D and 2D: forward and backward at small sizes; model files: model code only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from seqcnn.models.registry import ModelSpec, build_model, get_spec, list_models

MODELS_DIR = Path(__file__).resolve().parents[2] / "seqcnn" / "models"


def _outputs(spec: ModelSpec) -> int:
    """Number of tasks / classes the small config asks for."""
    for key in ("n_tasks", "num_classes"):
        if key in spec.parameters:
            return spec.small.get(key, spec.parameters[key].default)
    raise AssertionError(f"{spec.name}: builder takes neither n_tasks nor num_classes")


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_small(name: str) -> None:
    torch.manual_seed(0)
    spec = get_spec(name)
    assert spec.example_input and spec.dims in (1, 2) and len(spec.example_input) == spec.dims + 1
    model = build_model(name, **spec.small).train()
    x = torch.randn(2, *spec.example_input)
    out = model(x)
    n_out = _outputs(spec) if spec.output != "image" else None
    if spec.output == "tasks":
        assert out.shape == (2, n_out)
    elif spec.output == "profile":
        assert set(out) == {"profile", "counts"}
        assert out["profile"].shape == (2, n_out, model.output_length(spec.example_input[-1]))
        assert out["counts"].shape == (2, n_out)
    elif spec.output == "pixels":
        assert out.shape == (2, n_out, *spec.example_input[1:])
    elif spec.output == "positions":  # per-position models (SpliceAI): (N, T, L_out), centred on the input
        assert out.shape == (2, n_out, model.output_length(spec.example_input[-1]))
    elif spec.output == "image":
        assert out.shape == x.shape
    else:
        raise AssertionError(f"unknown output kind {spec.output!r}")
    tensors = list(out.values()) if isinstance(out, dict) else [out]
    assert all(torch.isfinite(t).all() for t in tensors)
    sum(t.float().pow(2).mean() for t in tensors).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", list_models())
def test_spec_is_complete(name: str) -> None:
    spec = get_spec(name)
    assert spec.description, f"{name}: builder needs a one-line docstring"
    assert set(spec.small) <= set(spec.parameters)
    assert "in_channels" in spec.parameters


# convert.py and state_dict.py read published weight files (HDF5, state dicts): file code by design
MODEL_FILES = sorted(p for p in MODELS_DIR.glob("*.py")
                     if p.name not in ("__init__.py", "registry.py", "convert.py", "state_dict.py"))

# convolution/normalisation code lives in seqcnn/layers only; models are pure nn.Modules
FORBIDDEN_ATTRIBUTES = {
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d",
    "LayerNorm", "GroupNorm", "conv1d", "conv2d", "batch_norm", "layer_norm",  # nn.* and F.*
    "backward", "step", "zero_grad", "save", "load", "optim", "DataLoader",
}
FORBIDDEN_NAMES = {"print", "open", "input", "breakpoint"}
FORBIDDEN_IMPORTS = ("os", "sys", "io", "pathlib", "shutil", "logging", "pickle", "seqcnn.train", "tqdm",
                     "seqcnn.modelfile", "seqcnn.data", "safetensors")


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def _calls(tree: ast.AST) -> list[str]:
    """Forbidden calls (``nn.Conv1d(...)``, ``print(...)``, ``loss.backward()``...) in ``tree``."""
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_ATTRIBUTES:
            found.append(f"line {node.lineno}: .{func.attr}()")
        elif isinstance(func, ast.Name) and func.id in FORBIDDEN_NAMES | FORBIDDEN_ATTRIBUTES:
            found.append(f"line {node.lineno}: {func.id}()")
    return found


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_model_file_holds_model_code_only(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad: list[str] = []
    for called in _calls(tree):
        bad.append(called)
    for name in _imports(tree):
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IMPORTS):
            bad.append(f"imports {name}")
    assert not bad, f"{path.name} must build models from seqcnn.layers only: {bad}"


def test_ast_check_catches_a_hand_made_conv() -> None:
    source = "from torch import nn\nx = nn.Conv1d(4, 8, 3)\nprint(x)\nisinstance(x, nn.Conv1d)\n"
    assert _calls(ast.parse(source)) == ["line 2: .Conv1d()", "line 3: print()"]
