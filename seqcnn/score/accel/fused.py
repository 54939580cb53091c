"""Fused first block for scoring: table-lookup convolution, batch norm, activation and pooling in one pass.

For scoring on the CPU, :class:`FusedFirstBlock` replaces a model's first ``ConvBlock``
(``[pad] -> conv -> [BatchNorm] -> [activation] -> [max-pool] -> [dropout]``, and for DeepBind-like
models the global pooling right after it) by numba kernels that read base codes
(``seqcnn.score.accel.table``) and write only the pooled output. Why our own kernels: on one-hot input
the convolution is a sum of table rows (``seqcnn.score.accel.table``), and fusing the pooling means the
full-length first-layer output, the largest tensor of these models (262 x 300 x 982 floats a batch
for Basset, 300 MB), never reaches memory; batch norm, activation and pooling cost three more passes
over it in the plain forward. The kernels run on ``torch.get_num_threads()`` threads (they release
the GIL).

Exactness: batch norm (eval) is folded into the tables; max pooling is taken over the
pre-activation values and the activation applied afterwards, which is exact for the non-decreasing
activations accepted here (``max(f(x)) = f(max(x))``); average pooling (``avg``/``maxavg`` global
pools) applies the activation per position inside the kernel (identity, ReLU or exp). Results
match the plain forward up to float32 rounding; the scorer checks a probe batch before using it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

import seqcnn.score.accel.fused_kernels as kernels
from seqcnn.layers.activations import Exp
from seqcnn.layers.heads import GlobalPool
from seqcnn.score.accel.table import (
    FastPathBypassed,
    TableConv1d,
    build_table,
    choose_group,
    conv_padding,
)

# activations that commute with max pooling (non-decreasing); the kernel can apply the first three
MONOTONE = (nn.Identity, nn.ReLU, Exp, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.ELU, nn.LeakyReLU)
KERNEL_ACT = {nn.Identity: 0, nn.ReLU: 1, Exp: 2}
_BLOCK_TABLE_BYTES = 512 << 10  # one 16-channel block's tables: well within a core's L2


class FusedFirstBlock(nn.Module):
    """``block`` (and ``global_pool`` after it, if given) computed from base codes by table lookups.

    Armed with :meth:`arm` (the placeholder tensor the model is called with and the codes ``(N, L)``,
    values 0-5), ``forward`` returns the block's pooled output ``(N, O, L_pool)`` float32, or
    ``(N, O)`` / ``(N, 2 O)`` with a global pool; given any other tensor while armed it raises
    :class:`FastPathBypassed`. Unarmed it is ``global_pool(block(x))``.
    """

    def __init__(self, block: nn.Sequential, global_pool: GlobalPool | None = None) -> None:
        super().__init__()
        if not self.supports(block, global_pool):
            raise ValueError("block cannot be fused (see FusedFirstBlock.supports)")
        self.block = block
        self.global_pool = global_pool
        conv = block.conv
        self.pad_left, self.pad_right = _block_padding(block)
        self.kernel, self.stride = conv.kernel_size[0], conv.stride[0]
        self.out_channels = conv.out_channels
        self.act = getattr(block, "act", None) or nn.Identity()
        self.pool = getattr(block, "pool", None)
        scale, shift = _affine_of_norm(getattr(block, "norm", None), self.out_channels)
        # radix 6 (A C G T N pad) always; radix 4 (bigger groups, fewer lookups) for batches of
        # A C G T only when the convolution pads nothing
        radices = (6, 4) if self.pad_left == self.pad_right == 0 else (6,)
        self.tables = {radix: _folded_tables(conv, radix, scale, shift) for radix in radices}
        self.threads = torch.get_num_threads()  # kernel threads (the scorer may run torch on fewer)
        _compile_once("global" if global_pool is not None else "max_pool")
        self._token: torch.Tensor | None = None
        self._codes: np.ndarray | None = None

    @staticmethod
    def supports(block: nn.Module, global_pool: nn.Module | None = None) -> bool:
        """True for a ConvBlock-like sequence the kernels reproduce exactly (see the module docstring)."""
        names = [name for name, _ in block.named_children()]
        if not names or not set(names) <= {"pad", "conv", "norm", "act", "pool", "drop"}:
            return False
        if not TableConv1d.supports(getattr(block, "conv", None)):
            return False
        pad = getattr(block, "pad", None)
        if pad is not None and not (isinstance(pad, nn.ConstantPad1d) and pad.value == 0.0):
            return False
        norm = getattr(block, "norm", None)
        if norm is not None and not (isinstance(norm, nn.BatchNorm1d) and norm.running_mean is not None
                                     and not norm.training):
            return False
        act = getattr(block, "act", None) or nn.Identity()
        if not _monotone(act):
            return False
        pool = getattr(block, "pool", None)
        drop = getattr(block, "drop", None)
        if drop is not None and drop.training:
            return False
        if global_pool is not None:
            needs_mean = global_pool.kind != "max"
            return pool is None and (not needs_mean or type(act) in KERNEL_ACT)
        return isinstance(pool, nn.MaxPool1d) and _plain_pool(pool)

    def output_length(self, length: int) -> int:
        """Positions of the pooled output for inputs of ``length`` (no global pool)."""
        conv_len = (length + self.pad_left + self.pad_right - self.kernel) // self.stride + 1
        size, step = _pool_geometry(self.pool)
        return (conv_len - size) // step + 1

    def arm(self, token: torch.Tensor, codes: np.ndarray) -> None:
        """Expect ``token`` as input next and answer it from ``codes`` ``(N, L)`` (values 0-5)."""
        self._token, self._codes = token, np.ascontiguousarray(codes, dtype=np.uint8)

    def disarm(self) -> None:
        """Back to the plain block."""
        self._token = self._codes = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's (pooled) output: from the kernels when armed with ``x``, else the plain block."""
        if self._token is None:
            out = self.block(x)
            return self.global_pool(out) if self.global_pool is not None else out
        if x is not self._token:
            raise FastPathBypassed("the first block did not receive the model input")
        return self._global(self._codes) if self.global_pool is not None else self._local(self._codes)

    def _tables_for(self, codes: np.ndarray) -> tuple[int, int, np.ndarray]:
        radix = 4 if 4 in self.tables and codes.max(initial=0) < 4 else 6
        g, tables = self.tables[radix]
        return radix, g, tables

    def _global(self, codes: np.ndarray) -> torch.Tensor:
        n, length = codes.shape
        n_pos = (length + self.pad_left + self.pad_right - self.kernel) // self.stride + 1
        if n_pos < 1:
            raise ValueError(f"input of length {length} is shorter than the filter ({self.kernel})")
        kind = self.global_pool.kind
        radix, g, tables = self._tables_for(codes)
        out = np.empty((n, 2, tables.shape[0] * kernels.LANES), dtype=np.float32)
        act = KERNEL_ACT.get(type(self.act), 0)
        want_mean = kind != "max"
        pad, stride = self.pad_left, self.stride
        _run_rows(n, lambda r0, r1: kernels.global_pool_rows(codes, tables, pad, g, radix, stride, n_pos, act,
                                                             want_mean, r0, r1, out), self.threads)
        result = torch.from_numpy(out)[:, :, : self.out_channels]
        top = self.act(result[:, 0])  # f(max x) = max f(x) for non-decreasing f
        if kind == "max":
            return top
        mean = result[:, 1]
        return mean if kind == "avg" else torch.cat([top, mean], dim=1)

    def _local(self, codes: np.ndarray) -> torch.Tensor:
        n, length = codes.shape
        l_pool = self.output_length(length)
        if l_pool < 1:
            raise ValueError(f"input of length {length} is too short for the first block")
        size, step = _pool_geometry(self.pool)
        radix, g, tables = self._tables_for(codes)
        out = np.empty((n, self.out_channels, l_pool), dtype=np.float32)
        pad, stride = self.pad_left, self.stride
        _run_rows(n, lambda r0, r1: kernels.max_pool_rows(codes, tables, pad, g, radix, stride, size, step,
                                                          r0, r1, out), self.threads)
        return self.act(torch.from_numpy(out))


