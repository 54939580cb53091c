"""Exact DeepLIFT/SHAP: summation to delta on every registered sequence model, hand-computed multipliers,
nonlinearities as functions and reused modules, batching, strands, and agreement with tangermeme."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tangermeme.deep_lift_shap import _nonlinear
from tangermeme.deep_lift_shap import deep_lift_shap as tangermeme_deep_lift_shap
from torch import nn

from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.attribution import deep_lift_shap
from seqcnn.layers.activations import Exp
from seqcnn.models import build_model, get_spec, list_models
from seqcnn.models.bpnet import BPNetScalar
from seqcnn.seq.shuffle import shuffle_one_hot


class Centre(nn.Module):
    """``(N, T)`` view of a per-position model: its outputs at the centre position."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[..., out.shape[-1] // 2]


def scalar_views(name: str, model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ``(N, T)`` outputs of a registered model that attribution explains."""
    kind = get_spec(name).output
    if kind == "tasks":
        return [(name, model)]
    if kind == "profile":  # the model itself answers with its counts head
        return [(f"{name}-counts", model), (f"{name}-profile", BPNetScalar(model, "profile"))]
    if kind == "positions":
        return [(f"{name}-centre", Centre(model))]
    pytest.fail(f"no (N, T) view of {name}'s {kind!r} output: add one here")


def registered_cases() -> list[tuple[str, dict]]:
    cases = [(name, {}) for name in list_models(dims=1)]
    return cases + [("koo_cnn", {"first_activation": "exp"}), ("bpnet", {"activation": "gelu"}),
                    ("basset", {"activation": "softplus"})]


def build(name: str, extra: dict, randomize_norms: Callable, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    spec = get_spec(name)
    kwargs = {**spec.small, **extra}
    if set(extra) - set(spec.parameters):
        pytest.skip(f"{name} takes no {extra}")
    return randomize_norms(build_model(name, **kwargs), seed).eval()


def outputs(model: nn.Module, x: torch.Tensor, refs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """f(x) (N, T) and f(r) (N, R, T)."""
    with torch.no_grad():
        y_x = model(x)
        y_r = model(refs.flatten(0, 1))
    y_x = y_x["counts"] if isinstance(y_x, dict) else y_x
    y_r = y_r["counts"] if isinstance(y_r, dict) else y_r
    return y_x.numpy(), y_r.reshape(*refs.shape[:2], -1).numpy()


@pytest.mark.parametrize(("name", "extra"), registered_cases(), ids=lambda v: str(v) if v else "")
def test_contributions_sum_to_the_output_change(name: str, extra: dict, random_one_hot: Callable,
                                                 randomize_norms: Callable) -> None:
    # double precision: in single precision the rounding of the outputs themselves (about 1e-7 of
    # their size) is already 1e-5 of the output change of a weakly reacting random model (WaveNet)
    model = build(name, extra, randomize_norms).double()
    x = random_one_hot(6, get_spec(name).example_input[1], seed=1)
    refs = torch.from_numpy(shuffle_one_hot(x.numpy(), n=8, seed=2))
    for label, view in scalar_views(name, model):
        contrib, delta = deep_lift_shap(view, x, references=refs, return_delta=True, device="cpu")
        y_x, y_r = outputs(view, x, refs)
        change = y_x - y_r.mean(1)
        np.testing.assert_allclose(contrib.sum((1, 2)) - change, delta, atol=1e-12)
        scale = np.abs(y_x[:, None] - y_r).mean(1)  # (N, T): the size of what is explained
        assert scale.min() > 1e-4, label  # the model reacts to its input: the check is not vacuous
        relative = np.abs(delta) / scale
        print(f"{label}: relative convergence delta median {np.median(relative):.1e}, "
              f"max {relative.max():.1e}")
        assert np.median(relative) <= 1e-5, (label, np.median(relative))
        assert relative.max() <= 1e-4, (label, relative.max())


def test_hand_computed_two_layer_net() -> None:
    # f = w2 . relu(W1 x + b1) on the flattened one-hot (index = base * 2 + position)
    linear1, linear2 = nn.Linear(8, 2), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        linear1.weight.copy_(torch.tensor([[2.0, 0, 0, 1, -1, 0, 0, 0], [0, 0, 0, -2, 1, 0, 0, 1]]))
        linear1.bias.copy_(torch.tensor([0.0, 0.5]))
        linear2.weight.copy_(torch.tensor([[1.0, -2.0]]))
    model = nn.Sequential(nn.Flatten(), linear1, nn.ReLU(), linear2)
    x, ref = "AC", np.eye(4, dtype=np.float32)[:, [2, 3]]  # reference GT
    # hidden: x -> (3, -1.5), ref -> (-1, 2.5); ReLU secants 3/4 and (0 - 2.5)/(-1.5 - 2.5) = 5/8;
    # input multipliers 3/4 * W1[0] - 2 * 5/8 * W1[1]; f(x) - f(ref) = 3 - (-5) = 8
    mult = np.array([[1.5, 0], [0, 3.25], [-2, 0], [0, -1.25]])
    hypothetical = mult - (ref * mult).sum(0)  # [[3.5, 1.25], [2, 4.5], [2, 1.25], [2, 1.25]]
    hyp, delta = deep_lift_shap(model, x, references=ref[None], hypothetical=True, return_delta=True,
                                target=0)
    np.testing.assert_allclose(hyp[0], hypothetical, atol=1e-6)
    actual = deep_lift_shap(model, x, references=ref[None], target=0)
    np.testing.assert_allclose(actual[0], [[3.5, 0], [0, 4.5], [0, 0], [0, 0]], atol=1e-6)
    assert actual.sum() == pytest.approx(8.0) and abs(delta[0]) < 1e-6


def test_hand_computed_max() -> None:
    # the same hidden layer, then the max of the two units: y(x) = 3 (unit 0), y(ref) = 2.5 (unit 1);
    # the whole change 0.5 goes to unit 0 (the sequence's winner), multiplier 0.5 / (3 - (-1)) = 1/8
    linear1 = nn.Linear(8, 2)
    with torch.no_grad():
        linear1.weight.copy_(torch.tensor([[2.0, 0, 0, 1, -1, 0, 0, 0], [0, 0, 0, -2, 1, 0, 0, 1]]))
        linear1.bias.copy_(torch.tensor([0.0, 0.5]))

    class MaxOfUnits(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return linear1(x.flatten(1)).amax(1, keepdim=True)

    ref = np.eye(4, dtype=np.float32)[:, [2, 3]]
    hyp = deep_lift_shap(MaxOfUnits(), "AC", references=ref[None], hypothetical=True, target=0)
    mult = linear1.weight.detach().numpy()[0].reshape(4, 2) / 8
    np.testing.assert_allclose(hyp[0], mult - (ref * mult).sum(0), atol=1e-6)
    assert deep_lift_shap(MaxOfUnits(), "AC", references=ref[None], target=0).sum() == pytest.approx(0.5)


class Separate(nn.Module):
    """conv -> ReLU -> max-pool -> conv -> ReLU -> linear, one ReLU module each."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv1, self.conv2 = nn.Conv1d(4, 6, 5, padding=2), nn.Conv1d(6, 6, 3, padding=1)
        self.act1, self.act2 = nn.ReLU(), nn.ReLU()
        self.pool, self.head = nn.MaxPool1d(2), nn.Linear(6 * 10, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.conv2(self.pool(self.act1(self.conv1(x)))))
        return self.head(x.flatten(1))


class Reused(Separate):
    """The same network with one ReLU module called twice."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.conv2(self.pool(self.act1(self.conv1(x)))))
        return self.head(x.flatten(1))


class Functional(Separate):
    """The same network with ``torch.relu`` and ``F.relu`` in ``forward``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv2(self.pool(torch.relu(self.conv1(x)))))
        return self.head(x.flatten(1))


