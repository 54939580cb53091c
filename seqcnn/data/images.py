"""Image data sets and image augmentations.

Every loader returns an :class:`ImageSplits` ``(train, valid, test, info)``: three
:class:`ImageDataset` objects and an :class:`ImageInfo`::

    from seqcnn.data.images import load_digits, Compose, RandomCrop, HorizontalFlip

    train, valid, test, info = load_digits(seed=0, transform=Compose([RandomCrop(padding=1)]))
    x, y = train[0]          # x: (1, 8, 8) float32 in [0, 1], y: int64 scalar
    info.n_classes           # 10

Shapes: an image is ``(C, H, W)`` float32, a batch ``(N, C, H, W)``. A classification target is an
int64 scalar (``(N,)`` per batch); a segmentation target is an int64 mask ``(H, W)`` (``(N, H, W)``)
holding a class index per pixel, 0 being the background.

Sources:

* :func:`load_digits` -- the 8x8 handwritten digits that scikit-learn ships (1,797 images, offline).
* :func:`load_image_folder` -- ``root/<class name>/*.png|jpg|jpeg`` read with Pillow.
* :func:`load_npz` -- a ``.npz`` with arrays ``x`` and ``y`` (optionally ``class_names``); read with
  ``allow_pickle=False`` always.
* :func:`seqcnn.data.shapes.synthetic_segmentation` -- random discs, squares and triangles on a
  noisy background with a per-pixel mask (for ``unet``).

Splits are seeded and stratified by class: the same ``seed`` gives the same split on every machine.
Augmentations (:class:`HorizontalFlip`, :class:`VerticalFlip`, :class:`RandomCrop`,
:class:`GaussianNoise`, :class:`Compose`) work on one image ``(C, H, W)`` or on a batch
``(N, C, H, W)`` (each image drawing its own randomness) and move a segmentation mask along with its
image. A loader's ``transform`` is applied to the training split only.

A file that cannot be used raises :class:`seqcnn.errors.InputError` naming it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from seqcnn.data.image_transforms import (  # noqa: F401  (re-exported: the loaders' public API)
    Compose,
    GaussianNoise,
    HorizontalFlip,
    ImageTransform,
    RandomCrop,
    VerticalFlip,
)
from seqcnn.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})  # palette ("P") images may hold colour: RGB

__all__ = [
    "IMAGE_SUFFIXES",
    "Compose",
    "GaussianNoise",
    "HorizontalFlip",
    "ImageDataset",
    "ImageInfo",
    "ImageSplits",
    "ImageTransform",
    "RandomCrop",
    "VerticalFlip",
    "load_digits",
    "load_image_folder",
    "load_npz",
    "read_image",
    "split_indices",
]


# --------------------------------------------------------------------------------------------------
# Data set containers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    """What a model and a trainer need to know about an image data set.

    ``input_shape`` is ``(C, H, W)``; ``task`` is ``"classification"`` (one int64 class per image) or
    ``"segmentation"`` (an int64 class per pixel, ``n_classes`` counting the background).
    """

    n_classes: int
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]
    task: str = "classification"
    source: str = ""
    split_sizes: tuple[int, int, int] = (0, 0, 0)

    @property
    def in_channels(self) -> int:
        return self.input_shape[0]

    @property
    def input_size(self) -> tuple[int, int]:
        """``(H, W)``, the ``input_size`` argument of the 2D model builders."""
        return (self.input_shape[1], self.input_shape[2])


class ImageDataset(Dataset):
    """Images held in memory as one float32 tensor ``(N, C, H, W)`` with int64 targets.

    ``targets`` is ``(N,)`` (classes) or ``(N, H, W)`` (per-pixel masks). ``transform`` is called on
    each item: an :class:`ImageTransform` as ``transform(x, y)`` (so masks follow their image), any
    other callable as ``transform(x)``. ``images`` and ``targets`` are public so a trainer can batch
    them directly (and apply the same transforms per batch).
    """

    def __init__(
        self,
        images: Tensor,
        targets: Tensor,
        transform: Callable[..., Any] | None = None,
    ) -> None:
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if targets.shape[0] != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {targets.shape[0]} targets")
        if targets.ndim not in (1, 3) or (targets.ndim == 3 and targets.shape[1:] != images.shape[2:]):
            raise ValueError(
                f"targets must be (N,) or (N, H, W) matching the images, got {tuple(targets.shape)}"
            )
        self.images = images.to(torch.float32).contiguous()
        self.targets = targets.to(torch.int64).contiguous()
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        x, y = self.images[index], self.targets[index]
        if self.transform is not None:
            x, y = apply_transform(self.transform, x, y)
        return x, y


class ImageSplits(NamedTuple):
    """``(train, valid, test, info)`` as returned by every loader."""

    train: ImageDataset
    valid: ImageDataset
    test: ImageDataset
    info: ImageInfo


def apply_transform(transform: Callable[..., Any], x: Tensor, y: Tensor | None = None) -> Any:
    """Apply ``transform`` to an image or batch ``x`` with target ``y``; returns ``(x, y)``."""
    if isinstance(transform, ImageTransform):
        return transform(x, y)
    return transform(x), y


# --------------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------------


def split_indices(
    labels: np.ndarray | Sequence[int] | int,
    *,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded, stratified train/valid/test indices.

    ``labels`` is one class per item (or an item count, for an unstratified split). The test split
    holds ``round(n * test_fraction)`` items, the validation split ``round(n * valid_fraction)``, the
    training split the rest; each class is spread over the three in proportion. Indices are sorted.
    """
    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1 and valid_fraction + test_fraction < 1):
        raise ValueError(
            f"valid_fraction ({valid_fraction}) and test_fraction ({test_fraction}) must be in [0, 1) "
            "and sum to less than 1"
        )
    y = np.zeros(labels, dtype=np.int64) if isinstance(labels, int) else np.asarray(labels).reshape(-1)
    n = y.shape[0]
    rng = np.random.default_rng(seed)
    # each item gets a position in [0, 1) spread evenly within its class in random order; sorting
    # by position interleaves the classes, so any contiguous chunk is (nearly) stratified
    position = np.empty(n, dtype=np.float64)
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        order = rng.permutation(members.shape[0])
        position[members[order]] = (np.arange(members.shape[0]) + rng.random()) / members.shape[0]
    ranked = np.lexsort((rng.random(n), position))
    n_test = int(round(n * test_fraction))
    n_valid = int(round(n * valid_fraction))
    test = np.sort(ranked[:n_test])
    valid = np.sort(ranked[n_test : n_test + n_valid])
    train = np.sort(ranked[n_test + n_valid :])
    return train, valid, test