def fusable_first_block(model: nn.Module) -> tuple[str, nn.Module, str | None] | None:
    """``(block name, block, global-pool name or None)`` when ``model``'s first block can be fused.

    Recognises ``seqcnn.layers.Network`` models: ``body[0]`` a ConvBlock that sees the input; its
    pooling either inside it (max-pool) or, for a one-block body, the ``GlobalPool`` opening the head.
    """
    body, head = getattr(model, "body", None), getattr(model, "head", None)
    if not isinstance(body, nn.Sequential) or len(body) == 0:
        return None
    block = body[0]
    if not isinstance(block, nn.Sequential) or not hasattr(block, "conv"):
        return None
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv1d)), None)
    if first_conv is not block.conv:
        return None
    if len(body) == 1 and isinstance(head, nn.Sequential) and len(head) and isinstance(head[0], GlobalPool):
        if FusedFirstBlock.supports(block, head[0]):
            return "body.0", block, "head.0"
    if FusedFirstBlock.supports(block):
        return "body.0", block, None
    return None


# -- helpers -------------------------------------------------------------------------------------
_POOLS: dict[int, ThreadPoolExecutor] = {}
SLICE_ROWS = 32  # rows a thread takes at a time
_COMPILED: set[str] = set()


def _compile_once(kernel: str) -> None:
    if kernel not in _COMPILED:
        kernels.compile_vectorized(kernel)
        _COMPILED.add(kernel)


