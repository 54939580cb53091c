"""Layer library: ConvBlock options, blocks against hand-computed shapes, parameter counts and outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqcnn.errors import InputError
from seqcnn.layers.activations import Exp, make_activation
from seqcnn.layers.conv import ChannelLayerNorm, ConvBlock, UpConv, conv_stack
from seqcnn.layers.dilated import Crop, DilatedResidualTower, WaveNetBlock, WaveNetStack, wavenet_dilations
from seqcnn.layers.heads import DenseHead, GlobalPool, feature_shape
from seqcnn.layers.modules import Inception, SeparableConv, SqueezeExcitation
from seqcnn.layers.network import Network
from seqcnn.layers.residual import BottleneckBlock, ResidualBlock


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- ConvBlock -------------------------------------------------------------------------------------

def test_conv_block_children_in_order() -> None:
    block = ConvBlock(4, 8, 5, norm="batch", activation="relu", pool="max", pool_size=3, dropout=0.1)
    assert [name for name, _ in block.named_children()] == ["conv", "norm", "act", "pool", "drop"]
    assert type(block.conv) is nn.Conv1d and block.conv.bias is None  # no bias before batch norm
    assert ConvBlock(4, 8, 5).conv.bias is not None
    assert [name for name, _ in ConvBlock(4, 8, 2, padding="causal", activation=None).named_children()] == [
        "pad", "conv"]


@pytest.mark.parametrize("kernel", [1, 2, 3, 8, 24])
@pytest.mark.parametrize("dilation", [1, 2, 3])
@pytest.mark.parametrize("padding", ["same", "valid", "causal"])
def test_conv_block_lengths(kernel: int, dilation: int, padding: str) -> None:
    block = ConvBlock(2, 3, kernel, dilation=dilation, padding=padding)
    length = 80
    expected = length - dilation * (kernel - 1) if padding == "valid" else length
    assert block(torch.randn(1, 2, length)).shape == (1, 3, expected)


@pytest.mark.parametrize("kernel", [2, 3, 4])
def test_same_padding_with_stride_keeps_ceil_length(kernel: int) -> None:
    for length in (15, 16):
        out = ConvBlock(1, 1, kernel, stride=2)(torch.randn(1, 1, length))
        assert out.shape[-1] == -(-length // 2)
    assert ConvBlock(1, 1, kernel, dims=2, stride=2)(torch.randn(1, 1, 9, 10)).shape == (1, 1, 5, 5)


def test_causal_block_ignores_the_future() -> None:
    torch.manual_seed(0)
    block = ConvBlock(2, 2, 3, dilation=2, padding="causal")
    x = torch.randn(1, 2, 30)
    y = x.clone()
    y[..., 20:] += 5.0
    assert torch.equal(block(x)[..., :20], block(y)[..., :20])
    assert not torch.allclose(block(x)[..., 20], block(y)[..., 20])


def test_causal_padding_is_1d_only() -> None:
    with pytest.raises(ValueError, match="causal"):
        ConvBlock(1, 1, 3, dims=2, padding="causal")


@pytest.mark.parametrize("name", ["relu", "gelu", "elu", "leaky_relu", "softplus", "sigmoid", "tanh", "exp"])
def test_activations_by_name(name: str) -> None:
    x = torch.linspace(-3, 3, 13)
    expected = {"relu": torch.relu, "gelu": nn.functional.gelu, "elu": nn.functional.elu,
                "leaky_relu": nn.functional.leaky_relu, "softplus": nn.functional.softplus,
                "sigmoid": torch.sigmoid, "tanh": torch.tanh, "exp": torch.exp}[name]
    assert torch.allclose(make_activation(name)(x), expected(x))


def test_activation_by_class_instance_or_none() -> None:
    assert isinstance(make_activation(nn.SiLU), nn.SiLU)
    act = nn.LeakyReLU(0.3)
    assert make_activation(act) is act
    assert make_activation(None) is None and make_activation("none") is None
    assert isinstance(ConvBlock(1, 1, 3, activation="exp").act, Exp)
    assert not hasattr(ConvBlock(1, 1, 3, activation=None), "act")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"activation": "swishy"}, "activation"), ({"norm": "group"}, "norm"), ({"pool": "min"}, "pool"),
    ({"padding": "full"}, "padding"), ({"dims": 3}, "dims"), ({"kernel_size": (3, 3)}, "kernel_size"),
])
def test_bad_options_raise(kwargs: dict, match: str) -> None:
    args = {"in_channels": 1, "out_channels": 1, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        ConvBlock(**args)


def test_layer_norm_normalises_channels_per_position() -> None:
    x = torch.randn(2, 6, 7) * 5 + 3
    y = ChannelLayerNorm(6)(x)
    assert torch.allclose(y.mean(1), torch.zeros(2, 7), atol=1e-5)
    assert torch.allclose(y.var(1, unbiased=False), torch.ones(2, 7), atol=1e-3)
    assert isinstance(ConvBlock(6, 6, 1, dims=2, norm="layer").norm, ChannelLayerNorm)


def test_pool_in_block_by_hand() -> None:
    block = ConvBlock(1, 1, 1, activation=None, pool="avg", pool_size=3, pool_stride=2, bias=False)
    nn.init.ones_(block.conv.weight)
    x = torch.arange(9.0).view(1, 1, 9)
    assert block(x).flatten().tolist() == [1.0, 3.0, 5.0, 7.0]


def test_conv_stack() -> None:
    stack = conv_stack(4, [8, 6], [5, 3], pool_sizes=[2, None], dropouts=[0.1, 0.0], padding="valid")
    assert [type(b.pool).__name__ if hasattr(b, "pool") else None for b in stack] == ["MaxPool1d", None]
    assert stack(torch.randn(1, 4, 30)).shape == (1, 6, 11)  # 30 -> 26 -> 13 -> 11
    with pytest.raises(ValueError, match="one kernel size"):
        conv_stack(4, [8, 6], [5])


# -- heads -----------------------------------------------------------------------------------------

def test_global_pool_values() -> None:
    x = torch.tensor([[[1.0, 5.0, 3.0], [-1.0, -2.0, 0.0]]])
    assert GlobalPool("max")(x).tolist() == [[5.0, 0.0]]
    assert GlobalPool("avg")(x).tolist() == [[3.0, -1.0]]
    assert GlobalPool("maxavg")(x).tolist() == [[5.0, 0.0, 3.0, -1.0]]
    assert GlobalPool("avg", dims=2)(torch.ones(2, 3, 4, 5)).shape == (2, 3)
    with pytest.raises(ValueError):
        GlobalPool("median")


def test_dense_head_layers_and_sizes() -> None:
    head = DenseHead((6, 5), 3, hidden=(10, 7), norm="batch", dropout=0.3, input_dropout=0.1)
    kinds = [type(m).__name__ for m in head]
    hidden = ["Linear", "BatchNorm1d", "ReLU", "Dropout"]
    assert kinds == ["Flatten", "Dropout", *hidden, *hidden, "Linear"]
    assert head[2].in_features == 30
    assert head(torch.randn(4, 6, 5)).shape == (4, 3)
    with pytest.raises(ValueError, match="no features"):
        DenseHead((6, 0), 3)


def test_feature_shape_matches_a_real_forward() -> None:
    body = nn.Sequential(ConvBlock(4, 8, 7, padding="valid", pool="max", pool_size=4, norm="batch"),
                         ConvBlock(8, 5, 3, stride=2))
    assert feature_shape(body, (4, 101)) == tuple(body(torch.randn(2, 4, 101)).shape[1:]) == (5, 12)
    assert all(not p.is_meta for p in body.parameters())
    with pytest.raises(ValueError, match="too small"):
        feature_shape(body, (4, 5))


def test_network_infers_head_and_checks_input() -> None:
    body = nn.Sequential(ConvBlock(4, 8, 5, padding="valid", pool="max", pool_size=2))
    net = Network.with_dense_head(body, 3, in_channels=4, input_size=41, hidden=(6,))
    assert net.head[1].in_features == 8 * 18  # (41 - 4) // 2 = 18 positions
    assert net(torch.randn(2, 4, 41)).shape == (2, 3)
    assert net.input_length == 41 and net.output_length(41) == 18 and net.receptive_field == 6
    with pytest.raises(InputError, match="41"):
        net(torch.randn(2, 4, 40))
    with pytest.raises(InputError, match="3-d"):
        net(torch.randn(4, 41))
    with pytest.raises(ValueError):
        Network.with_dense_head(body, 3, in_channels=4, input_size=4)


# -- residual, inception, separable, squeeze-excitation, upsampling --------------------------------

def test_residual_parameter_counts_match_resnet() -> None:
    # torchvision's ResNet-18 layer1 block: two 3x3 convolutions of 64 channels + their batch norms
    assert n_params(ResidualBlock(64, 64, dims=2)) == 2 * (64 * 64 * 9) + 2 * (2 * 64)
    # layer2's first block: 64 -> 128, stride 2, 1x1 projection shortcut with batch norm
    assert n_params(ResidualBlock(64, 128, stride=2, dims=2)) == (
        64 * 128 * 9 + 128 * 128 * 9 + 64 * 128 + 3 * 2 * 128)
    # ResNet-50 layer1 second bottleneck: 256 -> 64 -> 64 -> 256
    bottleneck = BottleneckBlock(256, 64, dims=2)
    assert n_params(bottleneck) == 256 * 64 + 64 * 64 * 9 + 64 * 256 + 2 * (64 + 64 + 256)


def test_residual_shapes_and_identity() -> None:
    block = ResidualBlock(8, 16, stride=2, dims=2)
    assert block(torch.randn(2, 8, 9, 9)).shape == (2, 16, 5, 5)
    assert isinstance(ResidualBlock(8, 8).shortcut, nn.Identity)
    bottleneck = BottleneckBlock(16, 4, stride=2, se_reduction=4)
    assert bottleneck(torch.randn(2, 16, 20)).shape == (2, 16, 10)
    assert isinstance(bottleneck.se, SqueezeExcitation)


def test_residual_block_adds_its_input() -> None:
    block = ResidualBlock(3, 3, norm=None, activation=None).eval()
    for p in block.branch[-1].parameters():
        nn.init.zeros_(p)
    x = torch.randn(2, 3, 11)
    assert torch.equal(block(x), x)


def test_squeeze_excitation_gates() -> None:
    se = SqueezeExcitation(8, reduction=4, dims=2)
    assert se.fc1.out_features == 2
    nn.init.zeros_(se.fc2.weight)
    nn.init.zeros_(se.fc2.bias)
    x = torch.randn(2, 8, 3, 3)
    assert torch.allclose(se(x), x * 0.5)


def test_inception_googlenet_3a() -> None:
    block = Inception(192, 64, 96, 128, 16, 32, 32, dims=2)
    assert block.out_channels == 256
    assert block(torch.randn(1, 192, 7, 7)).shape == (1, 256, 7, 7)
    by_hand = (192 * 64 + 64) + (192 * 96 + 96) + (96 * 128 * 9 + 128) + (192 * 16 + 16) \
        + (16 * 32 * 25 + 32) + (192 * 32 + 32)
    assert n_params(block) == by_hand


def test_separable_conv() -> None:
    block = SeparableConv(32, 64, dims=2, stride=2)
    assert block.depthwise.conv.groups == 32
    assert n_params(block) == 32 * 9 + 2 * 32 + 32 * 64 + 2 * 64
    assert block(torch.randn(1, 32, 8, 8)).shape == (1, 64, 4, 4)


@pytest.mark.parametrize(("scale", "kernel"), [(2, None), (2, 4), (3, 5)])
def test_upconv_scales_exactly(scale: int, kernel: int | None) -> None:
    assert UpConv(4, 2, scale=scale, kernel_size=kernel)(torch.randn(1, 4, 7)).shape == (1, 2, 7 * scale)
    assert UpConv(4, 2, dims=2, scale=scale)(torch.randn(1, 4, 3, 5)).shape == (1, 2, 3 * scale, 5 * scale)
    with pytest.raises(ValueError):
        UpConv(4, 2, scale=2, kernel_size=3)


# -- dilated stacks ----------------------------------------------------------------------------------

def test_wavenet_block_by_hand() -> None:
    torch.manual_seed(0)
    block = WaveNetBlock(3, 5, dilation=2, gate_channels=4)
    x = torch.randn(2, 3, 12)
    pre = nn.functional.conv1d(nn.functional.pad(x, (2, 0)), block.conv.conv.weight, block.conv.conv.bias,
                               dilation=2)
    z = torch.tanh(pre[:, :4]) * torch.sigmoid(pre[:, 4:])
    out, skip = block(x)
    assert torch.allclose(out, x + block.residual(z), atol=1e-6)
    assert torch.allclose(skip, block.skip(z), atol=1e-6)


def test_wavenet_stack_sums_skips() -> None:
    assert wavenet_dilations(2, 8) == [1, 2, 4, 8, 1, 2, 4, 8]
    stack = WaveNetStack(3, 5, dilations=[1, 2, 4])
    assert stack.blocks[-1].residual is None  # its residual output would be unused
    x = torch.randn(1, 3, 10)
    total, h = 0, x
    for block in stack.blocks:
        h_next, skip = block(h)
        total = total + skip
        h = h_next if h_next is not None else h
    assert torch.allclose(stack(x), total)


def test_dilated_residual_tower_by_hand() -> None:
    tower = DilatedResidualTower(3, 3)
    assert tower.dilations == [2, 4, 8]
    x = torch.randn(1, 3, 40)
    h = x
    for layer, d in zip(tower.layers, tower.dilations, strict=True):
        h = h[..., d: h.shape[-1] - d] + layer(h)  # kernel 3, dilation d: d lost per side
    assert torch.allclose(tower(x), h)
    assert tower(x).shape[-1] == 40 - 2 * (2 + 4 + 8)
    assert DilatedResidualTower(3, 2, padding="same")(x).shape == x.shape


def test_crop() -> None:
    assert Crop(2, 3)(torch.arange(10.0).view(1, 1, 10)).flatten().tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
