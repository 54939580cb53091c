"""Attributions combine strands as scoring does (``rc``): checked against completeness and by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.interpret.attribution import attribute
from seqcnn.seq.encode import one_hot


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(4, 6, 5), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 36, 2)).eval()


def _seqs(n: int = 3, length: int = 40) -> np.ndarray:
    rng = np.random.default_rng(1)
    return one_hot(["".join(rng.choice(list("ACGT"), length)) for _ in range(n)])


def test_mean_strand_ig_is_complete_for_the_mean_output() -> None:
    """Integrated gradients of the strand-mean output sum to mean(f(x), f(rc x)) - the same at zero."""
    model, x = _model(), _seqs()
    result = attribute(model, x, "ig", target=1, rc="mean", steps=200)
    with torch.no_grad():
        t = torch.from_numpy(x)
        mean_out = (model(t)[:, 1] + model(t.flip(1, 2))[:, 1]) / 2
        zero = model(torch.zeros_like(t))[:, 1]
    np.testing.assert_allclose(result.actual.sum((1, 2)), (mean_out - zero).numpy(), rtol=1e-3, atol=1e-3)


def test_mean_strand_saliency_is_the_average_of_both_strands_mapped_back() -> None:
    model, x = _model(), _seqs()
    both = attribute(model, x, "saliency", target=0, rc="mean")
    forward = attribute(model, x, "saliency", target=0, rc="none")
    reverse = attribute(model, x[:, ::-1, ::-1].copy(), "saliency", target=0, rc="none")
    expected = (forward.hypothetical + reverse.hypothetical[:, ::-1, ::-1]) / 2
    np.testing.assert_allclose(both.hypothetical, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(forward.hypothetical, both.hypothetical)  # the reverse strand really counts


def test_max_strand_takes_the_higher_scoring_strand() -> None:
    model, x = _model(), _seqs(6)
    best = attribute(model, x, "saliency", target=0, rc="max")
    forward = attribute(model, x, "saliency", target=0, rc="none")
    reverse = attribute(model, x[:, ::-1, ::-1].copy(), "saliency", target=0, rc="none")
    with torch.no_grad():
        t = torch.from_numpy(x)
        keep = (model(t)[:, 0] >= model(t.flip(1, 2))[:, 0]).numpy()
    assert 0 < keep.sum() < len(keep)  # both cases occur in this draw
    expected = np.where(keep[:, None, None], forward.hypothetical, reverse.hypothetical[:, ::-1, ::-1])
    np.testing.assert_allclose(best.hypothetical, expected, rtol=1e-5, atol=1e-6)


def test_rc_default_follows_the_model_file() -> None:
    from seqcnn.modelfile import load_model

    model = load_model("data/example/model.safetensors", device="cpu")
    assert model.metadata.rc_mode == "mean"
    x = _seqs(2, 200)
    default = attribute(model, x, "saliency", target=0)
    np.testing.assert_array_equal(default.actual, attribute(model, x, "saliency", target=0, rc="mean").actual)
    with pytest.raises(Exception, match="rc mode"):
        attribute(model, x, "saliency", target=0, rc="both")
