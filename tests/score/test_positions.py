"""Per-position models in tiles: the tiled outputs equal one forward pass over the N-padded sequence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.errors import ConfigError, InputError
from seqcnn.modelfile import ModelMetadata
from seqcnn.score.positions import plan_tiling, predict_positions
from seqcnn.seq.encode import one_hot, reverse_complement


class CroppingToy(nn.Module):
    """Fully convolutional, no padding: ``(N, 4, L) -> (N, 3, L - crop)``, ``crop = k1 - 1 + 2 (k2 - 1)``."""

    def __init__(self, k1: int = 5, k2: int = 3, input_length: int | None = None, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv1d(4, 6, k1)
        self.conv2 = nn.Conv1d(6, 3, k2, dilation=2)
        self.input_length = input_length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.conv1(x)))


def _random_seq(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), size=n))


def _whole_pass(model: nn.Module, seq: str, crop: int) -> np.ndarray:
    """The naive reference: one forward pass over the sequence padded with N, (L, T)."""
    padded = "N" * (crop // 2) + seq + "N" * (crop - crop // 2)
    with torch.no_grad():
        out = model(torch.from_numpy(one_hot(padded))[None].to(torch.float64))
    return out[0].T.numpy()


@pytest.mark.parametrize(("k1", "input_length", "tile"), [(5, 24, None), (4, 24, None), (5, None, 7)],
                         ids=["fixed-even-crop", "fixed-odd-crop", "any-length"])
def test_tiles_equal_one_whole_forward_pass(k1: int, input_length: int | None, tile: int | None) -> None:
    model = CroppingToy(k1=k1, input_length=input_length).double()
    crop = k1 - 1 + 4
    tiling = plan_tiling(model, tile=tile)
    assert (tiling.crop, tiling.n_tasks) == (crop, 3)
    assert tiling.tile == (input_length - crop if input_length else tile)
    seqs = [_random_seq(n, seed=n) for n in (50, 3, 17)]  # several tiles, fewer bases than one tile
    got = predict_positions(model, seqs, logits=True, tile=tile, batch_size=2)
    for seq, values in zip(seqs, got, strict=True):
        assert values.shape == (len(seq), 3)
        np.testing.assert_allclose(values, _whole_pass(model, seq, crop), rtol=0, atol=1e-5)


def test_multiclass_softmax_over_classes_at_each_position() -> None:
    model = CroppingToy(input_length=24).double()
    model.metadata = ModelMetadata("toy", tasks=["neither", "acceptor", "donor"], task_type="multiclass")
    seq = _random_seq(30, seed=1)
    probs = predict_positions(model, seq)[0]
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-6)
    raw = torch.from_numpy(_whole_pass(model, seq, 8))
    np.testing.assert_allclose(probs, torch.softmax(raw, dim=1).numpy(), atol=1e-6)
    donor = predict_positions(model, seq, target="donor")[0]
    np.testing.assert_allclose(donor[:, 0], probs[:, 2], atol=1e-7)


def test_rc_mean_averages_the_flipped_reverse_strand() -> None:
    model = CroppingToy(input_length=24).double()  # crop 8: even
    seq = _random_seq(40, seed=2)
    forward = _whole_pass(model, seq, 8)
    reverse = _whole_pass(model, reverse_complement(seq), 8)[::-1]
    got = predict_positions(model, seq, rc="mean", logits=True)[0]
    np.testing.assert_allclose(got, (forward + reverse) / 2, atol=1e-5)


def test_bad_uses_are_config_or_input_errors() -> None:
    odd = CroppingToy(k1=4, input_length=24)
    with pytest.raises(ConfigError, match="even"):
        predict_positions(odd, "ACGT" * 10, rc="mean")
    with pytest.raises(ConfigError, match="positions per input"):
        plan_tiling(odd, tile=5)
    scalar = nn.Sequential(nn.Conv1d(4, 2, 3), nn.AdaptiveMaxPool1d(1), nn.Flatten())
    with pytest.raises(ConfigError, match="per-position"):
        plan_tiling(scalar)
    with pytest.raises(InputError) as info:
        predict_positions(odd, "ACGTAC-GT")
    assert info.value.position == 7


def test_model_is_given_back_as_it_was() -> None:
    model = CroppingToy(input_length=24).train()
    model.conv1.weight.requires_grad_(False)
    predict_positions(model, "ACGT" * 12)
    assert model.training and model.conv1.training
    assert not model.conv1.weight.requires_grad and model.conv2.weight.requires_grad