def make_splits(
    images: Tensor,
    targets: Tensor,
    *,
    class_names: Sequence[str],
    task: str,
    source: str,
    valid_fraction: float,
    test_fraction: float,
    seed: int,
    transform: Callable[..., Any] | None,
) -> ImageSplits:
    strata = targets.numpy() if targets.ndim == 1 else targets.shape[0]
    train_i, valid_i, test_i = split_indices(
        strata, valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed
    )
    datasets = [
        ImageDataset(images[torch.from_numpy(idx)], targets[torch.from_numpy(idx)], t)
        for idx, t in ((train_i, transform), (valid_i, None), (test_i, None))
    ]
    info = ImageInfo(
        n_classes=len(class_names),
        class_names=tuple(class_names),
        input_shape=tuple(images.shape[1:]),  # type: ignore[arg-type]
        task=task,
        source=source,
        split_sizes=(len(train_i), len(valid_i), len(test_i)),
    )
    return ImageSplits(*datasets, info)


# --------------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------------


def load_digits(
    *,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    transform: Callable[..., Any] | None = None,
) -> ImageSplits:
    """The 8x8 handwritten digits shipped with scikit-learn (1,797 images, classes "0".."9").

    Images are ``(1, 8, 8)`` float32 scaled from 0..16 to [0, 1]. No network access is needed.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32) / 16.0).unsqueeze(1)
    targets = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    names = [str(c) for c in bunch.target_names]
    return make_splits(
        images,
        targets,
        class_names=names,
        task="classification",
        source="sklearn digits",
        valid_fraction=valid_fraction,
        test_fraction=test_fraction,
        seed=seed,
        transform=transform,
    )


def _read_image(path: Path, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """One image file as a ``(C, H, W)`` uint8 array in Pillow ``mode`` ("L" or "RGB")."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            img = img.convert(mode)
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot read image: {exc}", file=str(path)) from exc
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def read_image(
    path: str | Path, *, channels: int | None = None, size: tuple[int, int] | None = None
) -> Tensor:
    """One PNG/JPEG file as a float32 ``(C, H, W)`` tensor in [0, 1].

    ``channels`` 1 (grayscale) or 3 (RGB); by default the file's own (1 for grayscale files, else 3).
    ``size=(H, W)`` resizes (bilinear). An unreadable file raises ``InputError`` naming it.
    """
    path = Path(path)
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if channels is None:
        channels = 1 if _image_mode(path) in GRAY_MODES else 3
    array = _read_image(path, "L" if channels == 1 else "RGB", size)
    return torch.from_numpy(array.astype(np.float32) / 255.0)


def _image_mode(path: Path) -> str:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.mode
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot read image: {exc}", file=str(path)) from exc


