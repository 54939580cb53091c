"""2D projections of a layer's features, to see how well classes separate layer by layer.

``layer_features`` pools a layer's output per input to a vector (mean or max over positions/pixels,
or the flattened map); ``project`` maps features to 2D with PCA or t-SNE (scikit-learn);
``layer_projections`` does both for several layers and scores each with the silhouette of the
classes in the projection (``separability``; -1..1, higher = better separated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seqcnn.errors import ConfigError, InputError
from seqcnn.interpret.cam import activation_maps

POOLS = ("mean", "max", "flatten")


@dataclass
class Projection:
    """One layer's features projected to 2D.

    Attributes
    ----------
    layer
        The layer's name.
    method
        ``"pca"`` or ``"tsne"``.
    coords
        ``(N, 2)`` projected features.
    labels
        ``(N,)`` class labels.
    silhouette
        Separability of the classes in ``coords`` (:func:`separability`).
    """

    layer: str
    method: str
    coords: np.ndarray
    labels: np.ndarray
    silhouette: float


def layer_features(model: nn.Module, X: np.ndarray | torch.Tensor, layer: str, *, pool: str = "mean",
                   batch_size: int | None = None, device: str | torch.device | None = None,
                   progress: bool = False) -> np.ndarray:
    """Features of ``layer``: its output pooled over positions/pixels (or flattened).

    Parameters
    ----------
    model
        Any model; given back as it was (device, mode, ``requires_grad``).
    X
        Inputs ``(N, C, L)`` or ``(N, C, H, W)``, or sequences.
    layer
        Layer name (``seqcnn.interpret.cam.layer_names``).
    pool
        ``"mean"`` or ``"max"`` over positions/pixels, or ``"flatten"``.
    batch_size
        Inputs per pass (None: 64).
    device
        Where to run (None: automatic).
    progress
        Show a progress bar.

    Returns
    -------
    np.ndarray
        ``(N, F)``.

    Raises
    ------
    ConfigError
        An unknown pool or layer.
    """
    if pool not in POOLS:
        raise ConfigError(f"unknown pool {pool!r}; choose from {', '.join(POOLS)}")
    maps = activation_maps(model, X, layer, batch_size=batch_size, device=device, progress=progress)
    if maps.ndim <= 2 or pool == "flatten":
        return maps.reshape(maps.shape[0], -1)
    flat = maps.reshape(maps.shape[0], maps.shape[1], -1)
    return flat.mean(-1) if pool == "mean" else flat.max(-1)


def project(features: np.ndarray, method: str = "pca", *, seed: int = 0) -> np.ndarray:
    """PCA or t-SNE projection of features to 2D (seeded).

    Parameters
    ----------
    features
        ``(N, F)`` with N >= 3.
    method
        ``"pca"`` or ``"tsne"``.
    seed
        Random state.

    Returns
    -------
    np.ndarray
        ``(N, 2)`` (PCA of one feature is padded with a zero column).

    Raises
    ------
    InputError
        Fewer than 3 feature vectors.
    ConfigError
        An unknown method.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 3:
        raise InputError(f"need at least 3 feature vectors (N, F), got shape {features.shape}")
    if method == "pca":
        k = min(2, features.shape[1])
        coords = PCA(n_components=k, random_state=seed).fit_transform(features)
        return np.pad(coords, ((0, 0), (0, 2 - k)))
    if method == "tsne":
        perplexity = float(min(30, max(2, (features.shape[0] - 1) // 3)))
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
        return tsne.fit_transform(features)
    raise ConfigError(f"unknown projection {method!r}; choose from pca, tsne")


def separability(coords: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score of the classes ``labels`` in ``coords``.

    Parameters
    ----------
    coords
        ``(N, D)`` points.
    labels
        ``(N,)`` class labels.

    Returns
    -------
    float
        -1..1, higher = better separated; NaN with fewer than 2 classes or one point per class.
    """
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        return float("nan")
    return float(silhouette_score(coords, labels))


def layer_projections(model: nn.Module, X: np.ndarray | torch.Tensor, labels: Sequence | np.ndarray,
                      layers: Sequence[str], *, method: str = "pca", pool: str = "mean", seed: int = 0,
                      batch_size: int | None = None, device: str | torch.device | None = None,
                      progress: bool = False) -> list[Projection]:
    """Project each layer's features to 2D and score how well the classes separate there.

    Parameters
    ----------
    model
        Any model; given back as it was (device, mode, ``requires_grad``).
    X
        Inputs ``(N, C, L)`` or ``(N, C, H, W)``, or sequences.
    labels
        ``(N,)`` class labels.
    layers
        Layer names (e.g. each block of the body).
    method, pool, seed
        As for :func:`project` and :func:`layer_features`.
    batch_size, device, progress
        As for :func:`layer_features`.

    Returns
    -------
    list[Projection]
        One per layer, in order.

    Raises
    ------
    InputError
        A label count that does not match the inputs.
    """
    labels = np.asarray(labels)
    out = []
    for layer in layers:
        feats = layer_features(model, X, layer, pool=pool, batch_size=batch_size, device=device,
                               progress=progress)
        if len(labels) != len(feats):
            raise InputError(f"{len(labels)} labels for {len(feats)} inputs")
        coords = project(feats, method, seed=seed)
        out.append(Projection(layer, method, coords, labels, separability(coords, labels)))
    return out
