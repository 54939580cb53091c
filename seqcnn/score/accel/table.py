"""The table-lookup first convolution: a Conv1d on one-hot input computed from base codes.

Sequences arrive as ``uint8`` base codes (:mod:`seqcnn.seq.alphabet`: 0-3 = A, C, G, T, 4 = N,
5 = padding). On codes 0-5 the first ``Conv1d`` of a model is a sum of table lookups: each kernel
position adds the weight column of the base found there. Grouping ``g`` adjacent positions into one
``6**g``-row table turns the ``4*K`` multiply-adds per output into ``ceil(K/g)`` row additions (a numba loop,
CPU only). :class:`TableConv1d` replaces the first conv in a copy of the model; it checks at every
call that it got the input the scorer passed in (anything else means the model transformed its
input first, and the scorer falls back to the plain forward).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import torch
from torch import nn

from seqcnn.seq.alphabet import CODE_N, CODE_PAD

N_FAST_CODES = 6  # codes a lookup table covers: A C G T N pad
_TABLE_BYTES = 2 << 20  # keep the grouped tables around L2 size


class FastPathBypassed(RuntimeError):
    """The model did not hand its own input to the first conv: use the plain forward."""


class TableConv1d(nn.Module):
    """``conv`` computed by table lookups on codes (CPU); a drop-in for it otherwise.

    Armed with :meth:`arm` (the codes ``(N, L)`` and the placeholder tensor the model is called
    with), ``forward`` returns ``(N, O, L_out)`` float32 from the tables; given any other tensor while
    armed it raises :class:`FastPathBypassed`. Unarmed it is the plain conv.
    """

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        kernel, out_ch = conv.kernel_size[0], conv.out_channels
        self.conv = conv
        self.kernel, self.stride, self.out_channels = kernel, conv.stride[0], out_ch
        self.pad_left, self.pad_right = conv_padding(conv)
        self.group = choose_group(kernel, out_ch * 4, _TABLE_BYTES)
        self.n_groups = math.ceil(kernel / self.group)
        self.table = build_table(conv, self.group, self.n_groups)  # (n_groups * 6**g, O)
        self._token: torch.Tensor | None = None
        self._codes: np.ndarray | None = None

    @staticmethod
    def supports(module: nn.Module) -> bool:
        """Whether ``module`` is a float32 ``Conv1d`` on 4 channels (one group, no dilation, zero
        padding) that the tables can reproduce."""
        return (isinstance(module, nn.Conv1d) and module.in_channels == 4 and module.groups == 1
                and module.dilation[0] == 1 and module.padding_mode == "zeros"
                and module.weight.dtype == torch.float32)

    def output_length(self, length: int) -> int:
        """Output positions for inputs of ``length``."""
        return (length + self.pad_left + self.pad_right - self.kernel) // self.stride + 1

    def arm(self, token: torch.Tensor, codes: np.ndarray) -> None:
        """Expect ``token`` as input next and answer it from ``codes`` ``(N, L)`` (values 0-5)."""
        self._token, self._codes = token, np.ascontiguousarray(codes)

    def disarm(self) -> None:
        """Back to the plain conv."""
        self._token = self._codes = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, O, L_out)``: from the tables when armed with ``x``, else the plain conv."""
        if self._token is None:
            return self.conv(x)
        if x is not self._token:
            raise FastPathBypassed("the first conv did not receive the model input")
        n, length = self._codes.shape
        l_out = self.output_length(length)
        out = np.empty((n, l_out, self.out_channels), dtype=np.float32)
        _table_conv(self._codes, self.table, self.pad_left, self.group, self.stride, out)
        # the layers after the conv run ~3x slower on a transposed view than this copy costs
        return torch.from_numpy(out).transpose(1, 2).contiguous()


@numba.njit(cache=True, nogil=True, fastmath=True)
def _table_conv(codes: np.ndarray, table: np.ndarray, pad_left: int, g: int, stride: int,
                out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[r, i, :]`` = sum over groups ``j`` of ``table[j * 6**g + grouped code at i * stride + j * g]``.

    ``table`` is ``(n_groups * 6**g, O)``, ``out`` ``(N, L_out, O)`` (channels last: writing it
    transposed here was 3x slower than a torch transpose afterwards). Grouped codes are base-6
    numbers of ``g`` consecutive padded codes, computed once per position. Releases the GIL, so
    the input thread keeps parsing while it runs.
    """
    n, length = codes.shape
    n_out = table.shape[1]
    rows = N_FAST_CODES**g
    nb = table.shape[0] // rows
    l_out = out.shape[1]
    span = (l_out - 1) * stride + nb * g
    grouped = np.empty(span, dtype=np.int32)
    for r in range(n):
        for p in range(span - g + 1):
            value = 0
            for t in range(g - 1, -1, -1):
                q = p + t - pad_left
                value = value * N_FAST_CODES + (np.int32(codes[r, q]) if 0 <= q < length else CODE_PAD)
            grouped[p] = value
        for i in range(l_out):
            dst = out[r, i]
            src = table[grouped[i * stride]]
            for o in range(n_out):
                dst[o] = src[o]
            for j in range(1, nb):
                src = table[j * rows + grouped[i * stride + j * g]]
                for o in range(n_out):
                    dst[o] += src[o]


def conv_padding(conv: nn.Conv1d) -> tuple[int, int]:
    """The ``(left, right)`` zero padding of ``conv`` (``valid``, ``same`` or numbers)."""
    if conv.padding == "valid":
        return 0, 0
    if conv.padding == "same":
        total = conv.kernel_size[0] - 1
        return total // 2, total - total // 2
    return conv.padding[0], conv.padding[0]


def choose_group(kernel: int, row_bytes: int, budget: int, *, radix: int = N_FAST_CODES,
                 largest: int = 5) -> int:
    """Bases per lookup (1..``largest``): the fewest lookups per output whose grouped tables
    (``ceil(kernel / g) * radix**g`` rows of ``row_bytes``) stay within ``budget`` bytes."""
    best = 1
    for g in range(2, largest + 1):
        size = math.ceil(kernel / g) * radix**g * row_bytes
        if size <= budget and math.ceil(kernel / g) < math.ceil(kernel / best):
            best = g
    return best


def build_table(conv: nn.Conv1d, g: int, n_groups: int, dtype: Any = np.float32, radix: int = N_FAST_CODES
                ) -> np.ndarray:
    """Rows ``j * radix**g + code`` hold the summed weights of group ``j`` for grouped ``code`` (``g``
    codes as a base-``radix`` number, first base least significant); the bias is folded into group
    0. ``radix`` 6 covers A C G T N pad, 4 only A C G T. Shape ``(n_groups * radix**g,
    out_channels)``, summed in float64."""
    weight = conv.weight.detach().to("cpu", torch.float64).numpy()  # (O, 4, K)
    out_ch, _, kernel = weight.shape
    per_code = np.zeros((n_groups * g, N_FAST_CODES, out_ch))  # (position, code, O)
    per_code[:kernel, :4] = weight.transpose(2, 1, 0)
    per_code[:kernel, CODE_N] = weight.sum(1).T * 0.25
    digits = np.indices((radix,) * g).reshape(g, -1)[::-1]  # digit t of every grouped code
    table = np.stack([sum(per_code[j * g + t, digits[t]] for t in range(g)) for j in range(n_groups)])
    table = table.reshape(n_groups * radix**g, out_ch)
    if conv.bias is not None:
        table[: radix**g] += conv.bias.detach().to("cpu", torch.float64).numpy()
    return np.ascontiguousarray(table, dtype=dtype)
