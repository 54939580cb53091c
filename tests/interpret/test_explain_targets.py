"""``target`` means one thing in attributions, Grad-CAM, occlusion and explain: None = every output (a
last axis over outputs), an index or a task name = that output (no such axis), a list = those outputs;
an unknown name or an index out of range is a one-line ConfigError, in the library and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.cli import main
from seqcnn.errors import ConfigError
from seqcnn.interpret.attribution import attribute
from seqcnn.interpret.cam import grad_cam, occlusion
from seqcnn.interpret.explain import explain
from seqcnn.modelfile import ModelMetadata, save_model
from seqcnn.models.registry import build_model

TASKS = ["CTCF", "GATA1", "REST"]


def toy() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(4, 5, 5), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(5, 3, 3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(3 * 6, 3)).double().eval()
    model.metadata = ModelMetadata("toy", tasks=TASKS)
    return model


def x_batch(n: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.zeros(n, 4, 20, dtype=torch.float64)
    x[torch.arange(n)[:, None], torch.randint(4, (n, 20), generator=g), torch.arange(20)] = 1
    return x


@pytest.mark.parametrize("method", ["saliency", "ig"])
def test_attribute_none_is_every_output_on_a_last_axis(method: str) -> None:
    model, x = toy(), x_batch()
    every = attribute(model, x, method, steps=8)
    assert every.actual.shape == (*x.shape, 3) and every.target == [0, 1, 2]
    for t, name in enumerate(TASKS):
        one = attribute(model, x, method, target=name, steps=8)
        assert one.actual.shape == x.shape and one.target == t
        np.testing.assert_allclose(every.actual[..., t], one.actual, atol=1e-12)
        np.testing.assert_allclose(every.hypothetical[..., t], one.hypothetical, atol=1e-12)
    pair = attribute(model, x, method, target=["REST", 0], steps=8)
    np.testing.assert_allclose(pair.actual, every.actual[..., [2, 0]], atol=1e-12)


def test_grad_cam_and_occlusion_take_names_lists_and_none() -> None:
    model, x = toy(), x_batch()
    for fn, kw in ((grad_cam, {"layer": "3"}), (occlusion, {"window": 4})):
        every = fn(model, x, **kw)
        assert every.shape == (4, 20, 3)
        for t, name in enumerate(TASKS):
            np.testing.assert_allclose(every[..., t], fn(model, x, target=name, **kw), atol=1e-10)
            np.testing.assert_allclose(fn(model, x, target=t, **kw), fn(model, x, target=name, **kw), atol=0)
        np.testing.assert_allclose(fn(model, x, target=[1, 2], **kw), every[..., 1:], atol=1e-10)


@pytest.mark.parametrize("bad", [3, -4, "GATA", "gata1", [0, 7]])
def test_bad_targets_are_one_line_config_errors(bad: object) -> None:
    model, x = toy(), x_batch(1)
    for call in (lambda: attribute(model, x, "saliency", target=bad),
                 lambda: grad_cam(model, x, target=bad), lambda: occlusion(model, x, window=4, target=bad),
                 lambda: explain(model, x.numpy(), "saliency", target=bad)):
        with pytest.raises(ConfigError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and ("out of range" in message or "unknown" in message)


def test_explain_top_none_and_names() -> None:
    model, x = toy(), x_batch(6)
    with torch.no_grad():
        top = model(x).argmax(1).numpy()
    by_top = explain(model, x.numpy(), "saliency", target="top")
    np.testing.assert_array_equal(by_top.targets, top)
    every = explain(model, x.numpy(), "saliency")
    assert every.map.shape == (6, 20, 3) and every.targets.shape == (6, 3)
    np.testing.assert_allclose(by_top.map, every.map[np.arange(6), :, top], atol=1e-12)
    named = explain(model, x.numpy(), "occlusion", target="GATA1", window=4)
    assert named.map.shape == (6, 20) and list(named.targets) == [1] * 6


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("explain_targets")
    kw = {"n_tasks": 2, "n_filters": 4, "filter_width": 5, "hidden": 4}
    torch.manual_seed(0)
    save_model(build_model("deepbind", **kw), root / "m.safetensors", ModelMetadata("deepbind", kw,
                                                                                   tasks=["CTCF", "GATA1"]))
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 24)) for _ in range(5)]
    (root / "x.fa").write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(seqs)))
    return {"model": root / "m.safetensors", "fasta": root / "x.fa", "seqs": seqs}


def run(args: list, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_cli_target_by_name_equals_by_index(files, tmp_path, capsys) -> None:
    outs = {}
    for target in ("GATA1", "1"):
        outs[target] = tmp_path / f"{target}.npz"
        code, err = run(["explain", files["model"], files["fasta"], "-m", "saliency", "--target", target,
                         "-o", outs[target], "-q"], capsys)
        assert code == 0, err
    with np.load(outs["GATA1"]) as a, np.load(outs["1"]) as b:
        np.testing.assert_array_equal(a["map"], b["map"])
        assert list(a["targets"]) == [1] * 5


@pytest.mark.parametrize("target", ["2", "-3", "REST", "gata"])
def test_cli_bad_target_is_one_line(files, tmp_path, capsys, target: str) -> None:
    code, err = run(["explain", files["model"], files["fasta"], "-m", "gradcam", "--target", target,
                     "-o", tmp_path / "x.npz"], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "out of range" in err or "unknown target" in err
    assert not (tmp_path / "x.npz").exists()
