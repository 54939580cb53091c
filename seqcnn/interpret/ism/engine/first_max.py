"""The first convolution's change and a global max over it, in one numba pass (CPU, one-hot columns).

The reference steps are ``FirstConv`` (the change over a substitution's window is the table look-up
``W[:, new, k] - W[:, old, k]``) then ``GlobalMax`` (the larger of the reference's running maxima
outside the window and the mutated values ``reference + change`` inside it). Run as torch ops, those
steps build three window-sized temporaries per block (the change, the mutated values, the masked
copy) and fold them; for a DeepBind-like model (16 filters of 24, global max) that memory traffic was
~80% of the ISM time. This kernel does the same float operations per substitution (one addition
per window column, then maxima) without the temporaries, channels innermost so the loop vectorises:
the result is bitwise the one of the two steps for finite values. The steps stay the path for other
devices, soft (non one-hot) columns and any model where the convolution's output has other readers.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from seqcnn.interpret.ism.engine.window import BlockContext, Geo


@numba.njit(cache=True, nogil=True)
def _window_max(ext: np.ndarray, starts: np.ndarray, k0: np.ndarray, k1: np.ndarray, diffs: np.ndarray,
                index: np.ndarray, outside: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out[i, j, b, c] = max(outside[i, j, c], max_k ext[i, starts[j] + k, c] + table[k, c])`` with
    ``table = diffs[index[i, j, b]]``, over ``k0[j] <= k < k1[j]`` (the window's columns in the tensor).

    ext (n, T, C) reference with margins; diffs (A * A, w, C); index (n, m, B); outside (n, m, C);
    out (n, m, B, C).
    """
    n, m, n_subs = index.shape
    channels = ext.shape[2]
    for i in range(n):
        for j in range(m):
            for b in range(n_subs):
                acc = out[i, j, b]
                acc[:] = outside[i, j]
                table = diffs[index[i, j, b]]
                for k in range(k0[j], k1[j]):
                    row = ext[i, starts[j] + k]
                    step = table[k]
                    for c in range(channels):
                        acc[c] = max(acc[c], row[c] + step[c])


class FirstConvMax:
    """Per-residue tables of a ``FirstConv`` laid out for ``_window_max`` (channels last)."""

    def __init__(self, first: object) -> None:
        self.first = first  # the FirstConv step, prepared
        self.diffs = [d.detach().permute(1, 2, 0).contiguous().numpy()
                      if d.device.type == "cpu" and d.dtype in (torch.float32, torch.float64) else None
                      for d in first.diffs]  # (A * A, w, C) per residue

    def usable(self, ctx: BlockContext) -> bool:
        """One-hot columns on the CPU in float32/64 (soft columns, other devices and dtypes take the
        two steps)."""
        n_bases = self.first.weight.shape[1]
        return ctx.n_subs < n_bases and self.diffs[ctx.residue] is not None

    def run(self, ctx: BlockContext, index: int, geo: Geo, outside: torch.Tensor) -> torch.Tensor:
        """(n, m, B, C) max over positions of the mutated first-layer output (before its activation).

        Parameters
        ----------
        ctx
            The block.
        index
            Recorded value of the convolution's output (its reference).
        geo
            That value's window geometry.
        outside
            (n, C, m) reference maxima outside each position's window.
        """
        ext = ctx.state.channels_last(index, geo)[ctx.n0:ctx.n1]  # (n, T, C)
        lo = geo.lo[ctx.first] + np.arange(ctx.m) * geo.step
        starts = (geo.left + lo).astype(np.int64)
        k0 = np.clip(-lo, 0, geo.width).astype(np.int64)
        k1 = np.clip(geo.length - lo, 0, geo.width).astype(np.int64)
        n_bases = self.first.weight.shape[1]
        subs = (ctx.base[:, :, None] * n_bases + ctx.alt).numpy()
        out = torch.empty(ctx.n1 - ctx.n0, ctx.m, ctx.n_subs, ext.shape[2], dtype=ext.dtype)
        _window_max(ext.numpy(), starts, k0, k1, self.diffs[ctx.residue], subs,
                    outside.permute(0, 2, 1).contiguous().numpy(), out.numpy())
        return out
