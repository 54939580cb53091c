"""FFT convolution for scoring (seqcnn.score.accel.fft): equal to Conv1d, used only where it pays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seqcnn.models.registry import build_model
from seqcnn.score.accel.fft import FFTConv1d, fft_length, install_fft_convs, set_enabled, worth_it
from seqcnn.score.scorer import Scorer
from seqcnn.score.scoring import score_records


def _smooth(n: int) -> bool:
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


def test_fft_length_is_the_smallest_7_smooth_number_not_below_n() -> None:
    for n in [1, 2, 11, 97, 327, 1000, 4097, 30_001]:
        got = fft_length(n)
        assert got >= n and _smooth(got)
        assert not any(_smooth(m) for m in range(n, got))  # brute force: nothing smaller qualifies


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "padding", "bias", "length"), [
    (300, 200, 11, 0, False, 327),     # Basset's second layer
    (64, 48, 7, "same", True, 150),
    (40, 40, 8, "same", True, 99),     # even kernel: the extra pad on the right, as torch
    (32, 64, 9, 3, True, 60),
])
def test_fft_conv_equals_conv1d(c_in: int, c_out: int, kernel: int, padding: int | str, bias: bool,
                                length: int) -> None:
    torch.manual_seed(kernel)
    conv = nn.Conv1d(c_in, c_out, kernel, padding=padding, bias=bias).eval()
    fft = FFTConv1d(conv)
    x = torch.randn(5, c_in, length)
    with torch.no_grad():
        want = conv(x)
        assert worth_it(kernel, length + sum(fft.padding))
        got = fft(x)
    assert got.shape == want.shape and got.is_contiguous()
    assert float((got - want).abs().max()) < 1e-5 * float(want.abs().max())


def test_falls_back_where_the_fft_does_not_pay_or_gradients_are_on() -> None:
    torch.manual_seed(0)
    conv = nn.Conv1d(64, 64, 5).eval()
    fft = FFTConv1d(conv)
    x = torch.randn(2, 64, 6)  # two output positions: direct is cheaper
    assert not worth_it(5, 6)
    with torch.no_grad():
        assert torch.equal(fft(x), conv(x))
    y = torch.randn(2, 64, 200)
    assert torch.equal(fft(y), conv(y))  # autograd on: the direct convolution
    fft.enabled = False
    with torch.no_grad():
        assert torch.equal(fft(y), conv(y))


@pytest.mark.parametrize("conv", [
    nn.Conv1d(64, 64, 3),                 # narrow kernel
    nn.Conv1d(8, 8, 11),                  # few channels
    nn.Conv1d(64, 64, 11, stride=2),
    nn.Conv1d(64, 64, 11, dilation=2),
    nn.Conv1d(64, 64, 11, groups=4),
    nn.Conv1d(64, 64, 11, padding=5, padding_mode="circular"),
])
def test_unsupported_convolutions_are_left_alone(conv: nn.Conv1d) -> None:
    assert not FFTConv1d.supports(conv)
    model = nn.Sequential(conv)
    assert install_fft_convs(model) == [] and model[0] is conv


def test_basset_scores_with_fft_convs_equal_the_plain_forward() -> None:
    torch.manual_seed(1)
    model = build_model("basset", n_tasks=5, input_length=400).eval()
    scorer, plain = Scorer(model, rc="mean"), Scorer(model, rc="mean", fast=False)
    assert sum(isinstance(m, FFTConv1d) for m in scorer.model.modules()) == 2  # layers 2 and 3
    assert not any(isinstance(m, FFTConv1d) for m in plain.model.modules())
    assert not any(isinstance(m, FFTConv1d) for m in model.modules())  # the caller's model is untouched
    rng = np.random.default_rng(2)
    records = [(f"r{i}", "".join(rng.choice(list("ACGTN"), size=400))) for i in range(12)]
    fast = np.concatenate([s for _, s in score_records(scorer, records, batch_size=5)])
    dense = np.concatenate([s for _, s in score_records(plain, records, batch_size=5)])
    np.testing.assert_allclose(fast, dense, rtol=1e-5, atol=1e-6)
    set_enabled(scorer.model, False)  # the probe's switch: back to the direct convolutions
    again = np.concatenate([s for _, s in score_records(scorer, records, batch_size=5)])
    np.testing.assert_allclose(again, dense, rtol=1e-5, atol=1e-6)
