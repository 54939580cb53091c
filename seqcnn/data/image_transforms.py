"""Image augmentations: flips, random crops and Gaussian noise, composable.

Each transform works on one image ``(C, H, W)`` or a batch ``(N, C, H, W)`` (each image drawing its own
randomness) and moves a segmentation mask ``(H, W)`` / ``(N, H, W)`` along with its image.
Split out of ``seqcnn.data.images`` (which re-exports these names).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor


def _is_mask(x: Tensor, y: Tensor | None) -> bool:
    """Whether ``y`` is a per-pixel mask of ``x`` (and so must move with it)."""
    return y is not None and y.ndim == x.ndim - 1 and y.ndim >= 2 and y.shape[-2:] == x.shape[-2:]


class ImageTransform(abc.ABC):
    """Base of the augmentations: ``t(x)`` returns the new ``x``; ``t(x, y)`` returns ``(x, y)``.

    ``x`` is one image ``(C, H, W)`` or a batch ``(N, C, H, W)``; in a batch each image draws its own
    randomness. A mask ``y`` (``(H, W)`` / ``(N, H, W)``) is moved with its image; class labels pass
    through. Randomness comes from ``generator`` when given, else from torch's global generator (so
    ``torch.manual_seed`` makes runs repeatable).
    """

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self.generator = generator

    def __call__(self, x: Tensor, y: Tensor | None = None) -> Any:
        if x.ndim not in (3, 4):
            raise ValueError(f"expected an image (C, H, W) or a batch (N, C, H, W), got {tuple(x.shape)}")
        batched = x.ndim == 4
        xb = x if batched else x.unsqueeze(0)
        mask = _is_mask(x, y)
        yb = None if not mask else (y if batched else y.unsqueeze(0))  # type: ignore[union-attr]
        xb, yb = self.transform(xb, yb)
        x_out = xb if batched else xb.squeeze(0)
        if y is None:
            return x_out
        y_out = y if not mask else (yb if batched else yb.squeeze(0))  # type: ignore[union-attr]
        return x_out, y_out

    @abc.abstractmethod
    def transform(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Transform a batch ``x`` ``(N, C, H, W)`` and its masks ``y`` ``(N, H, W)`` (or None)."""

    def _rand(self, draw: Callable[..., Tensor], *args: Any, device: torch.device, **kwargs: Any) -> Tensor:
        """``draw(*args)`` from ``generator`` on ``device`` (drawn where the generator lives, then moved)."""
        where = device if self.generator is None else self.generator.device
        return draw(*args, generator=self.generator, device=where, **kwargs).to(device)

    def _coins(self, n: int, p: float, device: torch.device) -> Tensor:
        return self._rand(torch.rand, n, device=device) < p

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({args})"


class _Flip(ImageTransform):
    axis = -1

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        super().__init__(generator)
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p

    def transform(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        flip = self._coins(x.shape[0], self.p, x.device)
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(self.axis), x)
        if y is not None:
            y = torch.where(flip.view(-1, 1, 1), y.flip(self.axis), y)
        return x, y


class HorizontalFlip(_Flip):
    """Mirror left-right with probability ``p``."""

    axis = -1


class VerticalFlip(_Flip):
    """Mirror top-bottom with probability ``p``."""

    axis = -2


class RandomCrop(ImageTransform):
    """Pad by ``padding`` pixels on every side, then crop a random ``size`` window.

    ``size`` is ``(H, W)`` (an int for square), by default the input's own size (the usual
    "pad 4, crop 32" augmentation of CIFAR-style training). ``fill`` is the padding value for images;
    masks are padded with ``mask_fill`` (0, the background). ``mode="reflect"`` mirrors instead.
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        *,
        padding: int = 0,
        fill: float = 0.0,
        mode: str = "constant",
        mask_fill: int = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(generator)
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        if mode not in ("constant", "reflect", "replicate"):
            raise ValueError(f"mode must be constant, reflect or replicate, got {mode!r}")
        self.size = (size, size) if isinstance(size, int) else size
        self.padding = padding
        self.fill = fill
        self.mode = mode
        self.mask_fill = mask_fill

    def transform(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        n, _, h, w = x.shape
        out_h, out_w = self.size or (h, w)
        p = self.padding
        if p:
            pad = (p, p, p, p)
            if self.mode == "constant":
                x = torch.nn.functional.pad(x, pad, value=self.fill)
            else:
                x = torch.nn.functional.pad(x, pad, mode=self.mode)
            if y is not None:
                if self.mode == "constant":
                    y = torch.nn.functional.pad(y, pad, value=self.mask_fill)
                else:  # pad the mask as the image (float round trip: reflect needs a float tensor)
                    y = torch.nn.functional.pad(y[:, None].float(), pad, mode=self.mode)[:, 0].to(y.dtype)
        ph, pw = x.shape[-2:]
        if out_h > ph or out_w > pw:
            raise ValueError(f"crop {out_h}x{out_w} is larger than the padded image {ph}x{pw}")
        top = self._rand(torch.randint, 0, ph - out_h + 1, (n,), device=x.device)
        left = self._rand(torch.randint, 0, pw - out_w + 1, (n,), device=x.device)
        rows = (top[:, None] + torch.arange(out_h, device=x.device))[:, :, None]  # (N, h, 1)
        cols = (left[:, None] + torch.arange(out_w, device=x.device))[:, None, :]  # (N, 1, w)
        batch = torch.arange(n, device=x.device)[:, None, None]
        x = x.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()  # (N, C, h, w)
        if y is not None:
            y = y[batch, rows, cols].contiguous()
        return x, y


class GaussianNoise(ImageTransform):
    """Add N(0, ``std``^2) noise to every pixel, to each image with probability ``p``.

    With ``clip=(lo, hi)`` the result is clamped (e.g. ``(0, 1)`` for images scaled to [0, 1]).
    Masks and labels are unchanged.
    """

    def __init__(
        self,
        std: float = 0.05,
        *,
        p: float = 1.0,
        clip: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(generator)
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std}")
        self.std = std
        self.p = p
        self.clip = clip

    def transform(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        noise = self._rand(torch.randn, x.shape, device=x.device, dtype=torch.float32).to(x.dtype)
        apply = self._coins(x.shape[0], self.p, x.device).view(-1, 1, 1, 1)
        x = torch.where(apply, x + self.std * noise, x)
        if self.clip is not None:
            x = x.clamp(*self.clip)
        return x, y


class Compose(ImageTransform):
    """Apply transforms in order; masks follow through every step."""

    def __init__(self, transforms: Sequence[Callable[..., Any]]) -> None:
        super().__init__(None)
        self.transforms = list(transforms)

    def transform(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        for t in self.transforms:
            if isinstance(t, ImageTransform):
                x, y = t.transform(x, y)
            else:
                x = t(x)
        return x, y
