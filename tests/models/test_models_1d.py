"""The 1D model zoo: paper defaults, parameter counts by hand, causality, BPNet heads, first-layer access."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqcnn.errors import ConfigError, InputError
from seqcnn.layers.activations import Exp
from seqcnn.layers.heads import GlobalPool
from seqcnn.models.bpnet import BPNetScalar
from seqcnn.models.registry import build_model, get_spec, list_models

ONE_D = ["basset", "bpnet", "deepbind", "deepsea", "koo_cnn", "wavenet"]


def meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return build_model(name, **kwargs)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registered_1d_models() -> None:
    assert set(ONE_D) <= set(list_models(dims=1))


def test_deepsea_parameter_count_by_hand() -> None:
    conv1 = 4 * 8 * 320 + 320
    conv2 = 320 * 8 * 480 + 480
    conv3 = 480 * 8 * 960 + 960
    # 1000 -conv8-> 993 -pool4-> 248 -conv8-> 241 -pool4-> 60 -conv8-> 53 positions x 960 channels
    dense = 960 * 53 * 925 + 925
    out = 925 * 919 + 919
    assert n_params(meta("deepsea")) == conv1 + conv2 + conv3 + dense + out == 52_843_119


def test_basset_parameter_count_by_hand() -> None:
    # convolutions have no bias (batch norm follows); each batch norm has weight + bias
    conv = 4 * 19 * 300 + 300 * 11 * 200 + 200 * 7 * 200
    conv_bn = 2 * (300 + 200 + 200)
    # 600 -19-> 582 -pool3-> 194 -11-> 184 -pool4-> 46 -7-> 40 -pool4-> 10: 200 x 10 = 2000 features
    dense = (2000 * 1000 + 1000) + (1000 * 1000 + 1000) + (1000 * 164 + 164)
    dense_bn = 2 * (1000 + 1000)
    assert n_params(meta("basset")) == conv + conv_bn + dense + dense_bn == 4_134_364


def test_paper_defaults() -> None:
    deepsea = meta("deepsea")
    assert [b.conv.out_channels for b in deepsea.body] == [320, 480, 960]
    assert [b.conv.kernel_size[0] for b in deepsea.body] == [8, 8, 8]
    assert [b.drop.p for b in deepsea.body] == [0.2, 0.2, 0.5]
    assert [b.pool.kernel_size for b in deepsea.body if hasattr(b, "pool")] == [4, 4]
    assert deepsea.input_length == 1000 and deepsea.head[-1].out_features == 919
    assert deepsea.head[1].out_features == 925

    basset = meta("basset")
    assert [b.conv.kernel_size[0] for b in basset.body] == [19, 11, 7]
    assert [b.pool.kernel_size for b in basset.body] == [3, 4, 4]
    assert all(isinstance(b.norm, nn.BatchNorm1d) for b in basset.body)
    assert basset.input_length == 600 and basset.head[-1].out_features == 164

    deepbind = meta("deepbind")
    assert deepbind.body[0].conv.out_channels == 16 and deepbind.body[0].conv.kernel_size == (24,)
    assert deepbind.input_length is None and deepbind.head[1][0].out_features == 32

    koo = meta("koo_cnn")
    assert (koo.body[0].conv.out_channels, koo.body[0].conv.kernel_size) == (30, (19,))
    assert (koo.body[1].conv.out_channels, koo.body[1].conv.kernel_size) == (128, (5,))
    assert koo.head[1].out_features == 512

    bpnet = meta("bpnet")
    assert bpnet.body[0].conv.out_channels == 64 and bpnet.body[0].conv.kernel_size == (21,)
    assert bpnet.body[1].dilations == [2, 4, 8, 16, 32, 64, 128, 256]


@pytest.mark.parametrize("n", [2, 4, 25])
def test_koo_cnn_second_pool_adapts(n: int) -> None:
    model = meta("koo_cnn", pool1=n)
    assert model.body[1].pool.kernel_size == 100 // n  # CNN-N: total pooling 100 at 200 nt
    assert model.output_length(200) == 2
    assert meta("koo_cnn", pool1=n, input_length=1000).output_length(1000) == 2


def test_koo_cnn_exponential_first_layer() -> None:
    model = build_model("koo_cnn", first_activation="exp", **get_spec("koo_cnn").small)
    assert isinstance(model.body[0].act, Exp)


@pytest.mark.parametrize("name", ONE_D)
def test_first_conv_sees_the_input(name: str) -> None:
    spec = get_spec(name)
    model = build_model(name, **spec.small).eval()
    first = next(m for m in model.modules() if isinstance(m, nn.Conv1d))
    assert first is model.body[0].conv and first.in_channels == spec.example_input[0]
    called: list[nn.Module] = []
    for m in model.modules():
        if isinstance(m, nn.Conv1d):
            m.register_forward_hook(lambda mod, args, out: called.append(mod))
    x = torch.randn(1, *spec.example_input)
    seen: list[torch.Tensor] = []
    first.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    model(x)
    assert called[0] is first
    assert torch.equal(seen[0][..., -x.shape[-1]:], x)  # the input itself (causal: after zero padding)


@pytest.mark.parametrize("name", ONE_D)
def test_logits_not_probabilities(name: str) -> None:
    spec = get_spec(name)
    model = build_model(name, **spec.small).eval()
    last = [m for m in model.head.modules() if not list(m.children())][-1]
    assert isinstance(last, nn.Linear | nn.Conv1d)


def test_wavenet_is_causal() -> None:
    torch.manual_seed(0)
    spec = get_spec("wavenet")
    model = build_model("wavenet", head="position", n_tasks=2, **spec.small).eval()
    x = torch.randn(1, 4, 40)
    with torch.no_grad():
        base = model(x)
        assert base.shape == (1, 2, 40)
        for t in (0, 7, 25, 38):
            y = x.clone()
            y[..., t + 1:] = torch.randn(1, 4, 39 - t)
            out = model(y)
            assert torch.equal(out[..., : t + 1], base[..., : t + 1])
            z = x.clone()
            z[..., t] += 1.0
            assert not torch.allclose(model(z)[..., t], base[..., t])


def test_wavenet_bad_head() -> None:
    with pytest.raises(ConfigError, match="head"):
        build_model("wavenet", head="dense")


def test_bpnet_outputs_and_cropping() -> None:
    torch.manual_seed(0)
    spec = get_spec("bpnet")
    model = build_model("bpnet", **spec.small).eval()
    rf = model.receptive_field  # 3 + 2 * (2 + 4) + 2 = 17
    assert rf == 17
    out = model(torch.randn(3, 4, 40))
    assert out["profile"].shape == (3, 2, 40 - rf + 1) and out["counts"].shape == (3, 2)
    assert meta("bpnet").output_length(2114) == 1000
    with pytest.raises(RuntimeError):
        model(torch.randn(1, 4, rf - 1))


def test_bpnet_scalar_wrapper() -> None:
    torch.manual_seed(0)
    model = build_model("bpnet", **get_spec("bpnet").small).eval()
    x = torch.randn(2, 4, 30, requires_grad=True)
    out = model(x)
    scalar = BPNetScalar(model)(x)
    expected = (torch.softmax(out["profile"], -1) * out["profile"]).sum(-1)
    assert scalar.shape == (2, 2) and torch.allclose(scalar, expected)
    assert torch.allclose(BPNetScalar(model, "counts")(x), out["counts"])
    scalar[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        BPNetScalar(model, "shape")


def test_deepbind_any_length_and_pooling() -> None:
    model = build_model("deepbind", pool="maxavg", hidden=0, n_tasks=3).eval()
    for length in (24, 101, 500):
        assert model(torch.randn(2, 4, length)).shape == (2, 3)
    assert isinstance(model.head[0], GlobalPool) and model.head[1][0].in_features == 32


def test_fixed_length_models_reject_other_lengths() -> None:
    model = build_model("deepsea", **get_spec("deepsea").small)
    with pytest.raises(InputError, match="40"):
        model(torch.randn(1, 4, 41))
    with pytest.raises(ConfigError, match="too small"):
        build_model("deepsea", input_length=50)
    with pytest.raises(ConfigError, match="unknown activation"):
        build_model("basset", activation="swish2")