def load_image_folder(
    root: str | Path,
    *,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    transform: Callable[..., Any] | None = None,
) -> ImageSplits:
    """Images in ``root/<class name>/`` (PNG or JPEG), one sub-folder per class.

    Classes are the sub-folders holding at least one image, in sorted order; files with other
    suffixes are ignored. ``size=(H, W)`` resizes every image (bilinear); without it all images must
    share one size. ``channels`` is 1 (grayscale) or 3 (RGB); by default 1 when every image is
    grayscale, else 3. Pixels are scaled to [0, 1]. All images are read into memory.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            "image folder not found (expected one sub-folder of images per class)", file=str(root)
        )
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    classes: list[tuple[str, list[Path]]] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in sub.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            classes.append((sub.name, files))
    if not classes:
        raise InputError(
            "no classes: expected sub-folders holding .png/.jpg/.jpeg images, one per class", file=str(root)
        )
    paths = [(f, label) for label, (_, files) in enumerate(classes) for f in files]
    if channels is None:
        channels = 1 if all(_image_mode(f) in GRAY_MODES for f, _ in paths) else 3
    mode = "L" if channels == 1 else "RGB"
    arrays: list[np.ndarray] = []
    for f, _ in paths:
        array = _read_image(f, mode, size)
        if arrays and array.shape != arrays[0].shape:
            raise InputError(
                f"image is {array.shape[1]}x{array.shape[2]} but {paths[0][0].name} is "
                f"{arrays[0].shape[1]}x{arrays[0].shape[2]}; pass size=(H, W) to resize",
                file=str(f),
            )
        arrays.append(array)
    images = torch.from_numpy(np.stack(arrays).astype(np.float32) / 255.0)
    targets = torch.tensor([label for _, label in paths], dtype=torch.int64)
    return make_splits(
        images,
        targets,
        class_names=[name for name, _ in classes],
        task="classification",
        source=str(root),
        valid_fraction=valid_fraction,
        test_fraction=test_fraction,
        seed=seed,
        transform=transform,
    )


def load_npz(
    path: str | Path,
    *,
    channels_last: bool = False,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    transform: Callable[..., Any] | None = None,
) -> ImageSplits:
    """Images and labels from a ``.npz`` holding ``x`` and ``y`` (never unpickled).

    ``x``: ``(N, C, H, W)`` (``(N, H, W, C)`` with ``channels_last=True``) or ``(N, H, W)`` for one
    channel; uint8 is scaled to [0, 1], other numbers are used as they are. ``y``: ``(N,)`` integer
    classes, or ``(N, H, W)`` integer masks for segmentation. An optional ``class_names`` array of
    strings names the classes (its length is then the class count).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            missing = [k for k in ("x", "y") if k not in keys]
            if missing:
                raise InputError(
                    f"npz lacks array(s) {', '.join(missing)} (found: {', '.join(sorted(keys)) or 'none'}); "
                    "expected x (images) and y (labels)",
                    file=str(path),
                )
            x = npz["x"]
            y = npz["y"]
            names = npz["class_names"] if "class_names" in keys else None
    except InputError:
        raise
    except FileNotFoundError as exc:
        raise InputError("npz file not found", file=str(path)) from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise InputError(
            f"cannot read npz (need plain arrays x and y, no pickles): {exc}", file=str(path)
        ) from exc

    def bad(message: str) -> InputError:
        return InputError(message, file=str(path))

    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise bad(f"x must be numeric, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        if channels_last:
            x = x.transpose(0, 3, 1, 2)
    else:
        raise bad(f"x must be (N, C, H, W) or (N, H, W), got shape {x.shape}")
    if y.ndim not in (1, 3) or y.shape[0] != x.shape[0]:
        raise bad(f"y must be (N,) labels or (N, H, W) masks with N = {x.shape[0]}, got shape {y.shape}")
    if y.ndim == 3 and y.shape[1:] != x.shape[2:]:
        raise bad(f"masks y are {y.shape[1]}x{y.shape[2]} but images x are {x.shape[2]}x{x.shape[3]}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise bad("y must hold integer class indices")
    elif not np.issubdtype(y.dtype, np.integer):
        raise bad(f"y must hold integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise bad(f"y holds a negative class index ({y.min()})")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    else:
        x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise bad("x holds NaN or infinite values")
    n_classes = int(y.max()) + 1 if y.size else 0
    if names is not None:
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise bad("class_names must be a 1-D array of strings")
        class_names = [str(n) for n in names.astype(str)]
        if len(class_names) < n_classes:
            raise bad(f"y holds class {n_classes - 1} but class_names names only {len(class_names)} classes")
    else:
        class_names = [str(i) for i in range(n_classes)]
    return make_splits(
        torch.from_numpy(np.ascontiguousarray(x)),
        torch.from_numpy(np.ascontiguousarray(y)),
        class_names=class_names,
        task="segmentation" if y.ndim == 3 else "classification",
        source=str(path),
        valid_fraction=valid_fraction,
        test_fraction=test_fraction,
        seed=seed,
        transform=transform,
    )
