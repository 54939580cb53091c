"""Information-scaled logos: letter heights in bits, PNG output that shows the letters it should."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from seqcnn.errors import InputError
from seqcnn.report import logos
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


def _jobs(n: int) -> list[tuple[np.ndarray, str]]:
    rng = np.random.default_rng(0)
    return [(rng.dirichlet(np.full(4, 0.3), size=3 + i % 4), f"m{i}") for i in range(n)]


def test_logo_pngs_pool_gives_the_same_bytes_in_order(monkeypatch):
    pools = []
    real = logos.ProcessPoolExecutor

    def counted(*args, **kwargs):
        pools.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(logos, "ProcessPoolExecutor", counted)
    monkeypatch.setattr(logos, "LOGOS_PER_WORKER", 2)
    jobs = _jobs(5)
    pooled = logos.logo_pngs(jobs, workers=2)
    assert pools == [(2,)]  # drawn by a pool of two workers
    assert pooled == [logo_png(pwm, title=title) for pwm, title in jobs]


def test_logo_pngs_few_logos_or_no_processes_draw_in_process(monkeypatch):
    jobs = _jobs(3)
    serial = [logo_png(pwm, title=title) for pwm, title in jobs]

    def refuse(*args, **kwargs):
        raise OSError("no processes in this sandbox")

    monkeypatch.setattr(logos, "ProcessPoolExecutor", refuse)
    assert logos.logo_pngs(jobs, workers=2) == serial  # 3 < 2 * LOGOS_PER_WORKER: no pool asked for
    monkeypatch.setattr(logos, "LOGOS_PER_WORKER", 1)
    assert logos.logo_pngs(jobs, workers=2) == serial  # pool asked for, refused: drawn here


def test_logo_pngs_bad_matrix_in_a_worker_raises_input_error(monkeypatch):
    monkeypatch.setattr(logos, "LOGOS_PER_WORKER", 1)
    with pytest.raises(InputError, match="row 0 of the matrix is all zero"):
        logos.logo_pngs([*_jobs(2), (np.zeros((3, 4)), "bad")], workers=2)
