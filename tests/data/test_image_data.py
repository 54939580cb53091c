"""Image data: digits, image folders, npz arrays, synthetic segmentation, augmentations, bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from seqcnn.data.images import (
    Compose,
    GaussianNoise,
    HorizontalFlip,
    ImageDataset,
    RandomCrop,
    VerticalFlip,
    load_digits,
    load_image_folder,
    load_npz,
    read_image,
    split_indices,
)
from seqcnn.data.shapes import synthetic_segmentation
from seqcnn.errors import InputError

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"


# ---------------------------------------------------------------------------- digits and splitting


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


def test_digits_split_sizes_and_contents(digits) -> None:
    train, valid, test, info = digits
    # 1797 images: test round(0.2 * 1797) = 359, valid round(0.1 * 1797) = 180, train the rest
    assert (len(train), len(valid), len(test)) == (1258, 180, 359)
    assert info.split_sizes == (1258, 180, 359)
    assert info.n_classes == 10 and info.class_names == tuple("0123456789")
    assert info.input_shape == (1, 8, 8) and info.input_size == (8, 8) and info.task == "classification"
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    every = torch.cat([train.images, valid.images, test.images])
    assert every.min() == 0.0 and every.max() == 1.0  # 0..16 scaled by 1/16
    # the three splits are a partition of the 1797 images: compare against sklearn's own array
    from sklearn.datasets import load_digits as sk_digits

    reference = torch.from_numpy(sk_digits().images.astype(np.float32) / 16).flatten(1)
    rows = {tuple(r.tolist()) for r in every.flatten(1)}
    assert rows == {tuple(r.tolist()) for r in reference}
    # stratified: every class in every split, test counts within one of 359/10
    for split in (train, valid, test):
        assert set(split.targets.tolist()) == set(range(10))
    counts = torch.bincount(test.targets, minlength=10)
    expected = 359 * np.bincount(sk_digits().target) / 1797
    assert int(counts.sum()) == 359 and np.abs(counts.numpy() - expected).max() <= 1


def test_digits_split_is_deterministic(digits) -> None:
    again = load_digits(seed=0)
    other = load_digits(seed=1)
    for a, b in zip(digits[:3], again[:3], strict=True):
        assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets)
    assert not torch.equal(digits.test.images, other.test.images)


def test_split_indices_partition_and_fractions() -> None:
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, valid, test = split_indices(labels, valid_fraction=0.1, test_fraction=0.3, seed=3)
    assert (len(train), len(valid), len(test)) == (60, 10, 30)
    assert sorted(np.concatenate([train, valid, test]).tolist()) == list(range(100))
    assert np.bincount(labels[test]).tolist() == [15, 9, 6]  # exactly proportional here
    with pytest.raises(ValueError, match="sum to less than 1"):
        split_indices(10, valid_fraction=0.5, test_fraction=0.5)


# ---------------------------------------------------------------------------- image folders


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "shapes"
    for i in range(6):  # cats: constant gray images of value 10*i, PNG; dogs: JPEG
        _write(root / "cat" / f"c{i}.png", np.full((6, 5), 10 * i, dtype=np.uint8))
        _write(root / "dog" / f"d{i}.jpg", np.full((6, 5), 200, dtype=np.uint8))
    (root / "dog" / "notes.txt").write_text("not an image, ignored")
    (root / "empty_class").mkdir()
    return root


def test_image_folder_loads_grayscale_classes(folder: Path) -> None:
    train, valid, test, info = load_image_folder(folder, valid_fraction=1 / 6, test_fraction=1 / 6, seed=0)
    assert info.class_names == ("cat", "dog") and info.n_classes == 2
    assert info.input_shape == (1, 6, 5)
    assert (len(train), len(valid), len(test)) == (8, 2, 2)
    images = torch.cat([train.images, valid.images, test.images])
    targets = torch.cat([train.targets, valid.targets, test.targets])
    cats = sorted(round(float(v) * 255) for v in images[targets == 0][:, 0, 0, 0])
    assert cats == [0, 10, 20, 30, 40, 50]  # PNG is lossless: exact values back
    assert torch.allclose(images[targets == 1], torch.tensor(200 / 255), atol=2 / 255)  # JPEG, near


def test_image_folder_rgb_and_resize(tmp_path: Path) -> None:
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    _write(tmp_path / "red" / "a.png", rgb)
    _write(tmp_path / "gray" / "b.png", np.full((8, 8), 255, dtype=np.uint8))
    splits = load_image_folder(tmp_path, size=(3, 3), valid_fraction=0, test_fraction=0)
    assert splits.info.input_shape == (3, 3, 3)  # one colour image -> all read as RGB
    x = dict(zip(splits.train.targets.tolist(), splits.train.images, strict=True))
    assert torch.equal(x[1][0], torch.ones(3, 3)) and torch.equal(x[1][1], torch.zeros(3, 3))  # red
    assert torch.equal(x[0], torch.ones(3, 3, 3))  # white grayscale image, replicated to RGB
    assert read_image(tmp_path / "gray" / "b.png").shape == (1, 8, 8)


def test_image_folder_mixed_sizes_need_size(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "1.png", np.zeros((4, 4), dtype=np.uint8))
    _write(tmp_path / "a" / "2.png", np.zeros((5, 4), dtype=np.uint8))
    with pytest.raises(InputError, match="2.png.*pass size"):
        load_image_folder(tmp_path)


@pytest.mark.parametrize("bad", ["image_truncated.png", "image_garbage.png", "image_empty.png"])
def test_corrupt_image_raises_input_error_naming_it(folder: Path, bad: str) -> None:
    shutil.copy(BAD / bad, folder / "cat" / bad)
    with pytest.raises(InputError) as err:
        load_image_folder(folder)
    assert err.value.file is not None and err.value.file.endswith(bad)
    assert bad in str(err.value)


def test_folder_without_classes_raises(tmp_path: Path) -> None:
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "a.txt").write_text("x")
    with pytest.raises(InputError, match="no classes") as err:
        load_image_folder(tmp_path)
    assert err.value.file == str(tmp_path)
    with pytest.raises(InputError, match="not found"):
        load_image_folder(tmp_path / "missing")


# ---------------------------------------------------------------------------- npz arrays


def test_npz_classification(tmp_path: Path) -> None:
    x = np.arange(10 * 2 * 3 * 3, dtype=np.uint8).reshape(10, 2, 3, 3)
    y = np.array([0, 1] * 5)
    np.savez(tmp_path / "d.npz", x=x, y=y, class_names=np.array(["neg", "pos"]))
    train, valid, test, info = load_npz(tmp_path / "d.npz", valid_fraction=0.2, test_fraction=0.2)
    assert info.class_names == ("neg", "pos") and info.input_shape == (2, 3, 3)
    assert (len(train), len(valid), len(test)) == (6, 2, 2)
    got = torch.cat([train.images, valid.images, test.images])
    assert sorted(got.flatten().mul(255).round().long().tolist()) == list(range(180))


def test_npz_channels_last_floats_and_masks(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((4, 5, 6, 3)).astype(np.float64)
    masks = np.zeros((4, 5, 6), dtype=np.int16)
    masks[:, 1:3, 2:4] = 2
    np.savez(tmp_path / "seg.npz", x=x, y=masks)
    splits = load_npz(tmp_path / "seg.npz", channels_last=True, valid_fraction=0, test_fraction=0.25)
    assert splits.info.task == "segmentation" and splits.info.n_classes == 3
    assert splits.info.input_shape == (3, 5, 6)
    whole = load_npz(tmp_path / "seg.npz", channels_last=True, valid_fraction=0, test_fraction=0).train
    assert torch.allclose(whole.images, torch.from_numpy(x.transpose(0, 3, 1, 2)).float())
    assert torch.equal(whole.targets, torch.from_numpy(masks).long())
    assert splits.train.targets.shape == (3, 5, 6) and splits.train.targets.dtype == torch.int64


def test_npz_bad_files_raise_input_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "nokeys.npz", images=np.zeros((2, 4, 4)), y=np.zeros(2))
    with pytest.raises(InputError, match="lacks array.*x") as err:
        load_npz(tmp_path / "nokeys.npz")
    assert err.value.file.endswith("nokeys.npz")
    # an object array needs pickle to read: refused, never unpickled
    np.savez(tmp_path / "pickled.npz", x=np.zeros((2, 4, 4)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(InputError, match="pickle") as err:
        load_npz(tmp_path / "pickled.npz")
    assert err.value.file.endswith("pickled.npz")
    with pytest.raises(InputError) as err:
        load_npz(BAD / "image_npz_not_zip.npz")
    assert "image_npz_not_zip.npz" in str(err.value)
    np.savez(tmp_path / "floaty.npz", x=np.zeros((2, 4, 4)), y=np.array([0.5, 1.0]))
    with pytest.raises(InputError, match="integer class"):
        load_npz(tmp_path / "floaty.npz")
    np.savez(tmp_path / "short.npz", x=np.zeros((2, 4, 4)), y=np.array([0, 1, 1]))
    with pytest.raises(InputError, match="N = 2"):
        load_npz(tmp_path / "short.npz")


# ---------------------------------------------------------------------------- synthetic segmentation


def test_synthetic_segmentation_shapes_and_masks() -> None:
    train, valid, test, info = synthetic_segmentation(n=40, size=24, seed=5)
    assert info.task == "segmentation" and info.n_classes == 4 and info.input_shape == (1, 24, 24)
    assert (len(train), len(valid), len(test)) == (28, 4, 8)
    x, mask = train[0]
    assert x.shape == (1, 24, 24) and mask.shape == (24, 24) and mask.dtype == torch.int64
    masks = torch.cat([train.targets, valid.targets, test.targets])
    assert set(masks.unique().tolist()) == {0, 1, 2, 3}
    images = torch.cat([train.images, valid.images, test.images])[:, 0]
    # shapes are painted brighter (>= 0.55) than the background (<= 0.3), noise sd 0.1
    assert images[masks > 0].mean() > images[masks == 0].mean() + 0.3
    again = synthetic_segmentation(n=40, size=24, seed=5)
    assert torch.equal(again.train.images, train.images) and torch.equal(again.test.targets, test.targets)


# ---------------------------------------------------------------------------- augmentations


def _image_and_mask(n: int = 16, h: int = 6, w: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch whose first channel equals its mask, so any spatial transform keeps them equal."""
    mask = torch.randint(1, 5, (n, h, w), generator=torch.Generator().manual_seed(0))
    return torch.stack([mask.float(), torch.zeros(n, h, w)], dim=1), mask


