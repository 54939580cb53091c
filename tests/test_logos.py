"""Information-scaled logos: letter heights in bits, PNG output that shows the letters it should."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from seqcnn.errors import InputError
from seqcnn.report.logos import information_matrix, logo_png, save_logo

ONE_HOT_A = np.array([[1.0, 0, 0, 0]] * 4)
UNIFORM = np.full((4, 4), 0.25)


def test_information_matrix_heights_are_bits():
    heights = information_matrix(np.vstack([ONE_HOT_A[:1], UNIFORM[:1], [[0.5, 0.5, 0, 0]]]))
    assert list(heights.columns) == list("ACGT")
    assert np.allclose(heights.iloc[0], [2, 0, 0, 0])
    assert np.allclose(heights.iloc[1], 0)
    assert np.allclose(heights.iloc[2], [0.5, 0.5, 0, 0])  # 1 bit shared by A and C


def colored_pixels(png: bytes) -> tuple[int, int]:
    """(green-ish, any strongly coloured) pixel counts of a PNG: logomaker's classic A is green."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    green = (g > 100) & (g > r + 60) & (g > b + 60)
    colored = (rgb.max(axis=2) - rgb.min(axis=2)) > 80
    return int(green.sum()), int(colored.sum())


def test_logo_png_draws_informative_letters_only():
    png = logo_png(ONE_HOT_A, title="A4")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    green, _ = colored_pixels(png)
    assert green > 500
    _, colored = colored_pixels(logo_png(UNIFORM))
    assert colored < 20  # zero-information letters have zero height


def test_logo_width_grows_with_length():
    short = Image.open(io.BytesIO(logo_png(ONE_HOT_A[:2])))
    long = Image.open(io.BytesIO(logo_png(np.tile(ONE_HOT_A, (5, 1)))))
    assert long.width > short.width


def test_save_logo_writes_png_and_rejects_missing_dir(tmp_path):
    out = save_logo(ONE_HOT_A, tmp_path / "a.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*part"))
    with pytest.raises(InputError):
        save_logo(ONE_HOT_A, tmp_path / "missing" / "a.png")
    with pytest.raises(InputError):
        logo_png(np.zeros((3, 4)))