def _run_rows(n: int, work: Callable[[int, int], None], threads: int) -> None:
    """Run ``work(r0, r1)`` over all rows ``[0, n)`` on ``threads`` threads (this one included).

    Rows are handed out in slices of ``SLICE_ROWS`` to whichever thread is free rather than split
    evenly up front: on a 2-core machine the input thread takes one core for part of the time, and
    an even split then waits for the slowest half (measured: DeepBind-size scoring 1.5 s vs 1.1 s).
    """
    threads = max(1, min(threads, -(-n // SLICE_ROWS)))
    if threads == 1:
        work(0, n)
        return
    pool = _POOLS.get(threads)
    if pool is None:
        pool = _POOLS[threads] = ThreadPoolExecutor(threads - 1, thread_name_prefix="seqcnn-fused")
    slices = iter(range(0, n, SLICE_ROWS))
    lock = threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                start = next(slices, None)
            if start is None:
                return
            work(start, min(n, start + SLICE_ROWS))

    futures = [pool.submit(drain) for _ in range(threads - 1)]
    drain()
    for future in futures:
        future.result()


def _monotone(act: nn.Module) -> bool:
    if isinstance(act, nn.LeakyReLU):
        return act.negative_slope >= 0
    if isinstance(act, nn.ELU):
        return act.alpha >= 0
    if isinstance(act, nn.Softplus):
        return act.beta > 0
    return type(act) in MONOTONE


def _plain_pool(pool: nn.MaxPool1d) -> bool:
    def one(v):  # noqa: ANN001, ANN202
        return v[0] if isinstance(v, tuple) else v
    return (one(pool.padding) == 0 and one(pool.dilation) == 1 and not pool.ceil_mode
            and not pool.return_indices)


def _pool_geometry(pool: nn.Module | None) -> tuple[int, int]:
    if pool is None:
        return 1, 1
    size = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
    step = pool.stride if isinstance(pool.stride, int) else pool.stride[0]
    return int(size), int(step or size)


def _block_padding(block: nn.Sequential) -> tuple[int, int]:
    left, right = conv_padding(block.conv)
    pad = getattr(block, "pad", None)
    if pad is not None:
        left, right = left + pad.padding[0], right + pad.padding[1]
    return left, right


def _affine_of_norm(norm: nn.Module | None, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(scale, shift)`` of an eval-mode BatchNorm1d (identity when there is none)."""
    if norm is None:
        return np.ones(channels), np.zeros(channels)
    var = norm.running_var.detach().double().cpu().numpy()
    mean = norm.running_mean.detach().double().cpu().numpy()
    scale = 1.0 / np.sqrt(var + norm.eps)
    shift = -mean * scale
    if norm.affine:
        weight = norm.weight.detach().double().cpu().numpy()
        scale, shift = scale * weight, shift * weight + norm.bias.detach().double().cpu().numpy()
    return scale, shift


def _folded_tables(conv: nn.Conv1d, radix: int, scale: np.ndarray,
                   shift: np.ndarray) -> tuple[int, np.ndarray]:
    """``(g, tables)``: the grouped tables of ``seqcnn.score.accel.table.build_table`` with the norm folded
    in, as ``(blocks, groups * radix**g, 16)`` float32 blocks of 16 channels (zero-padded)."""
    out_ch, kernel = conv.out_channels, conv.kernel_size[0]
    g = choose_group(kernel, kernels.LANES * 4, _BLOCK_TABLE_BYTES, radix=radix, largest=7)
    n_groups = math.ceil(kernel / g)
    table = build_table(conv, g, n_groups, dtype=np.float64, radix=radix)
    table *= scale
    table[: radix**g] += shift
    blocks = math.ceil(out_ch / kernels.LANES)
    padded = np.zeros((table.shape[0], blocks * kernels.LANES), dtype=np.float32)
    padded[:, :out_ch] = table
    return g, np.ascontiguousarray(padded.reshape(table.shape[0], blocks, kernels.LANES).transpose(1, 0, 2))