def test_flips_known_answers() -> None:
    x = torch.arange(12.0).reshape(1, 3, 4)
    assert torch.equal(HorizontalFlip(p=1.0)(x), x.flip(-1))
    assert torch.equal(VerticalFlip(p=1.0)(x), x.flip(-2))
    assert torch.equal(HorizontalFlip(p=0.0)(x), x)
    label = torch.tensor(3)
    x2, y2 = HorizontalFlip(p=1.0)(x, label)
    assert torch.equal(x2, x.flip(-1)) and y2 is label


def test_batch_flip_is_per_image_and_moves_masks() -> None:
    x, mask = _image_and_mask(n=64)
    out, out_mask = HorizontalFlip(p=0.5, generator=torch.Generator().manual_seed(1))(x, mask)
    flipped = torch.tensor(
        [torch.equal(o, m.flip(-1)) and not torch.equal(o, m) for o, m in zip(out, x, strict=True)]
    )
    kept = torch.tensor([torch.equal(o, m) for o, m in zip(out, x, strict=True)])
    assert bool((flipped | kept).all()) and 10 < int(flipped.sum()) < 54
    assert torch.equal(out[:, 0].long(), out_mask)


def test_random_crop_is_a_window_of_the_padded_image() -> None:
    x, mask = _image_and_mask(n=32)
    crop = RandomCrop(padding=2, generator=torch.Generator().manual_seed(2))
    out, out_mask = crop(x, mask)
    assert out.shape == x.shape and out_mask.shape == mask.shape
    assert torch.equal(out[:, 0].long(), out_mask)  # mask padded with 0, image with 0.0
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = set()
    for o, p in zip(out, padded, strict=True):
        hits = [(t, s) for t in range(5) for s in range(5) if torch.equal(p[:, t : t + 6, s : s + 7], o)]
        assert hits, "crop is not a window of the padded image"
        offsets.add(hits[0])
    assert len(offsets) > 5  # offsets are drawn per image
    small = RandomCrop(4)(torch.ones(3, 8, 8))
    assert small.shape == (3, 4, 4)
    with pytest.raises(ValueError, match="larger"):
        RandomCrop(9)(torch.ones(3, 8, 8))


