"""Gradient attributions against autograd, Captum's own classes and DeepLIFT's summation-to-delta."""

from __future__ import annotations

import captum.attr as ca
import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.errors import ConfigError
from seqcnn.interpret.attribution.gradients import (
    attribute,
    deeplift_shap,
    integrated_gradients,
    is_one_hot,
    saliency,
)
from seqcnn.seq.shuffle import shuffle_one_hot


def seq_model(pool: type[nn.Module] = nn.MaxPool1d) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(4, 6, 5, padding=2), nn.ReLU(), pool(2), nn.Conv1d(6, 4, 3),
                         nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10, 3)).double().eval()


def one_hot(n: int = 3, length: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 4, length, dtype=torch.float64)
    x[torch.arange(n)[:, None], torch.randint(4, (n, length), generator=g), torch.arange(length)] = 1
    return x


def test_saliency_is_the_gradient() -> None:
    model, x = seq_model(), one_hot()
    result = saliency(model, x, target=1)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xg)[:, 1].sum(), xg)
    np.testing.assert_allclose(result.hypothetical, grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(result.actual, (grad * x).numpy(), atol=1e-12)
    captum = ca.Saliency(model).attribute(x, target=1, abs=False)
    np.testing.assert_allclose(result.hypothetical, captum.detach().numpy(), atol=1e-5)


def test_input_x_gradient_matches_captum_per_position() -> None:
    model, x = seq_model(), one_hot()
    result = attribute(model, x, "input_x_grad", target=2)
    captum = ca.InputXGradient(model).attribute(x, target=2)
    np.testing.assert_allclose(result.actual.sum(1), captum.sum(1).detach().numpy(), atol=1e-5)
    # only the observed base carries an actual contribution
    assert np.all(result.actual[x.numpy() == 0] == 0)


def test_integrated_gradients_match_captum_and_complete() -> None:
    model, x = seq_model(), one_hot()
    result = integrated_gradients(model, x, target=0, steps=64, baseline="uniform")
    base = torch.full_like(x, 0.25)
    captum = ca.IntegratedGradients(model).attribute(x, baselines=base, target=0, n_steps=64)
    np.testing.assert_allclose(result.actual.sum(1), captum.sum(1).detach().numpy(), atol=1e-5)
    # completeness: the contributions add up to f(x) - f(baseline)
    with torch.no_grad():
        gap = (model(x) - model(base))[:, 0].numpy()
    np.testing.assert_allclose(result.actual.sum((1, 2)), gap, rtol=2e-2, atol=1e-3)
    # hypothetical contribution at the observed base is the actual one
    np.testing.assert_allclose((result.hypothetical * x.numpy()).sum(1), result.actual.sum(1), atol=1e-12)


def test_integrated_gradients_average_over_shuffled_references() -> None:
    model, x = seq_model(), one_hot(n=2)
    result = integrated_gradients(model, x, target=0, steps=16, baseline="shuffle", n_shuffles=3, seed=7)
    refs = torch.as_tensor(shuffle_one_hot(x.numpy(), k=2, n=3, seed=7))
    ig = ca.IntegratedGradients(model)
    expected = torch.stack([
        torch.stack([ig.attribute(x[i:i + 1], baselines=refs[i, r:r + 1], target=0, n_steps=16)[0]
                     for r in range(3)]).mean(0) for i in range(2)])
    np.testing.assert_allclose(result.actual.sum(1), expected.sum(1).detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("pool", [nn.MaxPool1d, nn.AvgPool1d])
def test_deeplift_shap_matches_captum_and_sums_to_delta(pool: type[nn.Module]) -> None:
    # deepliftshap is seqcnn's exact DeepLIFT (interpret/attribution/deeplift.py; compared with tangermeme
    # there); sequence i's shuffles are seeded by (seed, i)
    model, x = seq_model(pool), one_hot(n=2, seed=3)
    result = deeplift_shap(model, x, target=1, n_shuffles=5, seed=11)
    refs = torch.as_tensor(np.stack([shuffle_one_hot(x[i].numpy(), n=5, seed=np.random.default_rng([11, i]))
                                     for i in range(2)]))
    for i in range(2):
        captum = ca.DeepLiftShap(model).attribute(x[i:i + 1], baselines=refs[i], target=1)
        if pool is nn.AvgPool1d:  # Captum's max-pool rule does not sum to delta; tangermeme's and ours do
            np.testing.assert_allclose(result.actual[i].sum(0), captum[0].sum(0).detach().numpy(), atol=1e-5)
        with torch.no_grad():
            gap = float(model(x[i:i + 1])[0, 1] - model(refs[i])[:, 1].mean())
        assert result.actual[i].sum() == pytest.approx(gap, abs=1e-8)
    assert result.hypothetical.shape == x.shape
    assert np.abs(result.hypothetical).sum() > np.abs(result.actual).sum()  # other bases too


def test_images_get_captum_attributions() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    model = model.double().eval()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    assert not is_one_hot(x)
    result = integrated_gradients(model, x, target=1, steps=20)
    captum = ca.IntegratedGradients(model).attribute(x, target=1, n_steps=20)
    np.testing.assert_allclose(result.actual, captum.detach().numpy(), atol=1e-5)


def test_bad_methods_targets_and_outputs() -> None:
    model, x = seq_model(), one_hot(n=1)
    with pytest.raises(ConfigError, match="unknown attribution method"):
        attribute(model, x, "lrp")
    with pytest.raises(ConfigError, match="out of range"):
        saliency(model, x, target=5)
    with pytest.raises(ConfigError, match="unknown baseline"):
        integrated_gradients(model, x, baseline="ones")

    class Dict(nn.Module):
        def forward(self, x: torch.Tensor) -> dict:
            return {"profile": x}

    with pytest.raises(ConfigError, match="BPNetScalar"):
        saliency(Dict(), x)
