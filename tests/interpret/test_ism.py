"""In-silico mutagenesis: the fast engine against one forward pass per mutant, on every registered 1D
model and on hand-built layer combinations; helpers against hand-computed answers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.ism import ISMFallbackWarning, ISMResult, importance, ism, mutation_map, naive_ism
from seqcnn.interpret.ism.engine.conv import Conv, Spectral
from seqcnn.interpret.ism.engine.fast import FastISM
from seqcnn.interpret.ism.engine.plan import plan
from seqcnn.interpret.ism.engine.trace import record
from seqcnn.layers.conv import ChannelLayerNorm
from seqcnn.models.bpnet import BPNetScalar
from seqcnn.models.registry import build_model, get_spec, list_models
from seqcnn.models.spliceai import PositionOutputs


@pytest.mark.parametrize("name", list_models(dims=1))
def test_fast_equals_naive_on_every_registered_1d_model(name: str, random_one_hot, randomize_norms,
                                                        assert_matches_naive) -> None:
    torch.manual_seed(0)
    spec = get_spec(name)
    model = build_model(name, **spec.small)
    if spec.output == "profile":
        model = BPNetScalar(model)
    elif spec.output == "positions":  # per-position (SpliceAI): the class probabilities at the centre
        model = PositionOutputs(model, spec.example_input[-1] // 2)
    model = randomize_norms(model.double())
    x = random_one_hot(3, spec.example_input[-1], n_columns=2)
    result = assert_matches_naive(model, x)
    assert np.abs(result.delta).max() > 0


class GlobalMaxHead(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.amax(-1), x.mean(-1), x.sum(dim=2)], dim=1)


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c, c, 3, padding=2, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.conv(x)) * torch.sigmoid(x) - 0.5


class Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.cat([a * b, torch.nn.functional.pad(a, (2, 1))[..., 1:-2]], dim=1)


ARCHITECTURES = {
    "stride2_same_even": lambda: nn.Sequential(
        nn.Conv1d(4, 6, 4, stride=2, padding=1), nn.ELU(), nn.Conv1d(6, 5, 4, padding="same"), nn.GELU(),
        nn.Flatten(), nn.LazyLinear(3)),
    "pools_with_padding": lambda: nn.Sequential(
        nn.Conv1d(4, 6, 5, padding=2), nn.BatchNorm1d(6), nn.ReLU(), nn.MaxPool1d(3, stride=2, padding=1),
        nn.Conv1d(6, 6, 3), nn.AvgPool1d(2, padding=1), nn.Softplus(), nn.Flatten(), nn.LazyLinear(2)),
    "maxpool_ceil_dilated": lambda: nn.Sequential(
        nn.Conv1d(4, 5, 3, dilation=3), nn.ReLU(), nn.MaxPool1d(3, ceil_mode=True), nn.Conv1d(5, 4, 2),
        nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(4, 2)),
    "global_heads": lambda: nn.Sequential(nn.Conv1d(4, 5, 7, padding=3), nn.Sigmoid(), GlobalMaxHead(),
                                          nn.Linear(15, 3)),
    "residual_gates": lambda: nn.Sequential(
        nn.ConstantPad1d((3, 0), 0.0), nn.Conv1d(4, 6, 4), Residual(6), Gate(), nn.Dropout(0.3),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(6, 2)),
    "layer_norm_materialized": lambda: nn.Sequential(
        nn.Conv1d(4, 6, 5, padding=2), ChannelLayerNorm(6), nn.ReLU(), nn.Conv1d(6, 3, 3), nn.Flatten(),
        nn.LazyLinear(2)),
    "wide_kernels_by_transform": lambda: nn.Sequential(
        # 64 channels: with fewer, the transforms' own cost makes the direct product cheaper
        nn.Conv1d(4, 64, 9, padding=4), nn.Tanh(), nn.Conv1d(64, 64, 11, padding=5), nn.ReLU(),
        nn.Conv1d(64, 64, 7, dilation=2), nn.Flatten(), nn.LazyLinear(2)),
    "grouped_and_pointwise": lambda: nn.Sequential(
        nn.Conv1d(4, 8, 5), nn.LeakyReLU(0.1), nn.Conv1d(8, 8, 3, groups=4), nn.Conv1d(8, 4, 1), nn.SiLU(),
        nn.Flatten(), nn.LazyLinear(1)),
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_fast_equals_naive_on_layer_combinations(name: str, random_one_hot, randomize_norms,
                                                 assert_matches_naive) -> None:
    torch.manual_seed(1)
    model = ARCHITECTURES[name]()
    model(torch.zeros(1, 4, 37))  # materialise lazy layers
    model = randomize_norms(model.double())
    assert_matches_naive(model, random_one_hot(2, 37, seed=3, n_columns=3))


def test_plans_window_every_layer_of_the_zoo_models(random_one_hot) -> None:
    # the registered feed-forward models never fall back to full-length tensors
    for name in ("basset", "deepbind", "deepsea", "koo_cnn", "wavenet"):
        spec = get_spec(name)
        model = build_model(name, **spec.small).eval()
        x = random_one_hot(1, spec.example_input[-1]).float()
        the_plan = plan(record(model, x), 0, x.shape[-1])
        assert the_plan.materialized == [], name
        assert type(the_plan.steps[0]).__name__ in ("FirstConv", "Shift"), name


def test_wide_later_kernels_take_the_transform_path(random_one_hot) -> None:
    model = ARCHITECTURES["wide_kernels_by_transform"]()
    model(torch.zeros(1, 4, 37))
    the_plan = plan(record(model.eval(), random_one_hot(1, 37).float()), 0, 37)
    convs = [s for s in the_plan.steps if isinstance(s, Conv)]
    assert [c.spectral is not None for c in convs] == [True, True]


def test_wide_windows_of_few_channels_take_the_direct_product(random_one_hot) -> None:
    # a dilated tower's late layers: windows hundreds wide, 64 channels; the transforms would cost
    # more than the 3-tap product itself (BPNet ISM went from ~400 to ~1,100 mut/s with this choice)
    model = build_model("bpnet", n_layers=6).eval()
    length = 21 - 1 + 2 * (2 + 4 + 8 + 16 + 32 + 64) + 75
    the_plan = plan(record(model, random_one_hot(1, length).float()), 0, length)
    convs = [s for s in the_plan.steps if isinstance(s, Conv)]
    wide = [c for c in convs if c.in_geo.width > 40]
    assert wide and all(c.spectral is None for c in wide)


def test_ops_the_output_does_not_read_are_not_planned(random_one_hot) -> None:
    # BPNet scored through its counts: the profile head's convolution is never computed
    model = BPNetScalar(build_model("bpnet", n_layers=2, profile_kernel=5), output="counts").eval()
    trace = record(model, random_one_hot(1, 60).float())
    convs = [op for op in trace.ops if op.name == "conv1d"]
    assert len(convs) == 1 + 2  # first convolution and the tower; the profile one is pruned


def test_span_is_a_slice_of_the_full_map(random_one_hot, assert_matches_naive) -> None:
    torch.manual_seed(0)
    model = build_model("basset", **get_spec("basset").small).double().eval()
    x = random_one_hot(2, 50)
    full = ism(model, x)
    part = assert_matches_naive(model, x, start=7, end=31)
    np.testing.assert_allclose(part.delta, full.delta[:, :, 7:31], atol=1e-12)
    assert (part.start, part.end) == (7, 31)


def test_linear_model_matches_hand_computed_effects(random_one_hot) -> None:
    # y = sum over positions of conv(x): substituting a->b at p changes y by sum_k W[b,k] - W[a,k]
    # over the taps k whose window covers p (all K taps in the interior, fewer at the edges)
    conv = nn.Conv1d(4, 1, 3, padding=1, bias=True).double()
    model = nn.Sequential(conv, nn.Flatten(), nn.Linear(8, 1, bias=False).double())
    model[2].weight.data.fill_(1.0)
    x = random_one_hot(1, 8, seed=5)
    result = ism(model, x, method="fast")
    w = conv.weight.data[0]  # (4, 3)
    ref = x[0].argmax(0)
    for p in range(8):
        taps = [k for k in range(3) if 0 <= p + 1 - k < 8]
        for b in range(4):
            expected = float(sum(w[b, k] - w[ref[p], k] for k in taps))
            assert result.delta[0, b, p, 0] == pytest.approx(expected, abs=1e-12)


def test_float32_models_agree_within_tolerance(random_one_hot, randomize_norms) -> None:
    torch.manual_seed(0)
    model = randomize_norms(build_model("koo_cnn", **get_spec("koo_cnn").small)).eval()
    x = random_one_hot(4, 24).float()
    fast, slow = ism(model, x, method="fast"), naive_ism(model, x)
    assert fast.delta.dtype == np.float32
    scale = np.abs(slow.reference).max()
    assert np.abs(fast.delta - slow.delta).max() <= 1e-5 * scale


class BothStrands(nn.Module):
    """A model scored on both strands (mean or max), for a brute-force reference."""

    def __init__(self, model: nn.Module, how: str) -> None:
        super().__init__()
        self.model, self.how = model, how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fwd, rev = self.model(x), self.model(x.flip(1, 2))
        return (fwd + rev) / 2 if self.how == "mean" else torch.maximum(fwd, rev)


@pytest.mark.parametrize("how", ["mean", "max"])
def test_reverse_complement_modes_match_a_both_strand_model(how: str, random_one_hot) -> None:
    torch.manual_seed(0)
    model = build_model("koo_cnn", **get_spec("koo_cnn").small).double().eval()
    x = random_one_hot(2, 24, n_columns=2)
    got = ism(model, x, rc=how, start=3, end=20)
    expected = naive_ism(BothStrands(model, how), x, start=3, end=20)
    np.testing.assert_allclose(got.reference, expected.reference, atol=1e-12)
    np.testing.assert_allclose(got.delta, expected.delta, atol=1e-12)


def test_identity_substitutions_are_zero_and_targets_select_outputs(random_one_hot) -> None:
    torch.manual_seed(0)
    model = build_model("deepsea", **get_spec("deepsea").small).double()
    x = random_one_hot(2, 40)
    result = ism(model, x, target=[2, 0])
    assert result.delta.shape == (2, 4, 40, 2)
    assert result.targets == [2, 0]
    ref = x.argmax(1).numpy()
    n, p = np.meshgrid(range(2), range(40), indexing="ij")
    assert np.all(result.delta[n, ref, p] == 0)
    full = ism(model, x)  # the targeted run multiplies only 2 columns of the last layer: rounding differs
    np.testing.assert_allclose(result.delta, full.delta[..., [2, 0]], rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(result.reference, full.reference[:, [2, 0]], rtol=1e-12)
    naive = naive_ism(model, x, target=[2, 0])
    np.testing.assert_allclose(result.delta, naive.delta, rtol=1e-9, atol=1e-15)
    assert naive.targets == [2, 0] and naive.delta.shape == (2, 4, 40, 2)


def test_matches_tangermeme_saturation_mutagenesis(random_one_hot) -> None:
    tsm = pytest.importorskip("tangermeme.saturation_mutagenesis")
    torch.manual_seed(0)
    model = build_model("deepbind", **get_spec("deepbind").small).eval()
    x = random_one_hot(3, 20).float()
    ours = ism(model, x)
    y0, y_hat = tsm.saturation_mutagenesis(model, x, raw_outputs=True, device="cpu", fast=False)
    theirs = (y_hat - y0[:, None, None, :]).numpy()
    np.testing.assert_allclose(ours.delta, theirs, atol=1e-5)


def test_mutation_map_and_importance_by_hand() -> None:
    delta = np.zeros((1, 4, 3, 1))
    delta[0, :, 0, 0] = [0.0, -2.0, -1.0, 3.0]  # reference A at position 0
    delta[0, :, 1, 0] = [-1.0, -1.0, 0.0, -4.0]  # reference G at position 1
    delta[0, :, 2, 0] = [1.0, 2.0, 3.0, 4.0]  # N at position 2: all four bases are substitutions
    result = ISMResult(delta, np.zeros((1, 1)), np.array([[0, 2, -1]], dtype=np.int8), 0, 3, [0])
    assert mutation_map(result).shape == (1, 4, 3)
    np.testing.assert_allclose(importance(result, "max")[0], [2.0, 4.0, -1.0])
    np.testing.assert_allclose(importance(result, "mean")[0], [0.0, 2.0, -2.5])
    np.testing.assert_allclose(result.importance("maxabs")[0], [3.0, 4.0, 4.0])
    with pytest.raises(ConfigError):
        importance(result, "median")


class TrainingDropout(nn.Module):
    """Dropout that always runs in training mode (p=0 keeps it deterministic): not analysable."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.dropout(x, 0.0, training=True)


