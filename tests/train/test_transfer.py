"""Transfer learning: ``model.init_from``, ``model.freeze`` and ``model.init_strict`` (issue 20).

Tiny koo_cnn models saved to a model file; known answers: which tensors load (equal to the file's),
which are reported as the new head, which as mismatches with both shapes, and which freezes are refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from seqcnn.config import config_from_dict, load_config
from seqcnn.errors import ConfigError
from seqcnn.modelfile import ModelMetadata, save_model
from seqcnn.models.registry import build_model
from seqcnn.train.build import build, head_names, init_from

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example"
TINY = {"filters": [4, 6], "kernel_sizes": [5, 3], "pool1": 4, "hidden": 8, "input_length": 40}


def _source(tmp_path: Path, n_tasks: int = 3, **kw: object) -> tuple[Path, torch.nn.Module]:
    """A seeded tiny koo_cnn saved to a model file."""
    torch.manual_seed(7)
    kwargs = {**TINY, **kw, "n_tasks": n_tasks}
    model = build_model("koo_cnn", **kwargs)
    for p in model.parameters():  # far from any fresh initialisation
        p.data.uniform_(5.0, 6.0)
    path = tmp_path / "source.safetensors"
    save_model(model, path, ModelMetadata("koo_cnn", kwargs, tasks=[f"t{i}" for i in range(n_tasks)],
                                          input_length=40))
    return path, model


def _model_cfg(path: Path, freeze: list[str] | None = None, strict: bool = False, **kw: object):
    kwargs = {**TINY, **kw}
    raw = {"model": {"name": "koo_cnn", "kwargs": kwargs, "init_from": str(path),
                     "freeze": freeze or [], "init_strict": strict}}
    return config_from_dict(raw).model


def test_new_head_only_when_task_count_differs(tmp_path: Path) -> None:
    path, source = _source(tmp_path, n_tasks=3)
    cfg = _model_cfg(path, freeze=["body.*"])
    model, notes = build(cfg, {**cfg.kwargs, "n_tasks": 5})
    own, src = model.state_dict(), source.state_dict()
    # every tensor but the output layer is the file's
    out_layer = {"head.5.weight", "head.5.bias"}
    for name in own:
        assert torch.equal(own[name], src[name]) is (name not in out_layer), name
    n = len(own)
    assert notes[0] == f"initialised {n - 2}/{n} tensors from {path}"
    assert notes[1] == "newly initialised (new head): head.5.weight, head.5.bias"
    assert not any("mismatch" in line for line in notes)
    assert all(not p.requires_grad for name, p in model.named_parameters() if name.startswith("body."))
    assert all(p.requires_grad for name, p in model.named_parameters() if name.startswith("head."))


def test_mismatch_outside_head_is_reported_with_both_shapes(tmp_path: Path) -> None:
    path, source = _source(tmp_path, n_tasks=3)  # 4 first-layer filters in the file
    cfg = _model_cfg(path, filters=[6, 6])
    model, notes = build(cfg, {**cfg.kwargs, "n_tasks": 3})
    text = "\n".join(notes)
    mismatch = next(line for line in notes if line.startswith("not loaded (mismatch outside the head"))
    assert "body.0.conv.weight (4, 4, 5) in file, (6, 4, 5) in model" in mismatch
    assert "body.1.conv.weight (6, 4, 3) in file, (6, 6, 3) in model" in mismatch
    # the head after the body still loads (same shapes): nothing is called a new head
    assert not any(line.startswith("newly initialised (new head)") for line in notes)
    assert torch.equal(model.state_dict()["head.5.weight"], source.state_dict()["head.5.weight"])
    first = model.state_dict()["body.0.conv.weight"]
    assert not torch.equal(first[:4], source.state_dict()["body.0.conv.weight"])  # kept random
    assert text.count("body.0.conv.weight") == 1


def test_freeze_of_a_tensor_not_loaded_is_refused(tmp_path: Path) -> None:
    path, _ = _source(tmp_path)
    cfg = _model_cfg(path, freeze=["body.0.*"], filters=[6, 6])
    with pytest.raises(ConfigError) as info:
        build(cfg, {**cfg.kwargs, "n_tasks": 3})
    message = str(info.value)
    assert "\n" not in message
    assert "'body.0.*' matches body.0.conv.weight" in message
    assert "(4, 4, 5) in file, (6, 4, 5) in model" in message
    # freezing a new head is refused too (shape in the file differs: 3 tasks there, 2 here)
    cfg = _model_cfg(path, freeze=["head.5.*"])
    with pytest.raises(ConfigError, match=r"head\.5\.weight.*\(3, 8\) in file, \(2, 8\) in model"):
        build(cfg, {**cfg.kwargs, "n_tasks": 2})
    # a loaded tensor may be frozen; without init_from any freeze is allowed (no file to compare)
    cfg = _model_cfg(path, freeze=["body.0.*"], filters=[4, 6])
    model, _ = build(cfg, {**cfg.kwargs, "n_tasks": 2})
    assert not model.body[0].conv.weight.requires_grad
    plain = config_from_dict({"model": {"name": "koo_cnn", "kwargs": TINY, "freeze": ["body.0.*"]}}).model
    model, notes = build(plain, {**plain.kwargs, "n_tasks": 2})
    assert notes == ["frozen: body.0.conv.weight, body.0.norm.weight, body.0.norm.bias"]


def test_init_strict_refuses_mismatch_outside_head_only(tmp_path: Path) -> None:
    path, _ = _source(tmp_path, n_tasks=3)
    cfg = _model_cfg(path, strict=True, filters=[6, 6])
    with pytest.raises(ConfigError, match=r"init_strict.*body\.0\.conv\.weight \(4, 4, 5\) in file"):
        build(cfg, {**cfg.kwargs, "n_tasks": 3})
    cfg = _model_cfg(path, strict=True)  # a new head for 2 tasks is what transfer learning is for
    model, notes = build(cfg, {**cfg.kwargs, "n_tasks": 2})
    assert notes[1] == "newly initialised (new head): head.5.weight, head.5.bias"


def test_tensor_absent_from_file_is_a_mismatch(tmp_path: Path) -> None:
    path, _ = _source(tmp_path, norm=None)  # no batch norm in the file
    model = build_model("koo_cnn", **TINY, n_tasks=3)
    transfer = init_from(model, str(path))
    assert "body.0.norm.weight" not in transfer.loaded and "body.0.conv.weight" in transfer.loaded
    mismatch = next(line for line in transfer.notes if line.startswith("not loaded"))
    assert "body.0.norm.weight absent in file, (4,) in model" in mismatch
    unused = "(unused): body.0.conv.bias, body.1.conv.bias, head.4.weight, head.4.bias"
    assert transfer.notes[-1].endswith(unused)
    with pytest.raises(ConfigError, match="body.0.norm.weight absent in file"):
        init_from(build_model("koo_cnn", **TINY, n_tasks=3), str(path), strict=True)


def test_head_names_of_models_without_a_head_module() -> None:
    koo = build_model("koo_cnn", **TINY, n_tasks=2)
    assert head_names(koo) == {k for k in koo.state_dict() if k.startswith("head.")}
    unet = build_model("unet", num_classes=2)
    assert head_names(unet) == {"classifier.conv.weight", "classifier.conv.bias"}
    auto = build_model("autoencoder")
    last = [k for k, _ in auto.named_parameters()][-1].rsplit(".", 1)[0]
    assert head_names(auto) == {f"{last}.weight", f"{last}.bias"}


def test_init_strict_config_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"model": {"name": "koo_cnn"}}))
    assert load_config(config).model.init_strict is False
    assert load_config(config, {"model.init_strict": "true"}).model.init_strict is True
    with pytest.raises(ConfigError):
        load_config(config, {"model.init_strict": "maybe"})


def _cli_config(tmp_path: Path, filters: list[int]) -> Path:
    config = tmp_path / "transfer.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"kind": "fasta", "fasta": str(EXAMPLE / "sequences.fa"),
                 "labels": str(EXAMPLE / "labels.tsv"), "batch_size": 50, "limit": 50},
        "model": {"name": "koo_cnn", "kwargs": {"filters": filters, "kernel_sizes": [19, 5], "pool1": 25,
                                                "hidden": 16, "first_activation": "exp"}},
        "train": {"epochs": 1},
        "output": {"plots": False},
    }))
    return config


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``seqcnn ARGS`` through the console entry point: (exit status, stdout, stderr)."""
    from seqcnn.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_freeze_of_mismatched_layer_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from seqcnn.modelfile import load_model

    model = str(EXAMPLE / "model.safetensors")  # 48 first-layer filters; the config asks for 64
    args = ["train", str(_cli_config(tmp_path, [64, 64])), "--out", str(tmp_path / "run"), "--quiet",
            "--set", f"model.init_from={model}", "--set", 'model.freeze=["body.0.*"]']
    code, out, err = _run(args, capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqcnn: error: ")
    assert "body.0.conv.weight" in lines[0] and "(48, 4, 19) in file, (64, 4, 19) in model" in lines[0]
    assert not (tmp_path / "run" / "model.safetensors").exists()
    # the same first layer as the file: it loads, is frozen and stays the file's
    args[1] = str(_cli_config(tmp_path, [48, 64]))
    code, out, err = _run(args, capsys)
    assert code == 0, err
    trained = load_model(tmp_path / "run" / "model.safetensors", device="cpu").state_dict()
    example = load_model(model, device="cpu").state_dict()
    assert torch.equal(trained["body.0.conv.weight"], example["body.0.conv.weight"])
    assert not torch.equal(trained["body.1.conv.weight"], example["body.1.conv.weight"])
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "newly initialised (new head): head.1.weight" in log and "mismatch" not in log
