"""A synthetic segmentation set: discs, squares and triangles with per-pixel masks (for ``unet``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from seqcnn.data.images import ImageSplits, make_splits

SHAPE_CLASSES = ("background", "disc", "square", "triangle")


def synthetic_segmentation(
    *,
    n: int = 512,
    size: int | tuple[int, int] = 32,
    channels: int = 1,
    max_shapes: int = 3,
    noise: float = 0.1,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    transform: Callable[..., Any] | None = None,
) -> ImageSplits:
    """Discs, squares and triangles on a noisy background, with per-pixel class masks.

    Each image holds 1..``max_shapes`` shapes of random size, place and brightness (later shapes
    paint over earlier ones); the mask holds 0 (background), 1 (disc), 2 (square) or 3 (triangle).
    The brightness does not tell the classes apart, the outline does. Images ``(channels, H, W)`` in
    [0, 1]; the same ``seed`` gives the same images and split.
    """
    h, w = (size, size) if isinstance(size, int) else size
    if h < 8 or w < 8:
        raise ValueError(f"size must be at least 8x8, got {h}x{w}")
    if n < 1 or max_shapes < 1 or channels < 1:
        raise ValueError("n, max_shapes and channels must be positive")
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    images = np.empty((n, channels, h, w), dtype=np.float32)
    masks = np.zeros((n, h, w), dtype=np.int64)
    smallest = min(h, w)
    for i in range(n):
        background = rng.uniform(0.0, 0.3, size=(channels, 1, 1)).astype(np.float32)
        image = np.broadcast_to(background, (channels, h, w)).copy()
        for _ in range(int(rng.integers(1, max_shapes + 1))):
            kind = int(rng.integers(1, len(SHAPE_CLASSES)))
            radius = rng.uniform(0.12, 0.25) * smallest
            cy, cx = rng.uniform(radius, h - radius), rng.uniform(radius, w - radius)
            if kind == 1:  # disc
                inside = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
            elif kind == 2:  # axis-aligned square
                inside = (np.abs(rows - cy) <= radius * 0.85) & (np.abs(cols - cx) <= radius * 0.85)
            else:  # upward triangle: apex at top, base at bottom
                top, bottom = cy - radius, cy + radius
                half_width = (rows - top) / (2 * radius) * radius * 1.1
                inside = (rows >= top) & (rows <= bottom) & (np.abs(cols - cx) <= half_width)
            colour = rng.uniform(0.55, 1.0, size=(channels, 1, 1)).astype(np.float32)
            image = np.where(inside[None], colour, image)
            masks[i][inside] = kind
        image += rng.normal(0.0, noise, size=image.shape).astype(np.float32)
        images[i] = np.clip(image, 0.0, 1.0)
    return make_splits(
        torch.from_numpy(images),
        torch.from_numpy(masks),
        class_names=SHAPE_CLASSES,
        task="segmentation",
        source="synthetic shapes",
        valid_fraction=valid_fraction,
        test_fraction=test_fraction,
        seed=seed,
        transform=transform,
    )