def test_gaussian_noise_statistics_and_seeding() -> None:
    x = torch.zeros(8, 3, 32, 32)
    noisy = GaussianNoise(0.2, generator=torch.Generator().manual_seed(0))(x)
    assert abs(float(noisy.std()) - 0.2) < 0.01 and abs(float(noisy.mean())) < 0.01
    same = GaussianNoise(0.2, generator=torch.Generator().manual_seed(0))(x)
    assert torch.equal(noisy, same)
    clipped = GaussianNoise(0.5, clip=(0.0, 1.0))(x)
    assert clipped.min() >= 0 and clipped.max() <= 1
    _, mask = _image_and_mask()
    _, kept = GaussianNoise(1.0)(torch.zeros(16, 2, 6, 7), mask)
    assert torch.equal(kept, mask)


def test_transform_applies_to_train_split_only_and_batches() -> None:
    torch.manual_seed(0)
    aug = Compose([HorizontalFlip(p=1.0), RandomCrop(padding=1), GaussianNoise(0.1)])
    train, valid, _, _ = synthetic_segmentation(n=20, size=16, seed=0, transform=aug)
    x, mask = train[0]
    assert x.shape == (1, 16, 16) and mask.shape == (16, 16)
    assert not torch.equal(x, train.images[0])  # augmented
    assert torch.equal(valid[0][0], valid.images[0])  # not augmented
    xb, yb = next(iter(DataLoader(train, batch_size=8)))
    assert xb.shape == (8, 1, 16, 16) and yb.shape == (8, 16, 16)
    plain = ImageDataset(torch.zeros(3, 1, 4, 4), torch.tensor([0, 1, 2]), transform=lambda t: t + 1)
    assert torch.equal(plain[1][0], torch.ones(1, 4, 4)) and int(plain[1][1]) == 1
