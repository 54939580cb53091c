"""Figures: formats by extension, atomic writes, and that the plotted data are the data given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqcnn.errors import InputError
from seqcnn.interpret.embed import Projection
from seqcnn.report.maps import (
    activation_maps_figure,
    attribution_logo_figure,
    default_importance,
    image_overlay_figure,
    kernel_grid_figure,
    logo_matrix,
    mutation_map_figure,
    plot_attribution_logo,
    plot_image_overlay,
    plot_mutation_map,
    projections_figure,
    save_figure,
)

MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}


def delta_and_sequence(length: int = 12) -> tuple[np.ndarray, str]:
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), length))
    delta = rng.normal(size=(4, length))
    delta["ACGT".index(seq[0]), 0] = 0.0
    for p, base in enumerate(seq):
        delta["ACGT".index(base), p] = 0.0
    return delta, seq


@pytest.mark.parametrize("suffix", sorted(MAGIC))
def test_mutation_map_written_in_the_format_of_the_extension(tmp_path: Path, suffix: str) -> None:
    delta, seq = delta_and_sequence()
    path = plot_mutation_map(delta, seq, tmp_path / f"map{suffix}", title="record 1")
    assert path.read_bytes().startswith(MAGIC[suffix])
    assert [p.name for p in tmp_path.iterdir()] == [f"map{suffix}"]  # no temporary left behind


def test_heat_map_shows_the_deltas_and_logo_the_importance() -> None:
    delta, seq = delta_and_sequence()
    fig = mutation_map_figure(delta, seq)
    heat = next(ax for ax in fig.axes if ax.images)
    np.testing.assert_array_equal(np.asarray(heat.images[0].get_array()), delta)
    lo, hi = heat.images[0].get_clim()
    assert lo == -hi == -np.abs(delta).max()  # symmetric colour scale
    bases = np.array(["ACGT".index(b) for b in seq])
    expected = np.array([max(-delta[b, p] for b in range(4) if b != bases[p]) for p in range(len(seq))])
    np.testing.assert_allclose(default_importance(delta, bases), expected)
    matrix = logo_matrix(expected, bases)
    assert matrix.shape == (len(seq), 4)
    np.testing.assert_allclose(matrix.to_numpy()[np.arange(len(seq)), bases], expected)
    assert np.count_nonzero(matrix.to_numpy()) == np.count_nonzero(expected)


def test_unknown_bases_get_no_letter_and_one_hot_sequences_work() -> None:
    delta, seq = delta_and_sequence(5)
    onehot = np.zeros((4, 5))
    onehot[["ACGT".index(b) for b in seq], np.arange(5)] = 1
    onehot[:, 2] = 0.25
    bases = np.array([-1 if onehot[:, p].max() < 1 else onehot[:, p].argmax() for p in range(5)])
    assert np.all(logo_matrix(np.ones(5), bases).to_numpy()[2] == 0)
    mutation_map_figure(delta, onehot)


def test_bad_shapes_and_extensions(tmp_path: Path) -> None:
    delta, seq = delta_and_sequence()
    with pytest.raises(InputError, match="unknown figure format"):
        plot_mutation_map(delta, seq, tmp_path / "map.jpg")
    with pytest.raises(InputError, match="does not exist"):
        plot_mutation_map(delta, seq, tmp_path / "missing" / "map.png")
    with pytest.raises(InputError, match="positions"):
        mutation_map_figure(delta, seq[:-1])
    with pytest.raises(InputError):
        attribution_logo_figure(np.zeros((3, 5)))
    assert list(tmp_path.iterdir()) == []


def test_attribution_logo_and_image_overlay(tmp_path: Path) -> None:
    contributions = np.zeros((4, 10))
    contributions[2, 3] = 1.5
    contributions[0, 7] = -0.5
    fig = attribution_logo_figure(contributions, title="x")
    lo, hi = fig.axes[0].get_ylim()
    assert lo <= -0.5 and hi >= 1.5
    assert plot_attribution_logo(contributions, tmp_path / "logo.svg").read_bytes().startswith(b"<?xml")
    image = np.random.default_rng(0).random((3, 8, 8))
    heat = np.arange(64.0).reshape(8, 8)
    overlay = image_overlay_figure(image, heat, title="cam")
    np.testing.assert_array_equal(np.asarray(overlay.axes[1].images[1].get_array()), heat)
    assert plot_image_overlay(image[:1], heat, tmp_path / "cam.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(InputError, match="does not match"):
        image_overlay_figure(image, heat[:4])


def test_kernel_activation_and_projection_figures(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    assert len(kernel_grid_figure(rng.normal(size=(6, 3, 5, 5))).axes) == 6
    assert len(activation_maps_figure(rng.normal(size=(5, 7, 7))).axes) == 5
    projections = [Projection(f"layer{i}", "pca", rng.normal(size=(20, 2)), np.repeat([0, 1], 10), 0.1)
                   for i in range(2)]
    fig = projections_figure(projections, class_names=["neg", "pos"])
    assert "silhouette 0.10" in fig.axes[0].get_title()
    assert save_figure(fig, tmp_path / "proj.png").stat().st_size > 0
