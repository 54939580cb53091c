"""Figures of in-silico experiments: every format by extension, and shapes that do not fit refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqcnn.errors import InputError
from seqcnn.report.experiment_plots import (
    effect_distribution_figure,
    plot_effects,
    plot_spacing,
    spacing_figure,
)


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plots_follow_the_extension(tmp_path: Path, suffix: str, magic: bytes) -> None:
    values = np.random.default_rng(0).normal(size=(20, 3))
    assert plot_effects(values, ["a", "b", "c"], tmp_path / f"e{suffix}").read_bytes().startswith(magic)
    curve = np.zeros((5, 2))
    path = plot_spacing(np.arange(5), curve, ["a", "b"], tmp_path / f"s{suffix}", sd=curve + 0.1)
    assert path.read_bytes().startswith(magic)


def test_shapes_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\(N, T\) with 2 task"):
        effect_distribution_figure(np.zeros((4, 3)), ["a", "b"])
    with pytest.raises(InputError, match=r"\(D, T\) = \(5, 2\)"):
        spacing_figure(np.arange(5), np.zeros((4, 2)), ["a", "b"])
    with pytest.raises(InputError, match="unknown figure format"):
        plot_effects(np.zeros((2, 1)), ["a"], tmp_path / "e.gif")
    assert not list(tmp_path.iterdir())
