"""Published weights into seqcnn models: Keras HDF5 files, read with h5py (no TensorFlow). PyTorch state
dicts are read by :mod:`seqcnn.models.state_dict`.

Keras to PyTorch: a ``Conv1D`` kernel is stored ``(k, in, out)`` and becomes ``(out, in, k)`` (both
frameworks cross-correlate, so nothing is flipped); ``BatchNormalization`` ``gamma, beta, moving_mean,
moving_variance`` become ``weight, bias, running_mean, running_var`` and its ``epsilon`` comes from the
model config JSON stored in the file's attributes.

Functions::

    spliceai_from_keras(source) -> SpliceAI           # one released .h5 file, checked layer by layer
    import_spliceai(sources, *, version=None) -> ImportedModel   # the .h5 files, or the spliceai wheel

A file that is not what it should be (another architecture, truncated, a layer missing, a shape that
does not fit) is an ``InputError`` of one line that names the file, the layer and the shapes.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcnn.errors import ConfigError, InputError
from seqcnn.models.registry import build_model
from seqcnn.models.spliceai import GROUP_SIZE, SPLICEAI_TASKS, SPLICEAI_UNITS, SpliceAI
from seqcnn.models.state_dict import ImportedModel, file_sha256

SPLICEAI_SOURCE = {
    "name": "SpliceAI",
    "reference": "Jaganathan et al., Cell 176:535 (2019), doi:10.1016/j.cell.2018.12.015",
    "url": "https://github.com/Illumina/SpliceAI",
    "package": "spliceai",
    "licence": "GPL-3.0",
}
"""What the model file says about the released SpliceAI weights (the package's licence: GPLv3)."""

_WHEEL_MODELS = re.compile(r"^spliceai/models/spliceai\d+\.h5$")


# -- Keras HDF5 ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KerasLayer:
    """One layer of a Keras functional model config: class, config and the layers it reads."""

    name: str
    kind: str
    config: dict[str, Any]
    inputs: tuple[str, ...]


class KerasGraph:
    """The layers of a Keras functional ``Model`` from its config, with who reads whom."""

    def __init__(self, config: dict[str, Any], file: str) -> None:
        self.file = file
        if config.get("class_name") != "Model":
            self.fail(f"a Keras {config.get('class_name')!r} model, not a functional Model like SpliceAI")
        self.layers: dict[str, KerasLayer] = {}
        for entry in config["config"]["layers"]:
            nodes = entry.get("inbound_nodes") or [[]]
            inputs = tuple(str(node[0]) for node in nodes[0])
            name = entry["name"]
            self.layers[name] = KerasLayer(name, entry["class_name"], entry["config"], inputs)
        self.readers: dict[str, list[KerasLayer]] = {name: [] for name in self.layers}
        for layer in self.layers.values():
            for name in layer.inputs:
                self.readers[name].append(layer)
        self.outputs = [str(o[0]) for o in config["config"]["output_layers"]]
        self.inputs = [str(i[0]) for i in config["config"]["input_layers"]]

    def fail(self, message: str) -> None:
        raise InputError(f"not a SpliceAI model: {message}", file=self.file)

    def reader(self, name: str, kind: str, *, kernel: int | None = None,
               optional: bool = False) -> KerasLayer:
        """The one layer of class ``kind`` (and kernel size) that reads layer ``name``."""
        found = [r for r in self.readers[name] if r.kind == kind
                 and (kernel is None or r.config.get("kernel_size") == [kernel])]
        if len(found) != 1 and not (optional and not found):
            what = f"{kind}" + ("" if kernel is None else f" of kernel {kernel}")
            self.fail(f"layer {name!r} is read by {len(found)} {what} layers, expected 1")
        return found[0] if found else None  # type: ignore[return-value]


@dataclass
class SpliceAIPlan:
    """The SpliceAI layers of a Keras graph in the order of seqcnn's parameters."""

    stem: str
    skip: str
    units: list[tuple[str, str, str, str]] = field(default_factory=list)  # bn1, conv1, bn2, conv2
    kernels: list[tuple[int, int]] = field(default_factory=list)
    dense: list[str] = field(default_factory=list)
    head: str = ""
    eps: set[float] = field(default_factory=set)
    crop: tuple[int, int] = (0, 0)


def _residual_unit(graph: KerasGraph, x: str, plan: SpliceAIPlan) -> str | None:
    """Follow BN -> ReLU -> Conv -> BN -> ReLU -> Conv -> Add(x) from ``x``; the Add's name."""
    bn1 = graph.reader(x, "BatchNormalization", optional=True)
    if bn1 is None:
        return None
    act1 = graph.reader(bn1.name, "Activation")
    conv1 = graph.reader(act1.name, "Conv1D")
    bn2 = graph.reader(conv1.name, "BatchNormalization")
    act2 = graph.reader(bn2.name, "Activation")
    conv2 = graph.reader(act2.name, "Conv1D")
    add = graph.reader(conv2.name, "Add")
    if set(add.inputs) != {conv2.name, x}:
        graph.fail(f"layer {add.name!r} adds {list(add.inputs)}, expected {conv2.name!r} and {x!r}")
    for act in (act1, act2):
        if act.config.get("activation") != "relu":
            graph.fail(f"layer {act.name!r} is {act.config.get('activation')!r}, expected 'relu'")
    for conv in (conv1, conv2):
        same = all(conv.config.get(k) == conv1.config.get(k) for k in ("kernel_size", "dilation_rate",
                                                                        "strides"))
        if conv.config.get("padding") != "same" or conv.config.get("activation") != "linear" or not same:
            graph.fail(f"layer {conv.name!r} is not a linear 'same'-padded convolution like {conv1.name!r}")
    plan.units.append((bn1.name, conv1.name, bn2.name, conv2.name))
    plan.kernels.append((conv1.config["kernel_size"][0], conv1.config["dilation_rate"][0]))
    plan.eps |= {float(bn1.config["epsilon"]), float(bn2.config["epsilon"])}
    return add.name


def spliceai_plan(graph: KerasGraph) -> SpliceAIPlan:
    """Walk a Keras graph as SpliceAI: stem, residual units, skip connections, crop, softmax head."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        graph.fail(f"{len(graph.inputs)} inputs and {len(graph.outputs)} outputs, expected 1 and 1")
    stem = graph.reader(graph.inputs[0], "Conv1D")
    plan = SpliceAIPlan(stem.name, graph.reader(stem.name, "Conv1D", kernel=1).name)
    x, total = stem.name, plan.skip
    while (after := _residual_unit(graph, x, plan)) is not None:
        x = after
        dense = graph.reader(x, "Conv1D", kernel=1, optional=True)
        if dense is not None:
            plan.dense.append(dense.name)
            total = next((a.name for a in graph.readers[dense.name] if a.kind == "Add"
                          and set(a.inputs) == {total, dense.name}), "")
            if not total:
                graph.fail(f"the skip connection {dense.name!r} is not added to the others")
    crop = graph.reader(total, "Cropping1D")
    plan.crop = tuple(crop.config["cropping"])  # type: ignore[assignment]
    head = graph.reader(crop.name, "Conv1D", kernel=1)
    if head.name != graph.outputs[0] or head.config.get("activation") != "softmax":
        graph.fail(f"the output {graph.outputs[0]!r} is not a softmax 1x1 convolution after the crop")
    plan.head = head.name
    return plan


def _check_plan(plan: SpliceAIPlan, graph: KerasGraph) -> int:
    """The context of a plan that has SpliceAI's published shape (else ``InputError``)."""
    context = sum(2 * d * (k - 1) for k, d in plan.kernels)
    if SPLICEAI_UNITS.get(context) != plan.kernels:
        graph.fail(f"residual units (kernel, dilation) {plan.kernels} are none of SpliceAI-80/400/2k/10k")
    groups = -(-len(plan.kernels) // GROUP_SIZE)
    if len(plan.dense) != groups:
        graph.fail(f"{len(plan.dense)} skip connections after {len(plan.kernels)} units, expected {groups}")
    if plan.crop != (context // 2, context // 2):
        graph.fail(f"cropping {list(plan.crop)}, expected [{context // 2}, {context // 2}]")
    if len(plan.eps) != 1:
        graph.fail(f"batch norms with different epsilons {sorted(plan.eps)}")
    return context


def _keras_weights(handle: Any, layer: str, expected: dict[str, tuple[int, ...]],
                   file: str) -> dict[str, np.ndarray]:
    """The weights of one layer by short name (``kernel``, ``gamma``, ...), checked against ``expected``."""
    root = handle["model_weights"] if "model_weights" in handle else handle
    shapes = ", ".join(f"{k} {v}" for k, v in expected.items())
    if layer not in root:
        raise InputError(f"layer {layer!r} has no weights in the file (expected {shapes})", file=file)
    group = root[layer]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
    found = {n.split("/")[-1].split(":")[0]: n for n in names}
    out: dict[str, np.ndarray] = {}
    for short, shape in expected.items():
        if short not in found:
            raise InputError(f"layer {layer!r} has no {short!r} weight (expected {shapes})", file=file)
        try:
            value = np.asarray(group[found[short]], dtype=np.float32)
        except (KeyError, OSError) as exc:
            raise InputError(f"layer {layer!r}: cannot read {short!r} ({exc})", file=file) from None
        if value.shape != shape:
            raise InputError(f"layer {layer!r}: {short} has shape {value.shape}, expected {shape}", file=file)
        out[short] = value
    return out


def _copy_conv(handle: Any, layer: str, conv: nn.Module, file: str) -> None:
    out_c, in_c, k = conv.weight.shape
    w = _keras_weights(handle, layer, {"kernel": (k, in_c, out_c), "bias": (out_c,)}, file)
    conv.weight.data.copy_(torch.from_numpy(w["kernel"].transpose(2, 1, 0).copy()))
    conv.bias.data.copy_(torch.from_numpy(w["bias"]))


def _copy_norm(handle: Any, layer: str, norm: nn.Module, file: str) -> None:
    c = (norm.num_features,)
    w = _keras_weights(handle, layer, {"gamma": c, "beta": c, "moving_mean": c, "moving_variance": c}, file)
    norm.weight.data.copy_(torch.from_numpy(w["gamma"]))
    norm.bias.data.copy_(torch.from_numpy(w["beta"]))
    norm.running_mean.copy_(torch.from_numpy(w["moving_mean"]))
    norm.running_var.copy_(torch.from_numpy(w["moving_variance"]))


def _open_h5(source: str | Path | tuple[str, bytes]) -> tuple[Any, str]:
    """An open h5py File and its name for messages; ``source`` is a path or (name, file bytes)."""
    import h5py  # imported here: every registry lookup imports this module, few convert anything

    name = source[0] if isinstance(source, tuple) else str(source)
    if not isinstance(source, tuple) and not Path(source).is_file():
        raise InputError("no such file", file=name)
    try:
        return h5py.File(io.BytesIO(source[1]) if isinstance(source, tuple) else name, "r"), name
    except OSError as exc:
        reason = str(exc).split("(")[-1].rstrip(")") if "(" in str(exc) else str(exc)
        raise InputError(f"not a readable HDF5 file ({reason})", file=name) from None


def spliceai_from_keras(source: str | Path | tuple[str, bytes]) -> SpliceAI:
    """One released SpliceAI Keras model as a seqcnn ``spliceai`` network.

    Parameters
    ----------
    source
        A Keras HDF5 file (``spliceai1.h5``), or ``(name, bytes)`` of one.

    Returns
    -------
    SpliceAI
        In eval mode: ``(N, 4, L) -> (N, 3, L - context)`` log-probabilities; ``softmax`` over dim 1
        equals the Keras model's output (channels last) transposed.

    Raises
    ------
    InputError
        Not an HDF5 file or truncated, no model config, another architecture, a missing layer or weight,
        or a shape that does not fit (naming the layer and both shapes).
    """
    handle, name = _open_h5(source)
    with handle:
        raw = handle.attrs.get("model_config")
        if raw is None:
            raise InputError("no Keras model config in the file (saved with save_weights?)", file=name)
        try:
            graph = KerasGraph(json.loads(raw.decode() if isinstance(raw, bytes) else raw), name)
            plan = spliceai_plan(graph)
            context = _check_plan(plan, graph)
        except (KeyError, IndexError, TypeError, ValueError) as exc:  # a config of some other shape
            raise InputError(f"not a SpliceAI model: unexpected Keras config ({type(exc).__name__}: "
                             f"{str(exc)[:100]})", file=name) from None
        channels = int(graph.layers[plan.stem].config["filters"])
        n_tasks = int(graph.layers[plan.head].config["filters"])
        in_channels = _input_channels(graph)
        model = build_model("spliceai", context=context, channels=channels, n_tasks=n_tasks,
                            in_channels=in_channels, eps=plan.eps.pop())
        _copy_all(handle, plan, model, name)
    return model.eval()  # type: ignore[return-value]


def _input_channels(graph: KerasGraph) -> int:
    shape = graph.layers[graph.inputs[0]].config.get("batch_input_shape") or [None, None, 4]
    return int(shape[-1])


def _copy_all(handle: Any, plan: SpliceAIPlan, model: nn.Module, file: str) -> None:
    """Every weight of ``plan`` into ``model`` (built for it)."""
    tower = model.body[1]
    _copy_conv(handle, plan.stem, model.body[0].conv, file)
    _copy_conv(handle, plan.skip, tower.skip, file)
    units = [unit for group in tower.groups for unit in group]
    for unit, (bn1, conv1, bn2, conv2) in zip(units, plan.units, strict=True):
        _copy_norm(handle, bn1, unit.norm1, file)
        _copy_conv(handle, conv1, unit.conv1, file)
        _copy_norm(handle, bn2, unit.norm2, file)
        _copy_conv(handle, conv2, unit.conv2, file)
    for dense, layer in zip(tower.dense, plan.dense, strict=True):
        _copy_conv(handle, layer, dense, file)
    _copy_conv(handle, plan.head, model.head[0].conv, file)


def _wheel_sources(path: Path) -> tuple[list[tuple[str, bytes]], str | None]:
    """The model files inside a spliceai wheel (or zip) and its version (None when it names none)."""
    try:
        with zipfile.ZipFile(path) as wheel:
            names = sorted((n for n in wheel.namelist() if _WHEEL_MODELS.match(n)), key=_model_number)
            sources = [(f"{path.name}:{n}", wheel.read(n)) for n in names]
            meta = next((n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")), None)
            text = wheel.read(meta).decode("utf-8", "replace") if meta else ""
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"not a readable wheel or zip file ({exc})", file=str(path)) from None
    if not sources:
        raise InputError("no spliceai/models/spliceai*.h5 files in this archive", file=str(path))
    version = re.search(r"^Version:\s*(\S+)", text, re.MULTILINE)
    return sources, version.group(1) if version else None


def _model_number(name: str) -> int:
    return int(re.sub(r"\D", "", Path(name).stem) or 0)


def import_spliceai(sources: list[str | Path], *, version: str | None = None) -> ImportedModel:
    """The released SpliceAI models as one seqcnn model: one network, or the ensemble of several.

    Parameters
    ----------
    sources
        Keras HDF5 files (``spliceai1.h5`` ... ``spliceai5.h5``), or one ``spliceai`` wheel / zip from
        the package registry (its ``spliceai/models/*.h5`` are read; its version is recorded).
    version
        The spliceai package version to record (default: the wheel's, else ``unknown``).

    Returns
    -------
    ImportedModel
        ``spliceai`` with ``n_models`` = the number of files: ``(N, 4, L) -> (N, 3, L - context)``
        log-probabilities of neither/acceptor/donor (the ensemble: log of the members' mean
        probability); ``source`` names the package, version, licence and each file's sha256.

    Raises
    ------
    ConfigError
        No sources, or models of different contexts.
    InputError
        A file that is not a released SpliceAI model (see :func:`spliceai_from_keras`).
    """
    if not sources:
        raise ConfigError("give the SpliceAI .h5 files (or the spliceai wheel) to import")
    items: list[str | Path | tuple[str, bytes]] = []
    for src in sources:
        if Path(src).suffix.lower() in (".whl", ".zip"):
            found, wheel_version = _wheel_sources(Path(src))
            items += found
            version = version or wheel_version
        else:
            items.append(src)
    members = [spliceai_from_keras(item) for item in items]
    kwargs = _common_kwargs(members, [str(i[0] if isinstance(i, tuple) else i) for i in items])
    model = members[0] if len(members) == 1 else build_model("spliceai", **kwargs, n_models=len(members))
    if len(members) > 1:
        for slot, member in zip(model.members, members, strict=True):
            slot.load_state_dict(member.state_dict())
    files = [{"name": Path(str(i[0] if isinstance(i, tuple) else i)).name, "sha256": file_sha256(i)}
             for i in items]
    source = {**SPLICEAI_SOURCE, "version": version or "unknown", "files": files}
    return ImportedModel(model.eval(), "spliceai", {**kwargs, "n_models": len(members)}, list(SPLICEAI_TASKS),
                         "multiclass", source)


def _common_kwargs(members: list[SpliceAI], names: list[str]) -> dict[str, Any]:
    """The builder arguments all members share (``ConfigError`` when they differ)."""
    shapes = [(m.context, m.body[0].conv.out_channels, m.head[0].conv.out_channels,
               m.body[0].conv.in_channels, m.body[1].groups[0][0].norm1.eps) for m in members]
    if len(set(shapes)) != 1:
        raise ConfigError(f"the models differ in (context, channels, classes, inputs, eps): "
                          f"{dict(zip(names, shapes, strict=True))}")
    context, channels, n_tasks, in_channels, eps = shapes[0]
    return {"context": context, "channels": channels, "n_tasks": n_tasks, "in_channels": in_channels,
            "eps": eps}
