"""The training loop on small real data (scikit-learn digits) and tiny models."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from seqcnn.config import RunConfig, config_from_dict, load_config
from seqcnn.errors import ConfigError, InputError
from seqcnn.modelfile import load_model, read_metadata
from seqcnn.models import registry
from seqcnn.train.loop import Trainer, TrainingError, fit


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One CPU thread: tiny models gain nothing from more, and the CI machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def digits_config(limit: int | None = None, **train: object) -> RunConfig:
    """LeNet-5 on the digits (at most ``limit`` images per split), a few fast epochs, no plots."""
    return config_from_dict(
        {
            "data": {
                "kind": "images",
                "images": "digits",
                "task_type": "multiclass",
                "batch_size": 64,
                "limit": limit,
            },
            "model": {"name": "lenet5", "kwargs": {"small_input": True, "activation": "relu", "pool": "max"}},
            "train": {"epochs": 3, "lr": 0.01, "optimizer": "adam", "seed": 1, **train},
            "output": {"plots": False},
        }
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("run") / "lenet"
    cfg = digits_config(epochs=4)
    cfg.output.plots = True
    return fit(cfg, out_dir=out)


def test_run_directory_and_learning(trained) -> None:
    out = trained.out_dir
    for name in (
        "model.safetensors",
        "config.yaml",
        "metrics.tsv",
        "test_metrics.tsv",
        "curves.png",
        "log.txt",
        "checkpoint.pt",
    ):
        assert (out / name).is_file(), name
    history = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert {"train_loss", "valid_loss", "valid_accuracy", "valid_auroc", "lr"} <= set(history.columns)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    # ten classes: chance is 0.1; four epochs of LeNet get far beyond it
    assert trained.test_metrics["accuracy"] > 0.8
    assert trained.monitor == "valid_accuracy"
    assert trained.best_metric == pytest.approx(history["valid_accuracy"].max())
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(out / "test_metrics.tsv", sep="\t", index_col=0)
    assert list(table.index) == [str(i) for i in range(10)] + ["macro"]
    assert table.loc["macro", "accuracy"] == pytest.approx(trained.test_metrics["accuracy"], abs=1e-5)


def test_model_file_holds_best_weights_and_metadata(trained) -> None:
    meta = read_metadata(trained.model_path)
    assert meta.architecture == "lenet5" and meta.task_type == "multiclass"
    assert meta.tasks == [str(i) for i in range(10)] and meta.input_shape == [1, 8, 8]
    assert meta.model_kwargs["num_classes"] == 10 and meta.model_kwargs["input_size"] == [8, 8]
    assert meta.training["best_epoch"] == trained.best_epoch
    assert meta.training["test"]["accuracy"] == pytest.approx(trained.test_metrics["accuracy"])
    model = load_model(trained.model_path)
    for name, tensor in trained.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor.cpu()), name
    # the resolved config was written next to the outputs and reloads to the same config
    assert load_config(trained.config_path).train == digits_config(epochs=4).train


def test_same_seed_same_weights(tmp_path: Path) -> None:
    a = fit(digits_config(300, epochs=1), out_dir=tmp_path / "a")
    b = fit(digits_config(300, epochs=1), out_dir=tmp_path / "b")
    c = fit(digits_config(300, epochs=1, seed=2), out_dir=tmp_path / "c")
    sa, sb, sc = (r.model.state_dict() for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_early_stopping_keeps_best(tmp_path: Path) -> None:
    # lr 0: nothing improves after the first epoch, so patience 1 stops after epoch 2
    result = fit(digits_config(300, epochs=10, lr=0.0, patience=1, monitor="loss"), out_dir=tmp_path / "r")
    assert result.stopped_early and result.epochs_run == 2 and result.best_epoch == 1
    assert result.monitor == "valid_loss"
    assert len(pd.read_csv(result.metrics_path, sep="\t")) == 2


def test_resume_continues_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = digits_config(300, epochs=3, checkpoint_every=5, scheduler="cosine")
    cfg.data.batch_size = 32
    cfg.data.augment.crop = 1  # augmentation randomness must replay too
    full = fit(cfg, out_dir=tmp_path / "full")
    # 9 batches per epoch; checkpoints after global steps 5, 9 (epoch end), 10 and 15 = epoch 2 step 6;
    # crash before step 16
    original = Trainer._train_step

    def crashing(self, x, y, epoch, step):
        if self.global_step == 15:
            raise RuntimeError("simulated crash")
        return original(self, x, y, epoch, step)

    monkeypatch.setattr(Trainer, "_train_step", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(cfg, out_dir=tmp_path / "crash")
    monkeypatch.setattr(Trainer, "_train_step", original)
    with pytest.raises(ConfigError, match="already holds a training run"):
        fit(cfg, out_dir=tmp_path / "crash")
    resumed = fit(cfg, out_dir=tmp_path / "crash", resume=True)
    for name, tensor in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name
    before, after = (pd.read_csv(r.metrics_path, sep="\t") for r in (full, resumed))
    pd.testing.assert_frame_equal(before.drop(columns="seconds"), after.drop(columns="seconds"))
    with pytest.raises(InputError, match="nothing to resume"):
        fit(cfg, out_dir=tmp_path / "never", resume=True)


@pytest.fixture()
def nan_model():
    """A test-only architecture whose training output turns NaN after 50 calls."""

    class NanAfter(nn.Module):
        def __init__(self, num_classes: int, features: int) -> None:
            super().__init__()
            self.linear = nn.Linear(features, num_classes)
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.linear(x.flatten(1))
            if self.training:
                self.calls += 1
                if self.calls > 50:
                    return out * float("nan")
            return out

    def build(*, num_classes: int = 10, in_channels: int = 1, input_size: tuple = (8, 8)) -> nn.Module:
        return NanAfter(num_classes, in_channels * input_size[0] * input_size[1])

    registry.register_model("_test_nan", dims=2)(build)
    yield "_test_nan"
    del registry._REGISTRY["_test_nan"]


def test_nan_loss_stops_with_step_and_keeps_checkpoint(tmp_path: Path, nan_model: str) -> None:
    cfg = digits_config(epochs=3)
    cfg.model.name, cfg.model.kwargs = nan_model, {}
    out = tmp_path / "nan"
    with pytest.raises(TrainingError) as info:
        fit(cfg, out_dir=out)
    # 1258 training images: 19 full batches of 64 per epoch, so call 51 is step 13 of epoch 3
    message = str(info.value)
    assert "loss became nan at epoch 3, step 13 (global step 51)" in message
    assert "last good checkpoint" in message
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and state["step"] == 0
    assert (out / "model.safetensors").is_file()


def test_transfer_learning_new_head_and_frozen_layers(trained, tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < 3
    npz = tmp_path / "three.npz"
    np.savez(npz, x=(digits.images[keep] / 16).astype(np.float32), y=digits.target[keep])
    cfg = digits_config(200, epochs=1)
    cfg.data.images, cfg.data.path = "npz", str(npz)
    cfg.model.init_from = str(trained.model_path)
    cfg.model.freeze = ["body.*"]
    result = fit(cfg, out_dir=tmp_path / "transfer")
    source, new = trained.model.state_dict(), result.model.state_dict()
    assert new["head.5.weight"].shape == (3, source["head.5.weight"].shape[1])
    assert torch.equal(new["body.0.conv.weight"], source["body.0.conv.weight"])  # frozen
    assert not torch.equal(new["head.1.weight"], source["head.1.weight"])  # copied, then trained
    assert "newly initialised (new head): head.5.weight, head.5.bias" in result.log_path.read_text()
    cfg.model.freeze = ["nothing.*"]
    with pytest.raises(ConfigError, match="matches no parameter"):
        fit(cfg, out_dir=tmp_path / "bad")


def test_bf16_autocast_matches_fp32(trained, tmp_path: Path) -> None:
    from seqcnn.train.distributed import DistInfo
    from seqcnn.train.evaluation import Evaluator
    from seqcnn.train.inputs import prepare_data
    from seqcnn.train.losses import make_loss

    data = prepare_data(load_config(trained.config_path).data, seed=1)
    device = next(trained.model.parameters()).device
    probs = {}
    for bf16 in (False, True):
        evaluator = Evaluator(
            trained.model,
            data,
            make_loss("ce", "multiclass"),
            "ce",
            device,
            DistInfo(),
            n_value=0.25,
            batch_size=64,
            bf16=bf16,
        )
        probs[bf16] = evaluator.predict("test")[2]
    # bf16 keeps ~3 significant digits: probabilities agree to 0.05, the predicted class almost always
    assert np.abs(probs[True] - probs[False]).max() < 0.05
    assert np.mean(probs[True].argmax(1) == probs[False].argmax(1)) > 0.98
    fp32 = fit(digits_config(600, epochs=1), out_dir=tmp_path / "fp32")
    bf16 = fit(digits_config(600, epochs=1, precision="bf16"), out_dir=tmp_path / "bf16")
    a, b = (pd.read_csv(r.metrics_path, sep="\t").iloc[0] for r in (fp32, bf16))
    assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.05)


def test_other_tasks_and_options(tmp_path: Path) -> None:
    unet = config_from_dict(
        {
            "data": {
                "kind": "images",
                "images": "segmentation",
                "task_type": "segmentation",
                "batch_size": 16,
                "options": {"n": 64, "size": 16},
                "augment": {"hflip": True, "noise": 0.01},
            },
            "model": {"name": "unet", "kwargs": {"base": 4, "depth": 2}},
            "train": {"epochs": 1, "optimizer": "sgd", "scheduler": "onecycle", "grad_clip": 1.0},
        }
    )
    result = fit(unet, out_dir=tmp_path / "unet")
    assert {"dice", "iou", "accuracy"} <= set(result.test_metrics)
    resnet = digits_config(128, epochs=1, channels_last=True, scheduler="plateau", optimizer="adamw")
    resnet.model.name, resnet.model.kwargs = "resnet", {"depth": 18, "width": 0.125, "small_input": True}
    assert fit(resnet, out_dir=tmp_path / "resnet").epochs_run == 1


def test_config_errors_found_before_training(tmp_path: Path) -> None:
    cfg = digits_config(monitor="pearson")
    with pytest.raises(ConfigError, match="not a validation metric of multiclass"):
        fit(cfg, out_dir=tmp_path / "a")
    cfg = digits_config(loss="bce")
    with pytest.raises(ConfigError, match="does not fit task type 'multiclass'"):
        fit(cfg, out_dir=tmp_path / "b")
    cfg = digits_config()
    cfg.model.kwargs["num_classes"] = 3
    with pytest.raises(ConfigError, match="num_classes is 3 but the data have 10"):
        fit(cfg, out_dir=tmp_path / "c")
    cfg = digits_config()
    cfg.data.augment.rc = True
    with pytest.raises(ConfigError, match="rc/shift are for sequences"):
        fit(cfg, out_dir=tmp_path / "d")


def test_cli_train_and_evaluate(tmp_path: Path, trained) -> None:
    from seqcnn.cli import cli

    config = tmp_path / "digits.yaml"
    shutil.copy(trained.config_path, config)
    out = tmp_path / "cli_run"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["train", str(config), "--set", "train.epochs=1", "data.limit=300", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "model.safetensors" in result.output and "test" in result.output
    assert load_config(out / "config.yaml").data.limit == 300
    result = runner.invoke(
        cli,
        ["evaluate", str(out / "model.safetensors"), str(out / "config.yaml"), "-o", str(tmp_path / "ev")],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "ev" / "metrics.tsv", sep="\t", index_col=0)
    assert table.loc["macro", "accuracy"] == pytest.approx(
        pd.read_csv(out / "test_metrics.tsv", sep="\t", index_col=0).loc["macro", "accuracy"], abs=1e-5
    )
    assert (tmp_path / "ev" / "roc.png").is_file() and (tmp_path / "ev" / "pr.png").is_file()


def test_cli_bad_key_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  lrr: 0.1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "seqcnn.cli", "train", str(config)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"seqcnn: error: {config}: unknown key 'train.lrr' (did you mean 'train.lr'?)"
    ]


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from seqcnn.seq.simulate import simulate_dataset

    folder = tmp_path_factory.mktemp("sim") / "sim"
    simulate_dataset(folder, n_sequences=300, length=200, max_instances=2, seed=0)
    return folder


def test_sequence_training_and_evaluate(sim_dir: Path, tmp_path: Path) -> None:
    from seqcnn.cli import cli

    cfg = config_from_dict(
        {
            "data": {
                "kind": "simulate",
                "path": str(sim_dir),
                "batch_size": 32,
                "augment": {"rc": True, "shift": 2},
            },
            "model": {"name": "koo_cnn", "kwargs": {"filters": [8, 8], "hidden": 16}, "rc_mode": "mean"},
            "train": {"epochs": 2, "pos_weight": "auto", "scheduler": "onecycle", "grad_clip": 1.0},
            "output": {"plots": False},
        }
    )
    result = fit(cfg, out_dir=tmp_path / "koo")
    meta = read_metadata(result.model_path)
    assert meta.tasks == pd.read_csv(sim_dir / "labels.tsv", sep="\t", index_col=0).columns.tolist()
    assert meta.input_length == 200 and meta.rc_mode == "mean" and meta.training["loss"] == "bce"
    assert meta.model_kwargs["n_tasks"] == 12 and meta.model_kwargs["input_length"] == 200
    runner = CliRunner()
    for name, data in (
        ("folder", [str(sim_dir)]),
        ("pair", [str(sim_dir / "test.fa"), str(sim_dir / "labels.tsv")]),
    ):
        out = tmp_path / name
        run = runner.invoke(cli, ["evaluate", str(result.model_path), *data, "-o", str(out)])
        assert run.exit_code == 0, run.output
        table = pd.read_csv(out / "metrics.tsv", sep="\t", index_col=0)
        assert table.loc["macro", "auroc"] == pytest.approx(result.test_metrics["auroc"], abs=1e-5)
        assert table.loc["macro", "n"] == 60
    run = runner.invoke(
        cli, ["evaluate", str(result.model_path), str(sim_dir / "test.fa"), "-o", str(tmp_path / "x")]
    )
    assert isinstance(run.exception, InputError)


CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def _ctcf_dataset(out: Path) -> dict[str, str]:
    """configs/ctcf.yaml's data keys pointed at a dataset built from the shipped CTCF peaks."""
    from seqcnn.data.build import DatasetOptions, build_dataset

    peaks = Path(__file__).resolve().parents[2] / "data" / "examples" / "Gm12878.CTCF.top500.w200.fa"
    build_dataset(out, DatasetOptions(positives_fasta=[f"{peaks}:CTCF"]))
    return {f"data.{key}": str(out / name) for key, name in
            (("train", "train.fa"), ("valid", "valid.fa"), ("test", "test.fa"), ("labels", "labels.tsv"))}


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_trains(path: Path, sim_dir: Path, tmp_path: Path) -> None:
    """Each shipped config runs one short epoch (tiny data; sequence configs on a small simulated set)."""
    overrides = {"train.epochs": "1", "data.limit": "64", "output.plots": "false"}
    if load_config(path).data.kind == "simulate":
        overrides["data.path"] = str(sim_dir)
    if path.stem == "unet_shapes":
        overrides["data.options.n"] = "96"
    if path.stem == "ctcf":  # a dataset from the shipped CTCF peaks, as the README makes it
        overrides.update(_ctcf_dataset(tmp_path / "ctcf-data"))
    result = fit(load_config(path, overrides), out_dir=tmp_path / path.stem)
    assert result.epochs_run == 1 and result.model_path.is_file()
