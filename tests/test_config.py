"""Run configs: YAML loading, --set overrides, key and type checks, every shipped config valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seqcnn.config import RunConfig, config_from_dict, config_to_dict, dump_config, load_config
from seqcnn.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.fixture()
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(
        "data:\n  kind: simulate\n  path: sim\n  augment: {rc: true}\n"
        "model:\n  name: koo_cnn\n  kwargs: {n_filters: 16}\n"
        "train:\n  lr: 1e-3\n  epochs: 3\n"
    )
    return path


def test_load_reads_sections_and_defaults(config_file: Path) -> None:
    cfg = load_config(config_file)
    assert cfg.model.name == "koo_cnn" and cfg.model.kwargs == {"n_filters": 16}
    assert cfg.data.augment.rc is True and cfg.data.augment.shift == 0
    assert cfg.train.epochs == 3 and cfg.train.optimizer == "adam"  # default kept
    # YAML reads "1e-3" as a string; a float field accepts it
    assert yaml.safe_load("lr: 1e-3")["lr"] == "1e-3"
    assert cfg.train.lr == pytest.approx(0.001) and isinstance(cfg.train.lr, float)


def test_overrides_are_yaml_scalars(config_file: Path) -> None:
    cfg = load_config(
        config_file,
        {
            "train.lr": "0.0005",
            "model.kwargs.n_filters": "32",
            "train.pos_weight": "[1, 2.5]",
            "data.tasks": "[CTCF, GATA1]",
            "train.grad_clip": "null",
            "output.dir": "runs/x",
        },
    )
    assert cfg.train.lr == 0.0005
    assert cfg.model.kwargs == {"n_filters": 32}
    assert cfg.train.pos_weight == [1.0, 2.5]
    assert cfg.data.tasks == ["CTCF", "GATA1"]
    assert cfg.train.grad_clip is None and cfg.output.dir == "runs/x"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"train.lrr": "1"}, "unknown key 'train.lrr' (did you mean 'train.lr'?)"),
        ({"trian.lr": "1"}, "unknown key 'trian' (did you mean 'train'?)"),
        ({"data.augment.rcc": "true"}, "did you mean 'data.augment.rc'?"),
        ({"train.epochs": "ten"}, "train.epochs: expected an integer, got 'ten'"),
        ({"train.lr": "fast"}, "train.lr: expected a number, got 'fast'"),
        ({"data.augment.rc": "1"}, "data.augment.rc: expected true or false, got 1"),
        ({"train.optimizer": "adagrad"}, "train.optimizer: expected one of 'adam', 'adamw', 'sgd'"),
        ({"train.pos_weight": "[1, x]"}, "train.pos_weight[1]: expected a number, got 'x'"),
        ({"train.lr.x": "1"}, "train.lr is not a section"),
    ],
)
def test_bad_keys_and_types_are_named(config_file: Path, override: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_file, override)
    assert expected in str(info.value)
    assert str(config_file) in str(info.value) or "--set" in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_round_trip(tmp_path: Path, config_file: Path) -> None:
    cfg = load_config(config_file, {"train.scheduler": "cosine"})
    dump_config(cfg, tmp_path / "resolved.yaml")
    again = load_config(tmp_path / "resolved.yaml")
    assert again == cfg
    assert config_from_dict({}) == RunConfig()
    assert config_to_dict(cfg)["train"]["scheduler"] == "cosine"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_are_valid(path: Path) -> None:
    from seqcnn.models.registry import get_spec

    cfg = load_config(path)
    spec = get_spec(cfg.model.name)  # the model is registered
    unknown = set(cfg.model.kwargs) - set(spec.parameters)
    assert not unknown, f"{path.name}: kwargs {unknown} not accepted by {cfg.model.name}"


def test_every_registered_family_has_a_config() -> None:
    from seqcnn.models.registry import list_models

    named = {load_config(p).model.name for p in CONFIGS}
    wanted = {"deepbind", "deepsea", "basset", "koo_cnn", "wavenet", "bpnet", "lenet5", "resnet", "unet"}
    registered = {n for n in list_models() if not n.startswith("_")}  # "_name": test-only models
    # SpliceAI comes with published weights (`seqcnn import spliceai`); seqcnn has no per-position label data
    # to train it from scratch, so a training config would be a config that cannot run.
    imported_only = {"spliceai"}
    missing = (wanted | registered) - named - imported_only
    assert not missing, f"no config in configs/ for {sorted(missing)}"