def test_unanalysable_model_falls_back_to_naive_with_one_warning(random_one_hot) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(4, 3, 5), TrainingDropout(), nn.Flatten(), nn.LazyLinear(2))
    model(torch.zeros(1, 4, 16))
    model = model.double()
    x = random_one_hot(2, 16)
    with pytest.warns(ISMFallbackWarning, match="dropout in training mode") as caught:
        result = ism(model, x)
    assert len(caught) == 1
    np.testing.assert_allclose(result.delta, naive_ism(model, x).delta, atol=1e-12)
    with pytest.raises(ConfigError, match="fast ISM cannot analyse"):
        ism(model, x, method="fast")


def test_a_wrong_fast_result_is_caught_by_the_naive_check(monkeypatch: pytest.MonkeyPatch,
                                                          random_one_hot) -> None:
    torch.manual_seed(0)
    model = build_model("deepbind", **get_spec("deepbind").small).double().eval()
    x = random_one_hot(2, 30)
    run = FastISM.run

    def off_at_the_end(self, chunk, columns, out=None):  # corrupt one substitution at the last position
        delta, reference = run(self, chunk, columns, out)
        delta[0, :, -1] += 1e-3
        return delta, reference

    monkeypatch.setattr(FastISM, "run", off_at_the_end)
    with pytest.warns(ISMFallbackWarning, match="differ by"):
        result = ism(model, x)
    np.testing.assert_allclose(result.delta, naive_ism(model, x).delta, atol=1e-12)


