"""Convolution steps of fast ISM: the first convolution by table look-up, later ones on the change.

``FirstConv``: a substitution ``old -> new`` at input position ``p`` changes output column ``j`` of the
first convolution by ``W[:, new, k] - W[:, old, k]`` with ``k`` the tap that sees ``p`` from ``j``: a
gather from a per-residue table of differences, no arithmetic.

``Conv``: a later convolution maps the change over its input window to the change over its output
window (bias cancels). With stride 1 and no groups it is a full (zero-padded) convolution of the
window, computed either as one matrix product and K shifted adds (``col2im``), or — when that costs
less — by the discrete Fourier transform: the window and the kernel are transformed to
``F = N // 2 + 1`` frequencies (``N`` = window + kernel span, so the circular convolution equals the
linear one), multiplied channel-wise as ``F`` complex matrix products ``(C_out, C_in) @ (C_in, rows)``
and transformed back. That needs ``4 F`` real multiply-adds per channel pair and row instead of
``K * w`` (e.g. 36 instead of 77 for Basset's second layer); the transforms are small real matrix
products (no FFT library call: for lengths around 20 those cost more than they save). Rounding
differs from the direct sum by ~1e-7 of the window's magnitude in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqcnn.interpret.ism_steps import Step, as_local, resolve, shift
from seqcnn.interpret.ism_window import BlockContext, Geo, Local

FFT_ADVANTAGE = 0.7  # use the transform when 4 F < 0.7 * K * w


@dataclass
class FirstConv(Step):
    """First convolution on the one-hot input: change by table look-up."""

    geo: Geo = None  # type: ignore[assignment]
    in_geo: Geo = None  # type: ignore[assignment]
    weight: torch.Tensor = None  # type: ignore[assignment]  # (C, A, K)
    stride: int = 1
    dilation: int = 1
    pad_left: int = 0
    tables: list[torch.Tensor] = field(default_factory=list)  # per residue: (A, C, w)
    diffs: list[torch.Tensor] = field(default_factory=list)  # per residue: (C, A * A, w) [old, new]

    def prepare(self, period: int, start: int) -> None:
        channels, n_bases, kernel = self.weight.shape
        padded = torch.cat([self.weight, self.weight.new_zeros(channels, n_bases, 1)], -1)
        self.tables, self.diffs = [], []
        for r in range(min(period, len(self.geo.lo))):
            cols = self.geo.lo[r] + np.arange(self.geo.width)
            tap = self.in_geo.lo[r] + self.pad_left - cols * self.stride
            k = np.where((tap % self.dilation == 0) & (tap >= 0) & (tap < kernel * self.dilation),
                         tap // self.dilation, kernel)
            table = padded[:, :, torch.from_numpy(k).to(padded.device)].permute(1, 0, 2).contiguous()
            self.tables.append(table)  # (A, C, w)
            diff = table[None, :] - table[:, None]  # (old, new, C, w)
            self.diffs.append(diff.flatten(0, 1).permute(1, 0, 2).contiguous())

    def run(self, ctx: BlockContext, env: dict[int, Any]) -> None:
        r = ctx.residue
        n_bases = self.weight.shape[1]
        shape = (-1, ctx.n1 - ctx.n0, ctx.m, ctx.n_subs, self.geo.width)
        if ctx.n_subs < n_bases:  # every column one-hot: one gather of [old, new] differences
            index = (ctx.base[:, :, None] * n_bases + ctx.alt).reshape(-1)
            delta = self.diffs[r].index_select(1, index).view(shape)
        else:  # soft columns: new - x_p . W
            table = self.tables[r]
            old = torch.einsum("nam,acw->cnmw", ctx.x, table)
            new = table.index_select(0, ctx.alt.reshape(-1)).view(*ctx.alt.shape, *table.shape[1:])
            delta = new.permute(3, 0, 1, 2, 4) - old[:, :, :, None]
        env[self.out] = ctx.clean(Local(self.geo, self.out, delta=delta))


@dataclass
class Conv(Step):
    """A later convolution: the change over the input window, convolved (no bias).

    Stride 1, no groups: one matrix product ``(K * C_out, C_in) @ (C_in, rows * w)`` and K shifted
    adds (col2im), which costs ``K * C_out * C_in * w`` per substitution instead of the
    ``K * C_out * C_in * (w + K - 1)`` of a padded convolution.
    """

    geo: Geo = None  # type: ignore[assignment]
    in_geo: Geo = None  # type: ignore[assignment]
    read_lo: np.ndarray = None  # type: ignore[assignment]
    read_width: int = 0
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    op_weight: torch.Tensor = None  # type: ignore[assignment]  # (C_out, C_in, K)
    stacked: torch.Tensor | None = None  # (K * C_out, C_in) for col2im
    spectral: Spectral | None = None  # for the transform path

    def prepare(self, period: int, start: int) -> None:
        if self.stride != 1 or self.groups != 1:
            return
        c_out, c_in, kernel = self.op_weight.shape
        width, span = self.in_geo.width, (kernel - 1) * self.dilation
        bins = (width + span) // 2 + 1
        if width > 1 and 4 * bins < FFT_ADVANTAGE * kernel * width:
            self.spectral = Spectral.build(self.op_weight, width, self.dilation)
        else:
            self.stacked = self.op_weight.permute(2, 0, 1).reshape(-1, c_in).contiguous()

    def run(self, ctx: BlockContext, env: dict[int, Any]) -> None:
        x = as_local(ctx, resolve(ctx, env, self.op.args[0]))
        left = int(x.geo.lo[ctx.first] - self.read_lo[ctx.first])
        delta = x.delta(ctx)
        if self.spectral is not None and delta.shape[-1] == self.spectral.width:
            out = self.crop(self.spectral.full(delta), left)
        elif self.stacked is not None:
            out = self.crop(self.col2im(delta), left)
        else:
            rows = delta.movedim(0, 3).reshape(ctx.batch, delta.shape[0], delta.shape[-1])
            out = F.conv1d(shift(rows, left, self.read_width), self.op_weight, None, self.stride, 0,
                           self.dilation, self.groups)
            out = out.view(ctx.n1 - ctx.n0, ctx.m, ctx.n_subs, *out.shape[1:]).movedim(3, 0)
        env[self.out] = ctx.clean(Local(self.geo, self.out, delta=out))

    def col2im(self, delta: torch.Tensor) -> torch.Tensor:
        """(C_out, n, m, B, w + span) full convolution of the change: one GEMM, K shifted adds."""
        c_in, n, m, b, w = delta.shape
        kernel = self.op_weight.shape[-1]
        c_out = self.op_weight.shape[0]
        z = (self.stacked @ delta.reshape(c_in, -1)).view(kernel, c_out, n, m, b, w)
        span = (kernel - 1) * self.dilation
        full = z.new_zeros(c_out, n, m, b, w + span)
        for k in range(kernel):
            at = span - k * self.dilation
            full[..., at: at + w] += z[k]
        return full

    def crop(self, full: torch.Tensor, left: int) -> torch.Tensor:
        """The output window of a full convolution whose input window starts ``left`` into the read range."""
        span = (self.op_weight.shape[-1] - 1) * self.dilation
        begin, width = span - left, self.geo.width
        if begin >= 0 and begin + width <= full.shape[-1]:
            return full[..., begin: begin + width]
        return shift(full, -begin, width)


@dataclass
class Spectral:
    """Kernel and transform matrices of a full convolution of ``width``-wide windows by DFT."""

    width: int
    length: int  # N = width + span
    weight: torch.Tensor  # (F, C_out, C_in) complex: transform of the (flipped, dilated) kernel
    cos: torch.Tensor  # (F, w) forward transform, real part
    sin: torch.Tensor  # (F, w) forward transform, imaginary part
    inverse: torch.Tensor  # (F, N) complex: frequencies back to N positions (take the real part)

    @classmethod
    def build(cls, weight: torch.Tensor, width: int, dilation: int) -> Spectral:
        c_out, c_in, kernel = weight.shape
        span = (kernel - 1) * dilation
        n = width + span
        device, weight = weight.device, weight.detach().cpu()  # tables built in float64 on the CPU
        freqs = torch.arange(n // 2 + 1, dtype=torch.float64)
        # full[j] = sum_k W[k] d[j - span + k * dilation]: kernel tap k sits at lag span - k * dilation
        lags = span - torch.arange(kernel, dtype=torch.float64) * dilation
        angle = 2 * math.pi * torch.outer(lags, freqs) / n
        kernel_f = torch.einsum("oik,kf->foi", weight.double().to(torch.complex128),
                                torch.polar(torch.ones_like(angle), -angle))
        pos = 2 * math.pi * torch.outer(torch.arange(width, dtype=torch.float64), freqs) / n
        scale = torch.full_like(freqs, 2.0)
        scale[0] = 1.0
        if n % 2 == 0:
            scale[-1] = 1.0
        back = 2 * math.pi * torch.outer(freqs, torch.arange(n, dtype=torch.float64)) / n
        inverse = torch.polar(scale[:, None] / n * torch.ones_like(back), back)  # Re(Y @ inverse) = signal
        real = weight.dtype
        complex_dtype = torch.complex128 if real == torch.float64 else torch.complex64
        cos, sin = torch.cos(pos).T.to(device, real), (-torch.sin(pos)).T.to(device, real)
        return cls(width, n, kernel_f.to(device, complex_dtype).contiguous(), cos.contiguous(),
                   sin.contiguous(), inverse.to(device, complex_dtype).contiguous())

    def full(self, delta: torch.Tensor) -> torch.Tensor:
        """(C_out, n, m, B, N) full convolution of the change ``delta`` (C_in, n, m, B, w).

        Laid out so that no transform needs a transpose copy: the forward transform writes frequencies
        first, ``(F, C_in * R)``, the per-frequency products stay ``(F, C_out, R)``, and the inverse
        reads them transposed.
        """
        c_in, n, m, b, w = delta.shape
        d = delta.reshape(-1, w).T  # (w, C_in * R), a transposed view
        spectrum = torch.complex(self.cos @ d, self.sin @ d).view(-1, c_in, d.shape[1] // c_in)
        product = torch.matmul(self.weight, spectrum)  # (F, C_out, R)
        c_out = product.shape[1]
        signal = product.view(product.shape[0], -1).T @ self.inverse  # (C_out * R, N) complex
        return signal.real.view(c_out, n, m, b, self.length)