def test_reused_and_functional_relu_are_exact(random_one_hot: Callable) -> None:
    x = random_one_hot(4, 20, seed=5).float()
    refs = torch.from_numpy(shuffle_one_hot(x.numpy(), n=6, seed=6))
    expected = tangermeme_deep_lift_shap(Separate(), x, target=1, references=refs, device="cpu").numpy()
    for cls in (Separate, Reused, Functional):
        contrib, delta = deep_lift_shap(cls(), x, target=1, references=refs, return_delta=True)
        np.testing.assert_allclose(contrib, expected, atol=1e-6, err_msg=cls.__name__)
        assert np.abs(delta).max() < 1e-5


class Functions(nn.Module):
    """Nonlinear functions in ``forward``: sigmoid, max-pool with indices, max along a dimension, amax,
    exp, powers, quotients, a product of two varying tensors, tanh, GELU."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.conv1, self.conv2, self.head = nn.Conv1d(4, 6, 5), nn.Conv1d(6, 6, 3), nn.Linear(12, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = F.max_pool1d(torch.sigmoid(self.conv1(x)), 3, return_indices=True)
        h = self.conv2(h)
        top, _ = torch.max(h, dim=2)
        high = h.amax(-1)
        z = 1 / (1 + top.exp()) + high / (2 + top**2) + torch.tanh(high) * top
        return self.head(torch.cat([z, F.gelu(high)], 1))


def test_functions_in_forward_are_exact(random_one_hot: Callable) -> None:
    x = random_one_hot(3, 30, seed=14)
    contrib, delta = deep_lift_shap(Functions().double(), x, n_shuffles=5, return_delta=True)
    assert np.abs(contrib).max() > 1e-3 and np.abs(delta).max() < 1e-12


def test_unchanged_windows_take_the_derivative(random_one_hot: Callable) -> None:
    # references equal to the sequence but for two bases: most pre-activations are equal in each pair,
    # where the secant is undefined and the derivative is used (at x = r, as tangermeme does)
    model, x = Separate(), random_one_hot(2, 20, seed=13).float()
    refs = x[:, None].repeat(1, 3, 1, 1)
    refs[:, :, :, 9:11] = refs[:, :, :, 9:11].roll(1, dims=2)  # each base one letter on (A->C, ...)
    refs[:, 1, :, 9] = torch.tensor([1.0, 0, 0, 0])
    refs[:, 2, :, 10] = torch.tensor([0.0, 0, 0, 1])
    contrib, delta = deep_lift_shap(model, x, target=0, references=refs, hypothetical=True, return_delta=True)
    assert np.abs(delta).max() < 1e-5
    expected = tangermeme_deep_lift_shap(model, x, target=0, references=refs, hypothetical=True,
                                         device="cpu").numpy()
    np.testing.assert_allclose(contrib, expected, atol=1e-6)
    assert np.abs(contrib[..., :5]).max() > 1e-4  # hypothetical contributions far from the change too


def test_batching_does_not_change_the_result(random_one_hot: Callable) -> None:
    model = Separate()
    x = random_one_hot(3, 20, seed=7).float()
    whole = deep_lift_shap(model, x, n_shuffles=10, seed=4)  # all 30 pairs in one pass
    for size in (1, 7, 20):  # one pair a pass; one sequence and 7 (then 3) references; one sequence
        np.testing.assert_allclose(deep_lift_shap(model, x, n_shuffles=10, seed=4, batch_size=size), whole,
                                   atol=1e-6, err_msg=f"batch_size={size}")
    assert np.abs(deep_lift_shap(model, x, n_shuffles=10, seed=5) - whole).max() > 1e-4  # seeds matter


def test_shapes_targets_and_hypothetical(random_one_hot: Callable) -> None:
    model, x = Separate(), random_one_hot(2, 20, seed=8).float()
    actual, delta = deep_lift_shap(model, x, n_shuffles=3, return_delta=True)
    assert actual.shape == (2, 4, 20, 2) and delta.shape == (2, 2)
    one = deep_lift_shap(model, x, n_shuffles=3, target=1)
    np.testing.assert_allclose(one, actual[..., 1], atol=1e-7)
    hyp = deep_lift_shap(model, x, n_shuffles=3, target=1, hypothetical=True)
    np.testing.assert_allclose(hyp * x.numpy(), one, atol=1e-7)
    assert np.abs(hyp).sum() > np.abs(one).sum()  # the unobserved bases carry hypothetical contributions


def test_strands_mean_of_both(random_one_hot: Callable) -> None:
    model, x = Separate(), random_one_hot(2, 20, seed=9).float()
    refs = torch.from_numpy(shuffle_one_hot(x.numpy(), n=4, seed=1))
    forward = deep_lift_shap(model, x, target=0, references=refs, rc="none")
    reverse = deep_lift_shap(model, x.flip(1, 2), target=0, references=refs.flip(2, 3), rc="none")
    both, delta = deep_lift_shap(model, x, target=0, references=refs, rc="mean", return_delta=True)
    np.testing.assert_allclose(both, (forward + reverse[:, ::-1, ::-1]) / 2, atol=1e-7)
    assert np.abs(delta).max() < 1e-5
    best = deep_lift_shap(model, x, target=0, references=refs, rc="max")
    with torch.no_grad():
        keep = (model(x)[:, 0] >= model(x.flip(1, 2))[:, 0]).numpy()
    expected = np.where(keep[:, None, None], forward, reverse[:, ::-1, ::-1])
    np.testing.assert_allclose(best, expected, atol=1e-7)


def test_model_given_back_as_found(random_one_hot: Callable) -> None:
    model = Separate().train()
    model.conv1.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deep_lift_shap(model, random_one_hot(2, 20).float(), n_shuffles=2)
    assert model.training and not model.conv1.weight.requires_grad and model.conv2.weight.requires_grad
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_arguments(random_one_hot: Callable) -> None:
    model, x = Separate(), random_one_hot(2, 20).float()
    with pytest.raises(ConfigError, match="out of range"):
        deep_lift_shap(model, x, target=2)
    with pytest.raises(ConfigError, match="n_shuffles"):
        deep_lift_shap(model, x, n_shuffles=0)
    with pytest.raises(InputError, match="do not fit"):
        deep_lift_shap(model, x, references=np.zeros((2, 3, 4, 19)))
    with pytest.raises(InputError, match=r"\(N, 4, L\)"):
        deep_lift_shap(model, np.zeros((2, 4, 20, 1)))


class ProfileScaling(nn.Module):
    """BPNet's profile target ``softmax(p).detach() * p`` as a module, for tangermeme's rescale rule."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, -1).detach() * logits


