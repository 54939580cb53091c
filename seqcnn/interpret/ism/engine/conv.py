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

from seqcnn.interpret.ism.engine.steps import Step, as_local, resolve, shift
from seqcnn.interpret.ism.engine.window import BlockContext, Geo, Local

FFT_ADVANTAGE = 0.8  # use the transform when it costs < 0.8x the direct product (see Spectral.cost)


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
        if width > 1 and Spectral.cost(width, span, c_in, c_out) < FFT_ADVANTAGE * self.direct_cost():
            self.spectral = Spectral.build(self.op_weight, width, self.dilation)
        else:
            self.stacked = self.op_weight.permute(2, 0, 1).reshape(-1, c_in).contiguous()

    def direct_cost(self) -> int:
        """Multiply-adds of one substitution by the direct product (``K * C_out * C_in * w``)."""
        return self.op_weight.numel() * self.in_geo.width

    def multiply_adds(self) -> int:
        """Multiply-adds of one substitution by the path ``prepare`` chose."""
        if self.spectral is None:
            return self.direct_cost()
        c_out, c_in, kernel = self.op_weight.shape
        return Spectral.cost(self.in_geo.width, (kernel - 1) * self.dilation, c_in, c_out)

    def run(self, ctx: BlockContext, env: dict[int, Any]) -> None:
        x = as_local(ctx, resolve(ctx, env, self.op.args[0]))
        self.apply(ctx, env, x, x.delta(ctx))

    def run_group(self, ctxs: list[BlockContext], envs: list[dict[int, Any]]) -> None:
        """``run`` for several small blocks at once: one transform product over all their rows (the
        batched product runs at 52 G multiply-adds/s on 63 rows and 72 on 252 here)."""
        xs = [as_local(c, resolve(c, e, self.op.args[0])) for c, e in zip(ctxs, envs, strict=True)]
        deltas = [x.delta(c) for x, c in zip(xs, ctxs, strict=True)]
        fulls: list[torch.Tensor | None] = [None] * len(deltas)
        if self.spectral is not None and all(d.shape[-1] == self.spectral.width for d in deltas):
            fulls = self.spectral.full_group(deltas)
        for c, e, x, d, full in zip(ctxs, envs, xs, deltas, fulls, strict=True):
            self.apply(c, e, x, d, full)

    def apply(self, ctx: BlockContext, env: dict[int, Any], x: Local, delta: torch.Tensor,
              full: torch.Tensor | None = None) -> None:
        """The change ``delta`` of input window ``x`` convolved into ``env`` (``full``: its full
        convolution when already computed)."""
        left = int(x.geo.lo[ctx.first] - self.read_lo[ctx.first])
        if full is None and self.spectral is not None and delta.shape[-1] == self.spectral.width:
            full = self.spectral.full(delta)
        elif full is None and self.stacked is not None:
            full = self.col2im(delta)
        if full is not None:
            out = self.crop(full, left)
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
    """Kernel and transform matrices of a full convolution of ``width``-wide windows by real DFT.

    Each frequency's complex product ``(Kr + i Ki)(Xr + i Xi)`` is taken as three real products
    (Gauss): ``P1 = Kr Xr``, ``P2 = Ki Xi``, ``P3 = (Kr + Ki)(Xr + Xi)``, with ``Re = P1 - P2`` and
    ``Im = P3 - P1 - P2``; the zero (and, for even ``N``, the Nyquist) frequency is real and needs one.
    The forward transform produces ``Xr``, ``Xi`` and ``Xr + Xi`` directly and the inverse reads
    ``P1, P2, P3``, so all three steps are real matrix products: ``B`` "bands" in all.
    """

    width: int
    length: int  # N = width + span
    forward: torch.Tensor  # (B, w): window -> bands
    weight: torch.Tensor  # (B, C_out, C_in): the kernel's transform, per band
    inverse: torch.Tensor  # (B, N): bands -> N positions

    @classmethod
    def build(cls, weight: torch.Tensor, width: int, dilation: int) -> Spectral:
        _, _, kernel = weight.shape
        span = (kernel - 1) * dilation
        n = width + span
        device, w64 = weight.device, weight.detach().cpu().double()  # tables built in float64 on the CPU
        freqs = torch.arange(n // 2 + 1, dtype=torch.float64)
        # full[j] = sum_k W[k] d[j - span + k * dilation]: kernel tap k sits at lag span - k * dilation
        lags = span - torch.arange(kernel, dtype=torch.float64) * dilation
        angle = 2 * math.pi * torch.outer(lags, freqs) / n  # (K, F)
        k_re = torch.einsum("oik,kf->foi", w64, torch.cos(angle))
        k_im = torch.einsum("oik,kf->foi", w64, -torch.sin(angle))
        at = 2 * math.pi * torch.outer(freqs, torch.arange(width, dtype=torch.float64)) / n  # (F, w)
        back = 2 * math.pi * torch.outer(freqs, torch.arange(n, dtype=torch.float64)) / n  # (F, N)
        forward, bands, inverse = [], [], []
        for f in range(len(freqs)):
            gain = (1.0 if f == 0 or 2 * f == n else 2.0) / n  # Re of the one-sided inverse sum
            cos, sin = torch.cos(at[f]), -torch.sin(at[f])  # X_f = sum_t x_t (cos + i sin)
            back_cos, back_sin = gain * torch.cos(back[f]), gain * torch.sin(back[f])
            if f == 0 or 2 * f == n:
                forward.append(cos)
                bands.append(k_re[f])
                inverse.append(back_cos)
            else:  # signal = sum gain (Re cos - Im sin) = P1 (cos + sin) + P2 (sin - cos) - P3 sin
                forward += [cos, sin, cos + sin]
                bands += [k_re[f], k_im[f], k_re[f] + k_im[f]]
                inverse += [back_cos + back_sin, back_sin - back_cos, -back_sin]
        real = weight.dtype
        # per-band weights stored column-major: MKL's batched product runs ~5-10% faster on them here
        bands_cm = torch.stack(bands).to(device, real).transpose(1, 2).contiguous().transpose(1, 2)
        return cls(width, n, torch.stack(forward).to(device, real), bands_cm,
                   torch.stack(inverse).to(device, real))

    @staticmethod
    def bands(width: int, span: int) -> int:
        """Real products per channel pair of a ``width``-wide window (``B``)."""
        n = width + span
        return 1 + (n % 2 == 0) + 3 * ((n - 1) // 2)

    @staticmethod
    def cost(width: int, span: int, c_in: int, c_out: int) -> int:
        """Multiply-adds per row of ``full``: forward transform, per-band products, inverse transform.

        The transforms matter for wide windows of few channels (a dilated tower's later layers), the
        per-band products for narrow windows of many (Basset).
        """
        bands = Spectral.bands(width, span)
        return bands * (width * c_in + c_out * c_in + (width + span) * c_out)

    def full_group(self, deltas: list[torch.Tensor]) -> list[torch.Tensor]:
        """``full`` of several changes ``(C_in, n, m, B, w)`` in one pass over their rows (as views)."""
        c_in, width = deltas[0].shape[0], self.width
        rows = [d[0].numel() // width for d in deltas]
        joined = torch.cat([d.reshape(c_in, -1, width) for d in deltas], dim=1)  # (C_in, R, w)
        full = self.full(joined.view(c_in, 1, 1, -1, width))[:, 0, 0]  # (C_out, R, N)
        return [part.view(part.shape[0], *d.shape[1:4], self.length)
                for part, d in zip(full.split(rows, dim=1), deltas, strict=True)]

    def full(self, delta: torch.Tensor) -> torch.Tensor:
        """(C_out, n, m, B, N) full convolution of the change ``delta`` (C_in, n, m, B, w).

        Laid out so that no step needs a transpose copy: the forward transform writes bands first,
        ``(B, C_in, R)``, the per-band products stay ``(B, C_out, R)``, and the inverse reads them
        transposed.
        """
        c_in, n, m, b, w = delta.shape
        d = delta.reshape(-1, w).T  # (w, C_in * R), a transposed view
        spectrum = (self.forward @ d).view(self.forward.shape[0], c_in, d.shape[1] // c_in)
        product = torch.matmul(self.weight, spectrum)  # (B, C_out, R)
        c_out = product.shape[1]
        signal = product.view(product.shape[0], -1).T @ self.inverse  # (C_out * R, N)
        return signal.view(c_out, n, m, b, self.length)
