"""Receptive-field and output-length arithmetic against real forward passes and input gradients."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from torch import nn

from seqcnn.layers import receptive as R
from seqcnn.layers.conv import ConvBlock
from seqcnn.layers.dilated import DilatedResidualTower, WaveNetStack
from seqcnn.layers.heads import GlobalPool
from seqcnn.layers.modules import Inception, SqueezeExcitation
from seqcnn.layers.residual import BottleneckBlock, ResidualBlock
from seqcnn.models.registry import build_model, get_spec, list_models


def smooth(model: nn.Module) -> nn.Module:
    """Copy of ``model`` in eval mode and double precision whose gradients vanish nowhere by accident.

    Same geometry: ReLU-like activations become softplus, max pools become average pools of the same
    window, global max pools become global averages (max+avg keeps its average half). What is left is
    the structural dependency.
    """
    model = copy.deepcopy(model).double().eval()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU | nn.LeakyReLU):
                setattr(parent, name, nn.Softplus())
            elif isinstance(child, nn.MaxPool1d | nn.MaxPool2d):
                cls = nn.AvgPool1d if isinstance(child, nn.MaxPool1d) else nn.AvgPool2d
                setattr(parent, name, cls(child.kernel_size, child.stride, child.padding, child.ceil_mode))
            elif isinstance(child, GlobalPool) and child.kind == "max":
                child.kind = "avg"
    return model


def grad_span(fn, x: torch.Tensor, index: tuple) -> tuple[int, int]:
    """Half-open range of positions (last axis) where d sum(fn(x)[index]) / dx is non-zero."""
    x = x.clone().requires_grad_(True)
    out = fn(x)
    out = out["profile"] if isinstance(out, dict) else out
    out[index].sum().backward()
    hit = (x.grad.abs().flatten(0, -2).sum(0) > 0).nonzero().flatten()
    return int(hit[0]), int(hit[-1]) + 1


# -- output length: arithmetic vs torch -------------------------------------------------------------

LAYERS_1D = [
    nn.Conv1d(2, 2, 5, stride=3, padding=2, dilation=2),
    nn.Conv1d(2, 2, 4, padding="same", dilation=3),
    nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True),
    nn.MaxPool1d(4, ceil_mode=True),
    nn.AvgPool1d(5, stride=3, ceil_mode=True, padding=2),
    nn.ConvTranspose1d(2, 2, 4, stride=2, padding=1, output_padding=1),
    nn.ConstantPad1d((3, 1), 0.0),
    ConvBlock(2, 2, 6, stride=2, padding="same"),
    ConvBlock(2, 2, 3, dilation=4, padding="causal", pool="avg", pool_size=3),
]


@pytest.mark.parametrize("layer", LAYERS_1D, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("length", [7, 16, 33, 64])
def test_output_length_matches_torch(layer: nn.Module, length: int) -> None:
    out = layer(torch.zeros(1, 2, length))
    assert R.output_length(layer, length) == out.shape[-1]


def test_output_length_too_short_raises() -> None:
    with pytest.raises(ValueError, match="shorter"):
        R.output_length(nn.Conv1d(1, 1, 9), 5)


def test_generalised_formula_by_hand() -> None:
    # W' = (W + 2P - D(K-1) - 1) / S + 1 = (100 + 4 - 3*6 - 1) / 2 + 1 = 43
    assert R.output_length(nn.Conv1d(1, 1, 7, stride=2, padding=2, dilation=3), 100) == 43


# -- receptive field: hand values and gradients ----------------------------------------------------

def test_receptive_field_by_hand() -> None:
    # conv 3 (rf 3) -> pool 2 (rf 4, jump 2) -> conv 3 (rf 4 + 2*2 = 8) -> conv 3 dil 2 (8 + 2*2*2 = 16)
    stack = nn.Sequential(nn.Conv1d(1, 1, 3), nn.MaxPool1d(2), nn.Conv1d(1, 1, 3),
                          nn.Conv1d(1, 1, 3, dilation=2))
    assert R.receptive_field(stack) == 16
    assert R.input_span(stack, 40, position=3) == (6, 22)  # start 3 * jump 2 = 6


def test_global_reduction_needs_length_and_covers_used_positions() -> None:
    net = nn.Sequential(nn.Conv1d(1, 1, 4), nn.MaxPool1d(3), nn.Flatten(), nn.Linear(5, 1))
    assert R.receptive_field(net) == 4 + 2  # the map entering the flatten
    assert R.positional_length(net, 17) == 4 and R.output_length(net, 17) == 1
    # 17 -> 14 conv positions -> 4 pooled (12 used conv positions) -> inputs 0..14
    assert R.input_span(net, 17) == (0, 15)


BLOCKS = [
    ConvBlock(2, 2, 5, dilation=3, padding="valid", pool="max", pool_size=2),
    ResidualBlock(2, 2),
    ResidualBlock(2, 3, stride=2),
    BottleneckBlock(2, 1, stride=2),
    Inception(2, 1, 1, 1, 1, 1, 1),
    DilatedResidualTower(2, 3),
    DilatedResidualTower(2, 2, padding="same"),
    WaveNetStack(2, 2, dilations=[1, 2, 4, 1, 2]),
    nn.Sequential(ConvBlock(2, 2, 3, stride=2), ConvBlock(2, 2, 5, stride=3),
                  ConvBlock(2, 2, 2, padding="causal")),
]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda m: type(m).__name__)
def test_block_receptive_field_equals_gradient_span(block: nn.Module) -> None:
    torch.manual_seed(0)
    length = 160
    model = smooth(block)
    n_out = R.output_length(block, length)
    assert model(torch.zeros(1, 2, length, dtype=torch.float64)).shape[-1] == n_out
    position = n_out // 2
    span = grad_span(model, torch.randn(1, 2, length, dtype=torch.float64), (0, slice(None), position))
    assert span == R.input_span(block, length, position)
    assert span[1] - span[0] == R.receptive_field(block)


def test_squeeze_excitation_sees_everything() -> None:
    block = ResidualBlock(2, 2, se_reduction=1)
    assert R.input_span(block, 50, position=10) == (0, 50)
    with pytest.raises(ValueError, match="length"):
        R.receptive_field(SqueezeExcitation(4))
    span = grad_span(smooth(block), torch.randn(1, 2, 50, dtype=torch.float64), (0, slice(None), 10))
    assert span == (0, 50)


def test_2d_axes_are_separate() -> None:
    block = ConvBlock(1, 1, (3, 7), dims=2, padding="valid")
    assert R.receptive_field(block, axis=0) == 3 and R.receptive_field(block, axis=1) == 7
    assert R.output_length(nn.ConstantPad2d((1, 2, 3, 4), 0.0), 10, axis=0) == 17


def test_unknown_module_is_refused() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv1d(1, 1, 3)

        def forward(self, x):  # pragma: no cover - never called
            return self.a(x)

    with pytest.raises(ValueError, match="Odd"):
        R.receptive_field(Odd())


# -- every 1D model of the zoo -------------------------------------------------------------------

ONE_D = list_models(dims=1)


def _positional(model: nn.Module) -> bool:
    return not R.node_of(model).prefix()[1]


@pytest.mark.parametrize("name", ONE_D)
def test_model_receptive_field_equals_gradient_span(name: str) -> None:
    """Analytic receptive field == span of input positions with non-zero gradient for one output."""
    torch.manual_seed(0)
    spec = get_spec(name)
    model = build_model(name, **spec.small)
    soft = smooth(model)
    rf = model.receptive_field
    if _positional(model):  # per-position output: one interior output position
        length = max(spec.example_input[-1], 3 * rf)
        x = torch.rand(1, spec.example_input[0], length, dtype=torch.float64)
        position = model.output_length(length) - 1
        first, stop = grad_span(soft, x, (0, slice(None), position))
        assert stop - first == rf
        assert (first, stop) == R.input_span(model, length, position)
    else:  # pooled/dense head: one position of the body's last map, and the task output itself
        assert rf == R.receptive_field(model.body)
        length = 3 * rf + 7
        x = torch.rand(1, spec.example_input[0], length, dtype=torch.float64)
        position = R.output_length(model.body, length) // 2
        first, stop = grad_span(soft.body, x, (0, slice(None), position))
        assert stop - first == rf
        length = spec.example_input[-1]
        x = torch.rand(1, *spec.example_input, dtype=torch.float64)
        assert grad_span(soft, x, (0, slice(None))) == R.input_span(model, length)


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("extra", [0, 5, 13])
def test_model_output_length_matches_forward(name: str, extra: int) -> None:
    spec = get_spec(name)
    model = build_model(name, **spec.small).eval()
    length = (model.input_length or spec.example_input[-1]) + (0 if model.input_length else extra)
    hooked: list[int] = []
    model.head.register_forward_pre_hook(lambda m, args: hooked.append(args[0].shape[-1]))
    with torch.no_grad():
        out = model(torch.zeros(1, spec.example_input[0], length))
    out = out["profile"] if isinstance(out, dict) else out
    expected = out.shape[-1] if _positional(model) else R.output_length(model.body, length)
    assert model.output_length(length) == expected
    if not _positional(model):
        assert hooked == [expected]


def test_default_receptive_fields_by_hand() -> None:
    with torch.device("meta"):
        models = {name: build_model(name) for name in ("deepbind", "deepsea", "wavenet", "bpnet")}
    assert models["deepbind"].receptive_field == 24
    # deepsea: 8 -> pool 4: 11 (jump 4) -> 8: 39 -> pool 4: 51 (jump 16) -> 8: 51 + 7 * 16 = 163
    assert models["deepsea"].receptive_field == 163
    # wavenet: causal conv 2, then 2 blocks of dilations 1..512 with kernel 2: 2 + 2 * 1023
    assert models["wavenet"].receptive_field == 2 + 2 * 1023
    # bpnet: 21 + 2 * (2 + 4 + ... + 256) + 74 = 1115, so 2114 bp give 1000 positions
    assert models["bpnet"].receptive_field == 1115
    assert models["bpnet"].output_length(2114) == 1000
    assert models["deepsea"].output_length(1000) == 53


@pytest.mark.parametrize("combo", list(itertools.product([1, 2], [2, 3])))
def test_2d_conv_block_gradient_span(combo: tuple[int, int]) -> None:
    stride, kernel = combo
    block = ConvBlock(1, 1, kernel, dims=2, stride=stride, padding="valid")
    x = torch.randn(1, 1, 9, 12, dtype=torch.float64)
    span = grad_span(smooth(block), x, (0, 0, 1, 2))  # width axis
    assert span == R.input_span(block, 12, position=2, axis=1)
