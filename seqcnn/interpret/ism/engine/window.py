"""Window bookkeeping for fast ISM: where a substitution can change each layer, and the block state.

For a substitution at input position ``p``, every positional tensor ``t`` (shape ``(N, C, L_t)``) of
the model can differ from the reference only inside a window ``[lo_t(p), lo_t(p) + width_t)``.
``Geo`` holds ``lo_t`` for every position of the mutated span, the common width, the cumulative
stride ``sigma_t`` (input positions per position of ``t``) and the margins that the reference copy
of ``t`` carries so that every window and every read stays inside it.

Substitutions are processed in blocks of one residue class ``r`` of ``p - start`` modulo ``S`` (the
least common multiple of all strides): inside a block every window moves by a fixed step
(``S / sigma_t``) from one position to the next, so the reference windows of a whole block are one
strided view (no gather), and every per-residue offset is a constant.

Inside a block a positional value is a ``Local``: its change ``delta`` and/or its mutated ``value``
over the window, shaped ``(C, n, m, B, w)`` (channels, sequences, positions, substitutions per
position, window). Channels come first so that a convolution of the change is one matrix product
``(K * C_out, C_in) @ (C_in, n * m * B * w)`` with no transposes. Either of ``delta`` and ``value`` is
derived from the other on demand against the reference window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from seqcnn.interpret.ism.engine.trace import Unsupported


def ceil_div(a: np.ndarray, b: int) -> np.ndarray:
    """Elementwise ceiling division of integers."""
    return -((-a) // b)


def even_ranges(start: int, stop: int, most: int) -> list[tuple[int, int]]:
    """``[start, stop)`` cut into the fewest ranges of at most ``most`` items, of about equal size."""
    pieces = max(1, -(-(stop - start) // most))
    edges = np.linspace(start, stop, pieces + 1).round().astype(int).tolist()
    return list(zip(edges[:-1], edges[1:], strict=True))


@dataclass
class Geo:
    """Window geometry of one positional tensor over the mutated positions (see module docstring)."""

    length: int
    sigma: int
    lo: np.ndarray  # (P,) int64 window start for each mutated position
    width: int
    channels: int
    reads: list[tuple[np.ndarray, int]] = field(default_factory=list)
    pad_value: float = 0.0
    left: int = 0  # margins of the reference copy
    right: int = 0
    step: int = 0  # S // sigma, set by finalize

    def read(self, lo: np.ndarray, width: int) -> None:
        """Declare that some consumer reads the reference over ``[lo, lo + width)``."""
        self.reads.append((lo, int(width)))

    def valid(self) -> np.ndarray:
        """(P,) bool: the window lies inside ``[0, length)`` (no masking needed)."""
        return (self.lo >= 0) & (self.lo + self.width <= self.length)

    def finalize(self, period: int) -> None:
        """Fix the margins and check that windows move by a constant step within a residue class."""
        if period % self.sigma:
            raise Unsupported("non-integer stride ratio")
        self.step = period // self.sigma
        spans = [(self.lo, self.width), *self.reads]
        low = min(int(lo.min()) for lo, _ in spans)
        high = max(int((lo + w).max()) for lo, w in spans)
        self.left = max(0, -low)
        self.right = max(0, high - self.length)
        if len(self.lo) > period and not np.array_equal(self.lo[period:], self.lo[:-period] + self.step):
            raise Unsupported("windows do not move by a constant step")


def conv_geometry(geo: Geo, kernel: int, stride: int, dilation: int, pad_left: int,
                  out_length: int, channels: int) -> tuple[Geo, np.ndarray, int]:
    """Output window of a conv/pool, plus its input read range (start per position, width)."""
    span = (kernel - 1) * dilation
    lo = ceil_div(geo.lo + pad_left - span, stride)
    hi = (geo.lo + geo.width - 1 + pad_left) // stride + 1
    width = max(1, int((hi - lo).max()))
    out = Geo(out_length, geo.sigma * stride, lo, width, channels)
    read_lo = lo * stride - pad_left
    read_width = (width - 1) * stride + span + 1
    return out, read_lo, read_width


class Local:
    """A positional value inside one block: change and/or mutated value over its window."""

    __slots__ = ("geo", "index", "_delta", "_value", "_scale")

    def __init__(self, geo: Geo, index: int, *, delta: torch.Tensor | None = None,
                 value: torch.Tensor | None = None, scale: torch.Tensor | None = None) -> None:
        self.geo = geo
        self.index = index  # recorded value whose reference this window belongs to
        self._delta = delta
        self._value = value
        self._scale = scale  # the change is delta * scale (batch norm), applied lazily

    def delta(self, ctx: BlockContext) -> torch.Tensor:
        """(C, n, m, B, w) change from the reference."""
        if self._delta is None:
            self._delta = self._value - ctx.ref_window(self)
        elif self._scale is not None:
            self._delta = self._delta * self._scale
            self._scale = None
        return self._delta

    def own_delta(self, ctx: BlockContext, consume: bool = False) -> torch.Tensor:
        """(C, n, m, B, w) change as a tensor the caller may write: from the values when this window has
        only those (in place over them when ``consume``: nobody else may read this window afterwards),
        else a copy of the change."""
        if self._delta is None:
            ref = ctx.ref_window(self)
            return self._value.sub_(ref) if consume else self._value - ref
        return self.delta(ctx).clone()

    def value(self, ctx: BlockContext) -> torch.Tensor:
        """(C, n, m, B, w) mutated values (reference plus change)."""
        if self._value is None:
            ref = ctx.ref_window(self)
            if self._scale is not None:
                self._value = torch.addcmul(ref, self._delta, self._scale)
            else:
                self._value = ref + self._delta
        return self._value


@dataclass
class ChunkState:
    """Per chunk of sequences: recorded values and their margin-padded reference copies."""

    values: list[torch.Tensor]
    ext: dict[int, torch.Tensor] = field(default_factory=dict)  # (n, C, left + L + right)
    prefix: dict[int, torch.Tensor] = field(default_factory=dict)  # running max (n, C, L + 1)
    suffix: dict[int, torch.Tensor] = field(default_factory=dict)

    def ext_of(self, index: int, geo: Geo) -> torch.Tensor:
        """The reference of value ``index`` padded with ``geo``'s margins (built once per chunk)."""
        ext = self.ext.get(index)
        if ext is None:
            ref = self.values[index]
            if ref.dim() != 3:
                raise Unsupported(f"positional value of shape {tuple(ref.shape)}")
            ext = torch.nn.functional.pad(ref, (geo.left, geo.right), value=geo.pad_value).contiguous()
            self.ext[index] = ext
        return ext

    def channels_last(self, index: int, geo: Geo) -> torch.Tensor:
        """``ext_of(index, geo)`` laid out (n, left + L + right, C) (built once per chunk)."""
        key = -1 - index  # beside the channels-first copies, which use the index itself
        ext = self.ext.get(key)
        if ext is None:
            ext = self.ext_of(index, geo).transpose(1, 2).contiguous()
            self.ext[key] = ext
        return ext

    def running_max(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix and suffix maxima (n, C, L + 1) of value ``index`` (``-inf`` for empty ranges)."""
        if index not in self.prefix:
            ref = self.values[index]
            low = torch.full_like(ref[..., :1], -torch.inf)
            self.prefix[index] = torch.cat([low, ref.cummax(-1).values], -1)
            self.suffix[index] = torch.cat([ref.flip(-1).cummax(-1).values.flip(-1), low], -1)
        return self.prefix[index], self.suffix[index]


class BlockContext:
    """What the steps of one block see: the block's sequences, positions and reference windows."""

    def __init__(self, state: ChunkState, n0: int, n1: int, positions: torch.Tensor, first: int, residue: int,
                 n_subs: int, edge: bool, base: torch.Tensor, alt: torch.Tensor, x: torch.Tensor) -> None:
        self.state = state
        self.n0, self.n1 = n0, n1
        self.positions = positions  # (m,) the block's positions in the mutated span (on the device)
        self.first = first  # index of the block's first position in the mutated span
        self.m = len(positions)
        self.residue = residue
        self.n_subs = n_subs
        self.edge = edge
        self.base = base  # (n, m) reference base index (0 for a non-one-hot column)
        self.alt = alt  # (n, m, B) substituted base index
        self.x = x  # (n, A, m) input columns at the block's positions
        self.batch = (n1 - n0) * self.m * n_subs

    def view(self, index: int, geo: Geo, lo0: int, width: int) -> torch.Tensor:
        """(C, n, m, 1, width) strided view of value ``index``'s reference from window start ``lo0``."""
        ext = self.state.ext_of(index, geo)
        _, channels, total = ext.shape
        start = geo.left + lo0
        if start < 0 or start + (self.m - 1) * geo.step + width > total:
            raise Unsupported("window outside the reference margins")
        return ext.as_strided(
            (channels, self.n1 - self.n0, self.m, 1, width),
            (total, channels * total, geo.step, 0, 1),
            ext.storage_offset() + self.n0 * channels * total + start,
        )

    def lo(self, geo: Geo) -> int:
        """Window start of ``geo`` at the block's first position."""
        return int(geo.lo[self.first])

    def ref_window(self, local: Local) -> torch.Tensor:
        """(C, n, m, 1, w) reference over ``local``'s window."""
        return self.view(local.index, local.geo, self.lo(local.geo), local.geo.width)

    def mask(self, geo: Geo) -> torch.Tensor | None:
        """(1, 1, m, 1, w) bool of window positions inside the tensor, or None when all are."""
        if not self.edge:
            return None
        valid = self._valid(geo)
        if valid.all():
            return None
        return torch.from_numpy(valid).to(self.alt.device).view(1, 1, self.m, 1, geo.width)

    def _valid(self, geo: Geo) -> np.ndarray:
        lo = geo.lo[self.first] + np.arange(self.m) * geo.step
        pos = lo[:, None] + np.arange(geo.width)[None, :]
        return (pos >= 0) & (pos < geo.length)

    def cuts(self, geo: Geo) -> list[tuple[int, int, int]]:
        """``(j, a, b)`` for the block's windows with positions outside the tensor: window ``j``'s
        ``[:a]`` lie before 0 and ``[max(a, b):]`` from ``length`` on (edge blocks only)."""
        if not self.edge:
            return []
        # plain Python: blocks hold a few to a few hundred windows, where numpy's per-call cost dominated
        lo0, step, width, length = int(geo.lo[self.first]), geo.step, geo.width, geo.length
        found = []
        for j in range(self.m):
            lo = lo0 + j * step
            head = min(max(-lo, 0), width)  # positions before 0
            tail = min(max(lo + width - length, 0), width)  # positions from `length` on
            if head or tail:
                found.append((j, head, width - tail))
        return found

    def clean(self, local: Local, owned: bool = True) -> Local:
        """Reset window positions outside the tensor to the reference (edge blocks only).

        The positions of a window that fall outside the tensor are a prefix and/or a suffix of it, and
        only the block's first and last few windows have any: those are reset by plain slicing (in place
        when the step owns the tensor).
        """
        if not self.edge:
            return local
        geo = local.geo
        cuts = self.cuts(geo)
        if not cuts:
            return local
        if local._value is not None and local._delta is None and geo.pad_value == 0:
            value = local._value if owned else local._value.clone()
            ref = self.ref_window(local)
            for j, a, b in cuts:
                value[:, :, j, :, :a] = ref[:, :, j, :, :a]
                value[:, :, j, :, max(a, b):] = ref[:, :, j, :, max(a, b):]
            return Local(geo, local.index, value=value)
        if local._delta is None:
            delta = local.delta(self)  # computed here, so owned
        else:
            delta = local._delta if owned else local._delta.clone()
        for j, a, b in cuts:
            delta[:, :, j, :, :a] = 0.0
            delta[:, :, j, :, max(a, b):] = 0.0
        return Local(geo, local.index, delta=delta, scale=local._scale)
