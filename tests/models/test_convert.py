"""Weight conversion: the released SpliceAI Keras models against a NumPy Keras forward pass written here
from the HDF5 file alone, and PyTorch state dicts read without unpickling."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from seqcnn.errors import ConfigError, InputError
from seqcnn.models.convert import import_spliceai, spliceai_from_keras
from seqcnn.models.registry import build_model
from seqcnn.models.state_dict import import_state_dict, load_weights, read_state_dict
from seqcnn.seq.encode import one_hot, reverse_complement
from seqcnn.seq.fasta import read_fasta

GENOME = Path(__file__).resolve().parents[2] / "data" / "genomes" / "chr17.hg19.part.fa"


# -- an independent Keras forward pass: the model config's layer graph, run layer by layer in NumPy ------
def _weights(path: Path) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])["config"]
        weights = {name: {n.decode().split("/")[-1].split(":")[0]: np.asarray(group[n], dtype=np.float32)
                          for n in group.attrs["weight_names"]}
                   for name, group in f["model_weights"].items()}
    return config, weights


def _conv1d(h: np.ndarray, cfg: dict, w: dict[str, np.ndarray]) -> np.ndarray:
    """Keras Conv1D on channels-last ``(N, L, C)``: the k taps side by side times the kernel ``(k, C, F)``
    as ``(k C, F)``; "same" pads ``total // 2`` on the left, the rest on the right."""
    k, d = cfg["kernel_size"][0], cfg["dilation_rate"][0]
    if cfg["padding"] == "same":
        total = d * (k - 1)
        h = np.pad(h, ((0, 0), (total // 2, total - total // 2), (0, 0)))
    length = h.shape[1] - d * (k - 1)
    taps = np.concatenate([h[:, j * d: j * d + length] for j in range(k)], axis=2)  # (N, L', k C)
    out = taps @ w["kernel"].reshape(-1, w["kernel"].shape[-1]) + w["bias"]
    if cfg["activation"] == "softmax":
        e = np.exp(out - out.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    assert cfg["activation"] == "linear"
    return out


def _layer(kind: str, cfg: dict, ins: list[np.ndarray], w: dict[str, np.ndarray]) -> np.ndarray:
    if kind == "Conv1D":
        return _conv1d(ins[0], cfg, w)
    if kind == "BatchNormalization":
        scale = w["gamma"] / np.sqrt(w["moving_variance"] + cfg["epsilon"])
        return (ins[0] - w["moving_mean"]) * scale + w["beta"]
    if kind == "Activation":
        assert cfg["activation"] == "relu"
        return np.maximum(ins[0], 0.0)
    if kind == "Add":
        return sum(ins)
    if kind == "Cropping1D":
        left, right = cfg["cropping"]
        return ins[0][:, left: ins[0].shape[1] - right]
    raise AssertionError(f"layer kind {kind} not in SpliceAI")


def keras_forward(path: Path, x: np.ndarray) -> np.ndarray:
    """The Keras model in ``path`` on ``x`` ``(N, L, 4)`` in float32 (as Keras): ``(N, L - 10000, 3)``."""
    config, weights = _weights(path)
    values: dict[str, np.ndarray] = {}
    pending = list(config["layers"])
    while pending:  # run any layer whose inputs are ready (the config's order is not topological)
        layer = next(lay for lay in pending if all(n[0] in values for n in (lay["inbound_nodes"] or [[]])[0]))
        pending.remove(layer)
        ins = [values[n[0]] for n in (layer["inbound_nodes"] or [[]])[0]]
        kind = layer["class_name"]
        values[layer["name"]] = x if kind == "InputLayer" else _layer(kind, layer["config"], ins,
                                                                       weights.get(layer["name"], {}))
    return values[config["output_layers"][0][0]]


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    """(2, 10040, 4): random bases with a run of N (all zeros), and hg19 around a DOC2B donor (minus)."""
    rng = np.random.default_rng(0)
    random = np.eye(4)[rng.integers(0, 4, 10040)]
    random[:300] = 0.0
    (_, seq), = read_fasta(GENOME)
    donor = 11872 - 1  # 0-based; its window's outputs (positions 5000 ... 5039) include it
    real = one_hot(reverse_complement(seq[donor - 5020: donor + 5020]), n_value=0.0).T
    return np.stack([random, real]).astype(np.float32)


@pytest.mark.parametrize("member", range(5))
def test_converted_model_equals_the_keras_forward_pass(spliceai_release: dict, inputs: np.ndarray,
                                                         member: int) -> None:
    path = spliceai_release["models"][member]
    expected = keras_forward(path, inputs)
    model = spliceai_from_keras(path)
    with torch.no_grad():
        got = model(torch.from_numpy(inputs.transpose(0, 2, 1)).float()).softmax(dim=1)
    got = got.numpy().transpose(0, 2, 1)
    assert got.shape == expected.shape == (2, 40, 3)
    diff = np.abs(got - expected).max()
    print(f"spliceai{member + 1}.h5: max |seqcnn - Keras (NumPy)| = {diff:.2e}")
    assert diff <= 1e-4
    assert expected[1, :, 1:].max() > 0.5  # the real window holds a splice site the model sees


def test_import_from_wheel_equals_import_from_files(spliceai_release: dict) -> None:
    from_wheel = import_spliceai([spliceai_release["wheel"]])
    from_files = import_spliceai(spliceai_release["models"], version="1.3.1")
    assert from_wheel.model_kwargs == from_files.model_kwargs == {
        "context": 10000, "channels": 32, "n_tasks": 3, "in_channels": 4, "eps": 1e-3, "n_models": 5}
    a, b = from_wheel.model.state_dict(), from_files.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert from_wheel.source == from_files.source
    assert from_wheel.source["version"] == "1.3.1" and from_wheel.source["licence"] == "GPL-3.0"
    assert [f["name"] for f in from_wheel.source["files"]] == [f"spliceai{i}.h5" for i in range(1, 6)]
    single = import_spliceai(spliceai_release["models"][:1])
    assert single.model_kwargs["n_models"] == 1 and single.source["version"] == "unknown"
    assert from_wheel.tasks == ["neither", "acceptor", "donor"] and from_wheel.task_type == "multiclass"


def test_import_needs_sources() -> None:
    with pytest.raises(ConfigError, match="give the SpliceAI"):
        import_spliceai([])


# -- PyTorch state dicts ---------------------------------------------------------------------------------
def small() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("spliceai", context=80, channels=4)


def test_state_dict_round_trip(tmp_path: Path) -> None:
    model = small()
    state = model.state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, tmp_path / "ckpt.pt")
    save_file(state, str(tmp_path / "w.safetensors"))
    for name in ("ckpt.pt", "w.safetensors"):
        read = read_state_dict(tmp_path / name)
        assert read.keys() == state.keys() and all(torch.equal(read[k], state[k]) for k in state)
    imported = import_state_dict(tmp_path / "ckpt.pt", "spliceai", {"context": 80, "channels": 4},
                                 tasks=["neither", "acceptor", "donor"], task_type="multiclass")
    x = torch.randn(1, 4, 100)
    with torch.no_grad():
        assert torch.equal(imported.model(x), model.eval()(x))
    assert imported.source["files"][0]["name"] == "ckpt.pt"


class Payload:
    """An object whose unpickling would run code: ``weights_only`` refuses it."""

    def __reduce__(self) -> tuple:
        return (print, ("unpickled!",))


def test_state_dict_never_unpickles_and_checks_shapes(tmp_path: Path) -> None:
    torch.save({"x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="not a readable state dict"):
        read_state_dict(tmp_path / "evil.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable state dict"):
        read_state_dict(tmp_path / "junk.pt")
    state = small().state_dict()
    state["head.0.conv.weight"] = torch.zeros(3, 5, 1)
    with pytest.raises(InputError, match=r"'head.0.conv.weight' has shape \(3, 5, 1\).*\(3, 4, 1\)"):
        load_weights(small(), state, file="w.pt")
    del state["head.0.conv.weight"]
    with pytest.raises(InputError, match="missing.*head.0.conv.weight"):
        load_weights(small(), state)
