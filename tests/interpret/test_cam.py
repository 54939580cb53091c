"""Grad-CAM, occlusion, kernels/activations and feature projections, in 1D and 2D, against hand-written
reference computations (hooks and loops) and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqcnn.errors import ConfigError
from seqcnn.interpret.cam import (
    activation_maps,
    first_layer_kernels,
    get_layer,
    grad_cam,
    occlusion,
)
from seqcnn.interpret.embed import layer_features, layer_projections, project, separability
from seqcnn.models.registry import build_model, get_spec
from seqcnn.seq.windows import window_starts


def model_1d() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(4, 5, 5), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(5, 3, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(3 * 6, 2)).double().eval()


def model_2d() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 6 * 6, 2)).double().eval()


def manual_grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    store = {}
    handle = layer.register_forward_hook(lambda m, i, o: store.update(a=o))
    out = model(x)
    handle.remove()
    (grad,) = torch.autograd.grad(out[:, target].sum(), store["a"])
    dims = tuple(range(2, grad.dim()))
    weights = grad.mean(dims, keepdim=True)
    cam = torch.relu((weights * store["a"]).sum(1, keepdim=True))
    mode = "linear" if x.dim() == 3 else "bilinear"
    return F.interpolate(cam, size=x.shape[2:], mode=mode)[:, 0].detach().numpy()


@pytest.mark.parametrize("dims", [1, 2])
def test_grad_cam_matches_hook_computation(dims: int) -> None:
    model = model_1d() if dims == 1 else model_2d()
    x = torch.rand((3, 4, 20) if dims == 1 else (3, 1, 10, 10), dtype=torch.float64)
    name = "3" if dims == 1 else "2"
    got = grad_cam(model, x, layer=name, target=1)
    assert got.shape == (3, *x.shape[2:])
    np.testing.assert_allclose(got, manual_grad_cam(model, model[int(name)], x, 1), atol=1e-10)
    assert (got >= 0).all() and got.max() > 0


def test_grad_cam_defaults_to_last_convolution_of_a_registered_image_model() -> None:
    torch.manual_seed(0)
    spec = get_spec("lenet5")
    model = build_model("lenet5", **spec.small).eval()
    x = torch.rand(2, *spec.example_input)
    name, module = get_layer(model, None)
    assert isinstance(module, nn.Conv2d)
    np.testing.assert_allclose(grad_cam(model, x, target=0), grad_cam(model, x, layer=name, target=0), atol=0)
    assert grad_cam(model, x, target=0).shape == (2, *spec.example_input[1:])


def test_unknown_layer_names_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean '3'"):
        get_layer(model_1d(), "33")


def manual_occlusion(model: nn.Module, x: torch.Tensor, window: tuple, stride: tuple, fill: float,
                     target: int) -> np.ndarray:
    with torch.no_grad():
        base = model(x)[:, target]
        total = torch.zeros(x.shape[0], *x.shape[2:], dtype=x.dtype)
        count = torch.zeros(x.shape[2:], dtype=x.dtype)
        starts = [window_starts(s, w, st) for s, w, st in zip(x.shape[2:], window, stride, strict=True)]
        for corner in np.array(np.meshgrid(*starts, indexing="ij")).reshape(len(window), -1).T:
            region = tuple(slice(int(c), int(c) + w) for c, w in zip(corner, window, strict=True))
            occluded = x.clone()
            occluded[(slice(None), slice(None), *region)] = fill
            total[(slice(None), *region)] += (base - model(occluded)[:, target]).view(-1, *[1] * len(window))
            count[region] += 1
    return (total / count.clamp_min(1)).numpy()


@pytest.mark.parametrize("dims", [1, 2])
def test_occlusion_matches_loop(dims: int) -> None:
    model = model_1d() if dims == 1 else model_2d()
    if dims == 1:
        x = torch.zeros(2, 4, 20, dtype=torch.float64)
        x[torch.arange(2)[:, None], torch.randint(4, (2, 20)), torch.arange(20)] = 1
        window, stride, fill = (4,), (2,), 0.25
        got = occlusion(model, x, window=4, stride=2, target=0)
    else:
        x = torch.rand(2, 1, 10, 10, dtype=torch.float64)
        window, stride, fill = (3, 3), (2, 2), 0.0
        got = occlusion(model, x, window=(3, 3), stride=2, target=0)
    np.testing.assert_allclose(got, manual_occlusion(model, x, window, stride, fill, 0), atol=1e-10)
    assert window_starts(10, 3, 2).tolist() == [0, 2, 4, 6, 7]  # the last window is flush with the end


@pytest.mark.parametrize("dims", [1, 2])
def test_occlusion_matches_captum_where_windows_tile_exactly(dims: int) -> None:
    import captum.attr as ca

    model = model_1d() if dims == 1 else model_2d()
    x = torch.rand((2, 4, 20) if dims == 1 else (2, 1, 10, 10), dtype=torch.float64)
    window = (4,) if dims == 1 else (2, 2)
    ours = occlusion(model, x, window=window if dims == 2 else 4, stride=2, baseline=0.0, target=1)
    theirs = ca.Occlusion(model).attribute(x, sliding_window_shapes=(x.shape[1], *window),
                                           strides=(x.shape[1], *[2] * dims), baselines=0.0, target=1)
    np.testing.assert_allclose(ours, theirs[:, 0].numpy(), atol=1e-5)


def test_kernels_and_activation_maps() -> None:
    model = model_2d()
    x = torch.rand(3, 1, 10, 10, dtype=torch.float64)
    kernels = first_layer_kernels(model)
    np.testing.assert_array_equal(kernels, model[0].weight.detach().numpy())
    maps = activation_maps(model, x, "1", batch_size=2)
    with torch.no_grad():
        np.testing.assert_allclose(maps, torch.relu(model[0](x)).numpy(), atol=1e-12)
    with pytest.raises(ConfigError):
        occlusion(model, x, window=20)


def test_projections_and_separability() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    centres = np.array([[0, 0, 0, 0], [8, 0, 0, 0], [0, 8, 0, 0]], dtype=float)
    feats = centres[labels] + rng.normal(size=(60, 4))
    coords = project(feats, "pca")
    from sklearn.decomposition import PCA

    expected = PCA(n_components=2, random_state=0).fit_transform(feats)
    np.testing.assert_allclose(np.abs(coords), np.abs(expected), atol=1e-8)
    assert separability(coords, labels) > 0.7
    assert abs(separability(coords, rng.permutation(labels))) < 0.2
    assert project(feats, "tsne").shape == (60, 2)
    with pytest.raises(ConfigError):
        project(feats, "umap")


def test_layer_projections_score_each_layer() -> None:
    model = model_2d()
    x = torch.rand(12, 1, 10, 10, dtype=torch.float64)
    x[6:] += 1.0  # two classes of brightness
    labels = np.repeat([0, 1], 6)
    feats = layer_features(model, x, "1", pool="max")
    assert feats.shape == (12, 4)
    out = layer_projections(model, x, labels, ["1", "3"], method="pca")
    assert [p.layer for p in out] == ["1", "3"]
    assert all(p.coords.shape == (12, 2) for p in out)
    assert out[0].silhouette > 0.5