class HookableProfile(nn.Module):
    """``BPNetScalar(model, "profile")`` with the scaling in a module tangermeme can hook."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.scaling = model, ProfileScaling()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scaling(self.model(x)["profile"]).sum(-1)


TANGERMEME_CASES = [("basset", {}), ("deepsea", {}), ("koo_cnn", {}),
                    ("koo_cnn", {"first_activation": "exp"}), ("bpnet", {}), ("deepbind", {"pool": "avg"})]


@pytest.mark.parametrize(("name", "extra"), TANGERMEME_CASES, ids=lambda v: str(v) if v else "")
def test_matches_tangermeme(name: str, extra: dict, random_one_hot: Callable,
                            randomize_norms: Callable) -> None:
    # models whose every nonlinearity tangermeme has a rule for (its rescale rule registered for
    # seqcnn's Exp module and for the profile scaling; DeepBind with average pooling, as tangermeme
    # has no rule for a global max)
    model = build(name, extra, randomize_norms)
    x = random_one_hot(4, get_spec(name).example_input[1], seed=11).float()
    refs = torch.from_numpy(shuffle_one_hot(x.numpy(), n=6, seed=12))
    pairs = [(model, model)] if name != "bpnet" else [
        (BPNetScalar(model, "counts"),) * 2, (BPNetScalar(model, "profile"), HookableProfile(model))]
    for ours_model, their_model in pairs:
        with torch.no_grad():
            n_outputs = ours_model(x[:1]).shape[1]
        for target in range(n_outputs):
            for hypothetical in (False, True):
                ours = deep_lift_shap(ours_model, x, target=target, references=refs,
                                      hypothetical=hypothetical)
                theirs = tangermeme_deep_lift_shap(
                    their_model, x, target=target, references=refs, hypothetical=hypothetical, device="cpu",
                    additional_nonlinear_ops={Exp: _nonlinear, ProfileScaling: _nonlinear}).numpy()
                scale = np.abs(theirs).max()
                assert scale > 1e-5
                assert np.abs(ours - theirs).max() <= 1e-4 * scale, (name, target, hypothetical)
