"""From a DataConfig to in-memory train/valid/test tensors, batches and augmentations.

Both sequence data (:mod:`seqcnn.data.sequences`, int8 ``(N, 4, L)``) and image data
(:mod:`seqcnn.data.images`, float32 ``(N, C, H, W)``) are held as whole tensors, so a batch is
one fancy-indexing call (no per-item Python work) and augmentations run on whole batches on the
training device with a seeded CPU generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, DistributedSampler

from seqcnn.config import DataConfig
from seqcnn.data import images as image_data
from seqcnn.data.sequences import SequenceAugment, load_sequence_splits
from seqcnn.data.shapes import synthetic_segmentation
from seqcnn.errors import ConfigError
from seqcnn.seq.encode import upcast

Augment = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass
class PreparedData:
    """Splits plus what the model builder and the model file need to know."""

    train: Dataset
    valid: Dataset
    test: Dataset
    tasks: list[str]
    task_type: str
    modality: str  # "sequence" or "image"
    input_shape: tuple[int, ...]  # (4, L) or (C, H, W)
    model_defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def input_length(self) -> int | None:
        return self.input_shape[-1] if self.modality == "sequence" else None


def prepare_data(cfg: DataConfig, *, seed: int = 0) -> PreparedData:
    """Load and split the data ``cfg`` names."""
    if cfg.kind == "images":
        return _prepare_images(cfg, seed)
    splits = load_sequence_splits(cfg, seed=seed)
    n_outputs = len(splits.tasks)
    return PreparedData(
        splits.train,
        splits.valid,
        splits.test,
        splits.tasks,
        splits.task_type,
        "sequence",
        (4, splits.input_length),
        {"n_tasks": n_outputs, "input_length": splits.input_length, "in_channels": 4},
    )


def _prepare_images(cfg: DataConfig, seed: int) -> PreparedData:
    fractions = {
        "valid_fraction": cfg.split[1] / sum(cfg.split),
        "test_fraction": cfg.split[2] / sum(cfg.split),
    }
    source = cfg.images
    options = {**fractions, "seed": seed, **cfg.options}
    try:
        if source == "digits":
            splits = image_data.load_digits(**options)
        elif source == "segmentation":
            splits = synthetic_segmentation(**options)
        elif source in ("folder", "npz"):
            if cfg.path is None:
                raise ConfigError(f"data.path is required for data.images {source!r}")
            loader = image_data.load_image_folder if source == "folder" else image_data.load_npz
            splits = loader(cfg.path, **options)
        else:
            raise ConfigError(
                "data.images must be one of digits, folder, npz, segmentation for data.kind 'images'"
            )
    except TypeError as exc:
        raise ConfigError(f"data.options: {exc}") from exc
    info = splits.info
    allowed = {"classification": ("multiclass", "reconstruction"), "segmentation": ("segmentation",)}[
        info.task
    ]
    if cfg.task_type not in allowed:
        raise ConfigError(
            f"data.task_type must be {' or '.join(allowed)} for {info.task} images "
            f"(data.images {source!r}), got {cfg.task_type!r}"
        )
    train, valid, test = (_limit(ds, cfg.limit) for ds in (splits.train, splits.valid, splits.test))
    return PreparedData(
        train,
        valid,
        test,
        list(info.class_names),
        cfg.task_type,
        "image",
        tuple(info.input_shape),
        {"num_classes": info.n_classes, "in_channels": info.in_channels, "input_size": list(info.input_size)},
    )


def _limit(ds: Any, limit: int | None) -> Any:
    if limit is None or len(ds) <= limit:
        return ds
    return image_data.ImageDataset(ds.images[:limit], ds.targets[:limit])


def tensors(ds: Any) -> tuple[Tensor, Tensor]:
    """The whole split as ``(inputs, targets)`` tensors (int8 sequences or float images)."""
    if hasattr(ds, "images"):
        return ds.images, ds.targets
    return ds.x, ds.y


def make_augment(cfg: DataConfig, modality: str, generator: torch.Generator) -> Augment | None:
    """The training-batch augmentation the config asks for (None when there is none)."""
    a = cfg.augment
    if modality == "sequence":
        if a.hflip or a.vflip or a.crop or a.noise:
            raise ConfigError(
                "data.augment hflip/vflip/crop/noise are for images; sequences take rc and shift"
            )
        aug = SequenceAugment(rc=a.rc, shift=a.shift, generator=generator)
        return aug if aug.active else None
    if a.rc or a.shift:
        raise ConfigError("data.augment rc/shift are for sequences; images take hflip, vflip, crop, noise")
    steps: list[image_data.ImageTransform] = []
    if a.hflip:
        steps.append(image_data.HorizontalFlip(generator=generator))
    if a.vflip:
        steps.append(image_data.VerticalFlip(generator=generator))
    if a.crop:
        steps.append(image_data.RandomCrop(padding=a.crop, generator=generator))
    if a.noise:
        steps.append(image_data.GaussianNoise(a.noise, clip=(0.0, 1.0), generator=generator))
    if not steps:
        return None
    return image_data.Compose(steps)


def train_batches(
    n: int, batch_size: int, *, epoch: int, seed: int, rank: int = 0, world: int = 1
) -> list[Tensor]:
    """This rank's shuffled index batches for ``epoch`` (DistributedSampler order; the same seed and
    epoch give the same batches, which is what makes mid-epoch resume exact). The last partial batch
    is dropped unless it would be the only one."""
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    index = torch.tensor(list(sampler), dtype=torch.int64)
    batches = list(index.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def eval_batches(n: int, batch_size: int, *, rank: int = 0, world: int = 1) -> list[Tensor]:
    """This rank's unpadded shard ``rank, rank + world, ...`` of ``range(n)`` in batches."""
    return list(torch.arange(rank, n, world, dtype=torch.int64).split(batch_size))


def to_model_input(x: Tensor, modality: str, *, n_value: float, channels_last: bool) -> Tensor:
    """Upcast an int8 sequence batch (N columns -> ``n_value``) or pass an image batch through."""
    if modality == "sequence":
        return upcast(x, n_value=n_value)
    x = x.float()
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