def test_fast_path_keeps_models_and_inputs_untouched(random_one_hot) -> None:
    torch.manual_seed(0)
    model = build_model("koo_cnn", **get_spec("koo_cnn").small).double().train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = random_one_hot(2, 24)
    x_before = x.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ism(model, x)
    assert model.training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert torch.equal(x, x_before)


def test_strings_are_encoded_and_bad_spans_rejected() -> None:
    torch.manual_seed(0)
    model = build_model("deepbind", **get_spec("deepbind").small).double()
    result = ism(model, "ACGTACGTACGTACGTACGN")
    assert result.delta.shape == (1, 4, 20, 1)
    assert result.bases[0, -1] == -1 and result.bases[0, 1] == 1
    with pytest.raises(InputError):
        ism(model, "ACGTACGTACGTACGTACGT", start=5, end=5)
    with pytest.raises(ConfigError):
        ism(model, "ACGTACGTACGTACGTACGT", target=3)
    with pytest.raises(ConfigError):
        ism(model, "ACGTACGTACGTACGTACGT", method="quick")


def test_chunks_of_one_sequence_fill_one_result(monkeypatch: pytest.MonkeyPatch, random_one_hot) -> None:
    import seqcnn.interpret.ism.mutagenesis as ism_module

    torch.manual_seed(0)
    model = build_model("deepsea", **get_spec("deepsea").small).double().eval()
    x = random_one_hot(3, 40, seed=6)
    whole = ism(model, x, target=[1, 0], rc="mean")
    monkeypatch.setattr(ism_module, "CHUNK_BYTES", 1)  # one sequence per chunk
    chunked = ism(model, x, target=[1, 0], rc="mean")
    np.testing.assert_allclose(chunked.delta, whole.delta, rtol=1e-9, atol=1e-15)  # other batch sizes
    np.testing.assert_allclose(chunked.reference, whole.reference, rtol=1e-12)
    assert (np.abs(chunked.delta[2]).max(axis=(0, 1)) > 1e-6).all()  # the last chunk was written too
    naive = naive_ism(model, x, target=[1, 0], rc="mean")
    np.testing.assert_allclose(chunked.delta, naive.delta, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("name", ["basset", "deepsea", "koo_cnn"])
def test_blocks_alone_or_in_groups_give_the_same_changes(name: str, monkeypatch: pytest.MonkeyPatch,
                                                         random_one_hot, randomize_norms) -> None:
    import seqcnn.interpret.ism.engine.conv as ism_conv
    import seqcnn.interpret.ism.engine.fast as ism_fast

    # the small models' few channels would pick the direct product; force the shared transform path
    monkeypatch.setattr(ism_conv, "FFT_ADVANTAGE", 1e9)
    torch.manual_seed(0)
    model = randomize_norms(build_model(name, **get_spec(name).small).double()).eval()
    length = get_spec(name).small.get("input_length", 60)
    x = random_one_hot(2, length, seed=8)
    monkeypatch.setattr(ism_fast, "GROUP_ROWS", 1)  # every block alone
    alone = ism(model, x)
    monkeypatch.setattr(ism_fast, "GROUP_ROWS", 10**9)  # all blocks of the chunk in one group
    joined = []
    full_group = Spectral.full_group
    monkeypatch.setattr(Spectral, "full_group", lambda self, deltas: joined.append(len(deltas)) or
                        full_group(self, deltas))
    grouped = ism(model, x)
    assert joined and max(joined) > 1  # some convolution products were really shared
    np.testing.assert_allclose(grouped.delta, alone.delta, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(grouped.delta, naive_ism(model, x).delta, rtol=1e-9, atol=1e-15)
