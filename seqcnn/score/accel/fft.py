"""FFT convolution for scoring: wide ``Conv1d`` layers past the first, computed in the frequency domain.

A convolution of ``C_in -> C_out`` channels with a ``K``-wide kernel costs ``C_in C_out K`` multiply-adds
per output position directly. After a real FFT of length ``n >= L`` along the sequence, it is one
complex ``C_in -> C_out`` matrix product per frequency (``n / 2 + 1`` of them), about
``4 (n / 2 + 1) / L'`` real multiply-adds per position and channel pair instead of ``K``: for Basset's
second layer (300 -> 200, K = 11, L = 327) 2.1 instead of 11, and the products are large batched
matrix multiplications that run near this machine's peak. Measured on 256 sequences (2 cores):
oneDNN's direct convolution 613 ms, this path 256 ms (``docs/benchmarks.md``).

Why our own module instead of a library call: PyTorch has no FFT convolution; this is a few lines of
``torch.fft`` and ``torch.bmm``. The result is the cross-correlation ``conv1d`` computes, to float32
rounding (a few 1e-7 of the output scale); the scorer checks a probe batch against the direct
convolution before keeping it. CPU inference only (no autograd needed, none used).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from seqcnn.score.accel.table import conv_padding

MIN_KERNEL = 5  # narrower kernels: the direct convolution wins
MIN_CHANNELS = 32 * 32  # C_in * C_out below this: too small to matter
GAIN = 2.0  # use the FFT path when it needs at most 1 / GAIN of the direct multiply-adds


class FFTConv1d(nn.Module):
    """``conv`` (stride 1, no dilation, one group, zero padding) by FFT; ``(N, C_in, L) -> (N, C_out, L')``.

    Falls back to ``conv`` itself for inputs where the FFT would not pay (see :func:`worth_it`) and
    while ``enabled`` is False (the scorer's probe compares the two).
    """

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        if not self.supports(conv):
            raise ValueError("convolution not supported by FFTConv1d")
        self.conv = conv
        self.kernel = conv.kernel_size[0]
        self.padding = conv_padding(conv)
        self.enabled = True
        self._spectra: dict[int, torch.Tensor] = {}  # FFT length -> (F, C_in, C_out) complex weights

    @staticmethod
    def supports(conv: nn.Module) -> bool:
        """Whether ``conv`` is a CPU float32 ``Conv1d`` (stride 1, no dilation, one group, zero
        padding) wide enough (``MIN_KERNEL``, ``MIN_CHANNELS``) for the FFT to pay."""
        return (isinstance(conv, nn.Conv1d) and conv.stride[0] == 1 and conv.dilation[0] == 1
                and conv.groups == 1 and conv.padding_mode == "zeros" and conv.kernel_size[0] >= MIN_KERNEL
                and conv.in_channels * conv.out_channels >= MIN_CHANNELS
                and conv.weight.dtype == torch.float32 and conv.weight.device.type == "cpu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C_out, L')``: by FFT where it pays (no autograd), else the direct convolution."""
        length = x.shape[-1] + sum(self.padding)
        if not self.enabled or x.dim() != 3 or torch.is_grad_enabled() or not worth_it(self.kernel, length):
            return self.conv(x)
        if any(self.padding):
            x = F.pad(x, self.padding)
        n_fft = fft_length(length)
        spectrum = self._spectra.get(n_fft)
        if spectrum is None:
            spectrum = self._spectra[n_fft] = _weight_spectrum(self.conv.weight, n_fft)
        out_len = length - self.kernel + 1
        freq = torch.fft.rfft(x, n=n_fft)  # (N, C_in, F)
        prod = torch.bmm(freq.permute(2, 0, 1).contiguous(), spectrum)  # (F, N, C_out)
        y = torch.fft.irfft(prod.permute(1, 2, 0), n=n_fft)[:, :, self.kernel - 1 : self.kernel - 1 + out_len]
        if self.conv.bias is not None:
            y = y + self.conv.bias[:, None]
        return y.contiguous()


def worth_it(kernel: int, length: int) -> bool:
    """True when the FFT path needs at most 1 / GAIN of the direct multiply-adds for this length."""
    out_len = length - kernel + 1
    if out_len < 1:
        return False
    n_fft = fft_length(length)
    return 4 * (n_fft // 2 + 1) * GAIN <= kernel * out_len


def fft_length(n: int) -> int:
    """The smallest 7-smooth number (factors 2, 3, 5, 7) at least ``n``: fast FFT sizes."""
    best = 1 << max(0, math.ceil(math.log2(max(n, 1))))
    p7 = 1
    while p7 < best:
        p5 = p7
        while p5 < best:
            p3 = p5
            while p3 < best:
                p2 = p3
                while p2 < n:
                    p2 *= 2
                best = min(best, p2)
                p3 *= 3
            p5 *= 5
        p7 *= 7
    return best


def install_fft_convs(model: nn.Module, skip: nn.Module | None = None) -> list[tuple[str, nn.Module]]:
    """Swap every supported ``Conv1d`` of ``model`` (but those inside ``skip``) for an
    :class:`FFTConv1d`; returns ``(name, original)`` pairs to undo it."""
    skipped = {id(m) for m in skip.modules()} if skip is not None else set()
    swapped = []
    for name, module in list(model.named_modules()):
        if id(module) in skipped or not FFTConv1d.supports(module):
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, FFTConv1d(module))
        swapped.append((name, module))
    return swapped


def set_enabled(model: nn.Module, enabled: bool) -> None:
    """Turn every FFTConv1d of ``model`` on or off (off: the direct convolution)."""
    for module in model.modules():
        if isinstance(module, FFTConv1d):
            module.enabled = enabled


def _weight_spectrum(weight: torch.Tensor, n_fft: int) -> torch.Tensor:
    """``(F, C_in, C_out)`` complex64: FFT of the flipped kernels (cross-correlation). Memory: for
    Basset's second layer (F = 166) 80 MB, against 2.6 MB of weights."""
    with torch.no_grad():
        spectrum = torch.fft.rfft(weight.detach().flip(-1), n=n_fft)  # (C_out, C_in, F)
    return spectrum.permute(2, 1, 0).contiguous()
