"""Output length and receptive field of a built network, from its layers' kernel, stride, dilation, padding.

Each layer is a ``Leaf`` on one spatial axis: with effective kernel ``E = D (K - 1) + 1``, left and
right padding ``Pl, Pr`` and stride ``S``, its output length is ``floor((W + Pl + Pr - E) / S) + 1``
(``ceil`` for ceil-mode pooling), i.e. ``W' = (W + 2P - D(K - 1) - 1) / S + 1`` generalised to
asymmetric padding. Its geometry maps output position ``i`` to input positions
``[start + i * jump, start + i * jump + rf)``; geometries compose along a ``Chain``
(``rf = (rf2 - 1) * jump1 + rf1``, ``jump = jump1 * jump2``, ``start = start1 + start2 * jump1``) and
take the union over the branches of a ``Parallel`` (residual additions, inception concatenations).
``Reduce`` (global pooling, flatten, dense layers) mixes every position into one; ``Mix`` keeps the
length but lets every output see every input (squeeze-excitation).

Functions (``axis`` picks the spatial axis: 0 for 1D, 0 = height / 1 = width for 2D)::

    node_of(module, axis=0) -> Node
    output_length(module, length, *, axis=0) -> int            # length of module's output
    positional_length(module, length, *, axis=0) -> int        # length of the last positional map
    receptive_field(module, *, length=None, axis=0) -> int     # rf of one position of that map
    input_span(module, length, position=0, *, axis=0) -> (first, stop)   # clipped to [0, length)

The "last positional map" is the module's output when that is positional (per-position models),
else the feature map entering the first global reduction (pooled and dense heads).
A custom block takes part by defining ``spatial_node(self, axis) -> Node``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from torch import nn
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd


@dataclass(frozen=True)
class Geometry:
    """Output position ``i`` sees inputs ``[start + i * jump, start + i * jump + rf)``."""

    rf: int = 1
    jump: int = 1
    start: int = 0

    def then(self, nxt: Geometry) -> Geometry:
        """Geometry of ``nxt`` applied after ``self``."""
        rf = (nxt.rf - 1) * self.jump + self.rf
        return Geometry(rf, self.jump * nxt.jump, self.start + nxt.start * self.jump)


class Node(ABC):
    """One step of the spatial graph of a network."""

    @abstractmethod
    def length(self, n: int) -> int:
        """Output length for an input of length ``n``."""

    @abstractmethod
    def geometry(self, n: int | None) -> Geometry:
        """Geometry for an input of length ``n`` (``None``: any, when the geometry does not depend on it)."""

    def prefix(self) -> tuple[Node, bool]:
        """(the part up to the first global reduction, whether there is one)."""
        return self, False


@dataclass(frozen=True)
class Leaf(Node):
    """Convolution, pooling, padding (kernel 1), crop (negative padding) or an elementwise layer."""

    kernel: int = 1
    stride: int = 1
    pad_left: int = 0
    pad_right: int = 0
    ceil_mode: bool = False
    transposed: bool = False
    output_padding: int = 0

    def length(self, n: int) -> int:
        if self.transposed:
            return (n - 1) * self.stride - self.pad_left - self.pad_right + self.kernel + self.output_padding
        span = n + self.pad_left + self.pad_right - self.kernel
        if span < 0:
            raise ValueError(f"input of length {n} is shorter than a kernel of effective width {self.kernel}")
        if not self.ceil_mode:
            return span // self.stride + 1
        out = -(-span // self.stride) + 1
        return out - 1 if (out - 1) * self.stride >= n + self.pad_left else out

    def geometry(self, n: int | None) -> Geometry:
        if self.transposed:
            raise ValueError("receptive field through a transposed convolution is not defined here")
        return Geometry(self.kernel, self.stride, -self.pad_left)


IDENTITY = Leaf()


@dataclass(frozen=True)
class Chain(Node):
    """Nodes applied one after another."""

    nodes: tuple[Node, ...]

    def length(self, n: int) -> int:
        for node in self.nodes:
            n = node.length(n)
        return n

    def geometry(self, n: int | None) -> Geometry:
        geo = Geometry()
        for node in self.nodes:
            geo = geo.then(node.geometry(n))
            n = None if n is None else node.length(n)
        return geo

    def prefix(self) -> tuple[Node, bool]:
        done: list[Node] = []
        for node in self.nodes:
            part, reduced = node.prefix()
            done.append(part)
            if reduced:
                return Chain(tuple(done)), True
        return self, False


@dataclass(frozen=True)
class Parallel(Node):
    """Branches on the same input whose outputs are added or concatenated (equal lengths)."""

    branches: tuple[Node, ...]

    def __init__(self, branches: list[Node] | tuple[Node, ...]) -> None:  # lists welcome; stored as a tuple
        object.__setattr__(self, "branches", tuple(branches))

    def length(self, n: int) -> int:
        lengths = {b.length(n) for b in self.branches}
        if len(lengths) != 1:
            raise ValueError(f"parallel branches give different lengths {sorted(lengths)} for input {n}")
        return lengths.pop()

    def geometry(self, n: int | None) -> Geometry:
        geos = [b.geometry(n) for b in self.branches]
        gates = [g for g in geos if g.jump == 0]  # a global branch sees all its siblings see
        if gates:
            return max(gates, key=lambda g: g.rf)
        if len({g.jump for g in geos}) != 1:
            raise ValueError(f"parallel branches have different strides {sorted({g.jump for g in geos})}")
        start = min(g.start for g in geos)
        return Geometry(max(g.start + g.rf for g in geos) - start, geos[0].jump, start)

    def prefix(self) -> tuple[Node, bool]:
        parts = [b.prefix() for b in self.branches]
        return Parallel([p for p, _ in parts]), any(r for _, r in parts)


def _need(n: int | None, what: str) -> int:
    if n is None:
        raise ValueError(f"{what} makes the receptive field depend on the input length: pass length=")
    return n


@dataclass(frozen=True)
class Reduce(Node):
    """Global reduction to one position (global pooling, flatten, dense layers)."""

    def length(self, n: int) -> int:
        return 1

    def geometry(self, n: int | None) -> Geometry:
        n = _need(n, "a global reduction")
        return Geometry(n, n, 0)

    def prefix(self) -> tuple[Node, bool]:
        return IDENTITY, True


@dataclass(frozen=True)
class Mix(Node):
    """Length kept, every output sees every input (e.g. squeeze-excitation gates)."""

    def length(self, n: int) -> int:
        return n

    def geometry(self, n: int | None) -> Geometry:
        return Geometry(_need(n, "a global gate (squeeze-excitation)"), 0, 0)


def _pick(value: object, axis: int) -> int:
    return int(value[axis]) if isinstance(value, tuple | list) else int(value)  # type: ignore[index]


def _conv_leaf(m: _ConvNd, axis: int) -> Leaf:
    k, d, s = _pick(m.kernel_size, axis), _pick(m.dilation, axis), _pick(m.stride, axis)
    kernel = d * (k - 1) + 1
    if m.padding == "same":
        left, right = (kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2
    elif m.padding == "valid":
        left = right = 0
    else:
        left = right = _pick(m.padding, axis)
    if isinstance(m, _ConvTransposeNd):
        return Leaf(kernel, s, left, right, transposed=True, output_padding=_pick(m.output_padding, axis))
    return Leaf(kernel, s, left, right)


def _pool_leaf(m: nn.Module, axis: int) -> Leaf:
    k, s, p = _pick(m.kernel_size, axis), _pick(m.stride, axis), _pick(m.padding, axis)
    d = _pick(getattr(m, "dilation", 1), axis)
    return Leaf(d * (k - 1) + 1, s, p, p, ceil_mode=bool(m.ceil_mode))


def _pad_leaf(m: nn.Module, axis: int) -> Leaf:
    pads = tuple(m.padding)
    index = (len(pads) // 2 - 1 - axis) * 2  # F.pad order: last axis first
    return Leaf(1, 1, int(pads[index]), int(pads[index + 1]))


_ELEMENTWISE = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.modules.batchnorm._BatchNorm,
                nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
_PADS = (nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
         nn.modules.padding._ReplicationPadNd)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)


def node_of(module: nn.Module, axis: int = 0) -> Node:
    """The spatial graph of ``module`` along ``axis``; ``ValueError`` for a module it cannot read."""
    custom = getattr(module, "spatial_node", None)
    if custom is not None:
        return custom(axis)
    if isinstance(module, _ConvNd):
        return _conv_leaf(module, axis)
    if isinstance(module, _POOLS):
        return _pool_leaf(module, axis)
    if isinstance(module, _PADS):
        return _pad_leaf(module, axis)
    if isinstance(module, nn.Flatten | nn.Linear):
        return Reduce()
    if isinstance(module, _ADAPTIVE):
        size = module.output_size
        if all(v == 1 for v in (size if isinstance(size, tuple) else (size,))):
            return Reduce()
        raise ValueError(f"adaptive pooling to {size} has no fixed receptive field")
    if isinstance(module, nn.Sequential):
        return Chain(tuple(node_of(child, axis) for child in module))
    if (isinstance(module, _ELEMENTWISE) or type(module).__module__ == "torch.nn.modules.activation"
            or getattr(module, "elementwise", False)):
        return IDENTITY
    raise ValueError(f"cannot derive the receptive field of {type(module).__name__}: give it spatial_node()")


def output_length(module: nn.Module, length: int, *, axis: int = 0) -> int:
    """Length of a module's output along one spatial axis.

    Parameters
    ----------
    module
        A layer, block or whole network.
    length
        Input length along ``axis``.
    axis
        Spatial axis (0 for sequences; 0 = height, 1 = width for images).

    Returns
    -------
    int
        The output length (1 after a global reduction).

    Raises
    ------
    ValueError
        A module whose geometry cannot be read.
    """
    return node_of(module, axis).length(length)


def positional_length(module: nn.Module, length: int, *, axis: int = 0) -> int:
    """Length of the last positional feature map: the output, or what enters the global reduction.

    Parameters
    ----------
    module
        A layer, block or whole network.
    length
        Input length along ``axis``.
    axis
        Spatial axis.

    Returns
    -------
    int
        The length.
    """
    return node_of(module, axis).prefix()[0].length(length)


def receptive_field(module: nn.Module, *, length: int | None = None, axis: int = 0) -> int:
    """Input positions seen by one position of the last positional map (see the module docstring).

    Parameters
    ----------
    module
        A layer, block or whole network.
    length
        Input length, needed only when the geometry depends on it.
    axis
        Spatial axis.

    Returns
    -------
    int
        The receptive field.

    Raises
    ------
    ValueError
        A geometry that depends on the length when ``length`` is None.
    """
    return node_of(module, axis).prefix()[0].geometry(length).rf


def input_span(module: nn.Module, length: int, position: int = 0, *, axis: int = 0) -> tuple[int, int]:
    """The input positions that can change one output position.

    Parameters
    ----------
    module
        A layer, block or whole network.
    length
        Input length along ``axis``.
    position
        Output position (0 for models that reduce to one position).
    axis
        Spatial axis.

    Returns
    -------
    tuple[int, int]
        Half-open range ``[start, end)`` of input positions, clipped to the input.

    Raises
    ------
    ValueError
        ``position`` outside the output.
    """
    node = node_of(module, axis)
    n_out = node.length(length)
    if not 0 <= position < n_out:
        raise ValueError(f"position {position} outside the output (length {n_out})")
    geo = node.geometry(length)
    first = geo.start + position * geo.jump
    return max(first, 0), min(first + geo.rf, length)

