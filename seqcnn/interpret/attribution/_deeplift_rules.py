"""DeepLIFT's rules as autograd overrides, for modules and plain functions alike.

:class:`DeepLiftMode` is a ``TorchFunctionMode``: while a model runs inside it, every call of a
nonlinear torch function (``torch.relu``, ``F.gelu``, ``x.exp()``, ``nn.ReLU`` and ``nn.MaxPool1d``,
which call those functions, ...) is answered by an autograd function whose backward applies the
DeepLIFT rule instead of the gradient. Catching functions rather than hooking modules is what makes a
reused ``nn.ReLU`` or a ``torch.relu`` inside ``forward`` exact: Captum and tangermeme hook module
classes and cache one input per module, so both cases fall back to the gradient there.

The batch a model sees holds ``k`` sequences followed by ``q`` references for each of them
(``k + k * q`` rows; reference ``j`` of sequence ``i`` is row ``k + i * q + j``). Every rule pairs a
reference row with its sequence's row and works out, in the forward pass, the multiplier of the pair:

- elementwise functions of one tensor (``ELEMENTWISE``): the rescale rule, the secant
  ``(f(x) - f(r)) / (x - r)``, or the derivative at the midpoint ``(x + r) / 2`` where
  ``|x - r|`` is below ``eps`` (there the secant is rounding noise);
- max pooling (``F.max_pool1d/2d``, ``amax``, ``max`` along a dimension): the change of each window's
  maximum is routed to the winning position of the sequence (the part ``max(y, y_ref) - y_ref``) and
  of the reference (the rest), then divided by each position's own change (Captum's and tangermeme's
  rule; it sums to the change exactly);
- products of two tensors that both vary with the input: the midpoint rule,
  ``d(ab) = da (b + b_ref) / 2 + db (a + a_ref) / 2``, exact for a product; a product with a factor
  that varies but carries no gradient (a detached weight, e.g. BPNet's softmax-weighted profile
  target): the secant of the product in the other factor.

Only reference rows carry gradients backwards (the sequence rows get zeros), so a backward pass
yields one multiplier per (sequence, reference) pair. Linear operations (convolutions, eval-mode
batch norm, pooling by averages, sums, crops) need no rule. Each rule sums to the change in its
output, so the contributions of a model built of these operations sum to ``f(x) - f(r)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

ELEMENTWISE = (
    "relu", "relu6", "hardtanh", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus",
    "sigmoid", "logsigmoid", "log_sigmoid", "hardsigmoid", "hardswish", "tanh", "softsign", "tanhshrink",
    "exp", "exp2", "expm1", "log", "log1p", "sqrt", "rsqrt", "reciprocal", "abs", "square", "erf", "expit",
    "clamp", "clamp_min", "clamp_max", "clip", "pow", "__pow__",
)
"""Names of the elementwise functions given the rescale rule (in ``torch``, ``Tensor``, ``F``,
``torch.special``; their in-place variants are computed out of place)."""

_PRODUCTS = ("mul", "multiply", "__mul__", "__rmul__", "mul_", "__imul__")
_QUOTIENTS = ("div", "divide", "true_divide", "__truediv__", "div_", "__itruediv__", "__rtruediv__")
_SOFTMAX = ("softmax", "log_softmax")
_POOLS = {F.max_pool1d: F.max_pool1d_with_indices, F.max_pool1d_with_indices: F.max_pool1d_with_indices,
          torch.max_pool1d: F.max_pool1d_with_indices, F.max_pool2d: F.max_pool2d_with_indices,
          F.max_pool2d_with_indices: F.max_pool2d_with_indices, torch.max_pool2d: F.max_pool2d_with_indices}
_POOL_SIGNATURES = {f: inspect.signature(f) for f in (F.max_pool1d_with_indices, F.max_pool2d_with_indices)}
_MAXIMA = (torch.amax, torch.Tensor.amax, torch.max, torch.Tensor.max)


def _function_table() -> dict[Callable, Callable]:
    """Every spelling of the elementwise functions -> its out-of-place function."""
    table: dict[Callable, Callable] = {}
    for name in ELEMENTWISE:
        for space in (torch, torch.Tensor, F, torch.special):
            func = getattr(space, name, None)
            if func is None:
                continue
            table[func] = func
            inplace = getattr(space, name + "_", None) if not name.startswith("__") else None
            if inplace is not None:
                table[inplace] = func
    table[torch.Tensor.__ipow__] = torch.Tensor.pow
    return table


_ELEMENTWISE = _function_table()


def _spellings(names: tuple[str, ...], spaces: tuple[Any, ...] = (torch, torch.Tensor)
               ) -> dict[Callable, str]:
    """Every spelling of the functions ``names`` -> its name."""
    return {getattr(space, name): name for space in spaces for name in names if hasattr(space, name)}


_PRODUCT_FUNCS = _spellings(_PRODUCTS)
_QUOTIENT_FUNCS = _spellings(_QUOTIENTS)
_SOFTMAX_FUNCS = _spellings(_SOFTMAX, (torch, torch.Tensor, F, torch.special))


def _signature(func: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # built-ins (F.gelu, torch.exp) have none and no inplace flag
        return None


_SIGNATURES = {func: _signature(func) for func in set(_ELEMENTWISE.values())}


def _midpoint_slope(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, r: torch.Tensor
                    ) -> torch.Tensor:
    """Derivative of the elementwise ``fn`` at ``(x + r) / 2`` (same shape as ``x``)."""
    with torch.enable_grad():
        mid = ((x + r) / 2).detach().requires_grad_(True)
        (slope,) = torch.autograd.grad(fn(mid).sum(), mid)
    return slope


class _Paired:
    """The row layout of a batch: ``k`` sequences, then ``q`` references of each."""

    def __init__(self, k: int, q: int, eps: float) -> None:
        self.k, self.q, self.eps = k, q, eps

    @property
    def rows(self) -> int:
        return self.k * (1 + self.q)

    def split(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(k, 1, ...)`` sequence rows and ``(k, q, ...)`` reference rows of a batch tensor."""
        return t[: self.k].unsqueeze(1), t[self.k:].view(self.k, self.q, *t.shape[1:])

    def batch_of(self, like: torch.Tensor, zeros: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """A new batch tensor shaped like ``like`` with zeros on the sequence rows (everywhere with
        ``zeros``), and its reference rows as a ``(k, q, ...)`` view to fill in.

        Multipliers are kept as whole batches with zero sequence rows, so that a backward pass is one
        product with the incoming gradient and gradients reach the input on reference rows only.
        """
        full = like.new_zeros(like.shape) if zeros else like.new_empty(like.shape)
        if not zeros:
            full[: self.k] = 0
        return full, self.split(full)[1]


class _Scaled(torch.autograd.Function):
    """``compute(inp) -> (out, multiplier)`` (a batch, zero on sequence rows); backward: ``grad *
    multiplier``, summed to the input's shape (for factors broadcast in a product)."""

    @staticmethod
    def forward(ctx: Any, inp: torch.Tensor, compute: Callable, pairs: _Paired  # type: ignore[override]
                ) -> torch.Tensor:
        out, multiplier = compute(inp)
        ctx.save_for_backward(multiplier)
        ctx.shape = inp.shape
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        (multiplier,) = ctx.saved_tensors
        return (grad * multiplier).sum_to_size(ctx.shape), None, None


class _Product(torch.autograd.Function):
    """``a * b`` with the midpoint rule for both factors (reference rows)."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, pairs: _Paired  # type: ignore[override]
                ) -> torch.Tensor:
        out = a * b
        mults = []
        for factor in (b, a):  # the multiplier of a is the mean of b over the pair, and vice versa
            full, ref = pairs.batch_of(out)
            x, r = pairs.split(factor)
            if factor.shape == out.shape:
                torch.add(x, r, out=ref)
            else:
                ref.copy_(x + r)
            mults.append(full.mul_(0.5))
        ctx.save_for_backward(*mults)
        ctx.shapes = (a.shape, b.shape)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        mult_a, mult_b = ctx.saved_tensors
        return (grad * mult_a).sum_to_size(ctx.shapes[0]), (grad * mult_b).sum_to_size(ctx.shapes[1]), None


class _RoutedMax(torch.autograd.Function):
    """A max pooling ``pool(t) -> (out, indices into t.flatten(2))`` with DeepLIFT's max rule.

    In each pair, the change of a window's maximum is split into ``max(y, y_ref) - y_ref``, sent to
    the sequence's winning position, and ``y - max(y, y_ref)``, sent to the reference's; each part is
    divided by the change of the position it is sent to (where that change is zero, the sequence's
    part takes the gradient and the reference's part vanishes, as both are zero there).
    """

    @staticmethod
    def forward(ctx: Any, inp: torch.Tensor, pool: Callable, pairs: _Paired  # type: ignore[override]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        out, index = pool(inp)
        (o_x, o_r), (i_x, i_r) = pairs.split(out.flatten(2)), pairs.split(index.flatten(2))
        flat_x, flat_r = pairs.split(inp.flatten(2))
        i_x = i_x.expand_as(i_r)
        flat_x = flat_x.expand(*flat_r.shape)
        top = torch.maximum(o_x, o_r)
        coefs = []
        for winner, share, still_value in ((i_x, top - o_r, 1.0), (i_r, o_x - top, 0.0)):
            change = flat_x.gather(-1, winner) - flat_r.gather(-1, winner)
            still = change == 0
            coefs.append(torch.where(still, still_value, share / change.masked_fill(still, 1)))
        ctx.save_for_backward(i_x, i_r, *coefs)
        ctx.pairs, ctx.shape = pairs, inp.shape
        ctx.mark_non_differentiable(index)
        return out, index

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, _: Any) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        i_x, i_r, coef_x, coef_r = ctx.saved_tensors
        pairs: _Paired = ctx.pairs
        g = pairs.split(grad.flatten(2))[1]
        full = grad.new_zeros(ctx.shape)
        ref = pairs.split(full.view(*ctx.shape[:2], -1))[1]
        ref.scatter_add_(-1, i_x, g * coef_x)
        ref.scatter_add_(-1, i_r, g * coef_r)
        return full, None, None


class DeepLiftMode(TorchFunctionMode):
    """Run a model with DeepLIFT's rules on a batch of ``k`` sequences and ``q`` references each.

    Parameters
    ----------
    k, q
        Sequences in the batch, and references per sequence (after the sequences, grouped by
        sequence).
    eps
        Below this change of its input an elementwise function takes its midpoint derivative.

    Attributes
    ----------
    unpaired
        Names of nonlinear functions met on tensors without the paired batch axis (left to their
        gradient: contributions then do not sum exactly to the change of the output).
    """

    def __init__(self, k: int, q: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.pairs = _Paired(k, q, eps)
        self.unpaired: set[str] = set()

    def _paired(self, t: Any) -> bool:
        return isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape[0] == self.pairs.rows

    def _varies(self, t: Any) -> bool:
        """Whether ``t`` is an activation of the batch that carries gradient."""
        return self._paired(t) and t.requires_grad

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None
                           ) -> Any:
        kwargs = kwargs or {}
        if func in _ELEMENTWISE:
            return self._elementwise(func, args, kwargs)
        if func in _PRODUCT_FUNCS:
            return self._product(func, args, kwargs)
        if func in _QUOTIENT_FUNCS:
            return self._quotient(func, args, kwargs)
        if func in _SOFTMAX_FUNCS:
            return self._softmax(func, args, kwargs)
        if func in _POOLS:
            return self._max_pool(func, args, kwargs)
        if func in _MAXIMA:
            return self._maximum(func, args, kwargs)
        return func(*args, **kwargs)

    def _note(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        """Run ``func`` as it is (its gradient), noting it when it meets the batch unpaired."""
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor) and a.requires_grad]
        if tensors and not all(self._paired(t) for t in tensors):
            self.unpaired.add(getattr(func, "__name__", str(func)))
        return func(*args, **kwargs)

    def _elementwise(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        plain = _ELEMENTWISE[func]
        signature = _SIGNATURES.get(plain)
        if signature is not None and "inplace" in signature.parameters:
            bound = signature.bind(*args, **kwargs)
            bound.arguments["inplace"] = False
            args, kwargs = bound.args, bound.kwargs
        if "input" in kwargs:
            args, kwargs = (kwargs.pop("input"), *args), kwargs
        if not args or not self._varies(args[0]) or any(self._paired(a) or getattr(a, "requires_grad", False)
                                                         for a in (*args[1:], *kwargs.values())):
            return self._note(plain, args, kwargs)
        rest = args[1:]

        def fn(t: torch.Tensor) -> torch.Tensor:
            return plain(t, *rest, **kwargs)

        pairs = self.pairs

        def compute(inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            # in place where possible: on a CPU these passes over the activations cost more than the
            # convolutions of a small model
            out = fn(inp)
            slope, ref_slope = pairs.batch_of(out)
            (x, r), (fx, fr) = pairs.split(inp), pairs.split(out)
            torch.sub(fx, fr, out=ref_slope)
            change = x - r
            ref_slope.div_(change)
            close = (change.abs_() < pairs.eps).nonzero(as_tuple=True)  # few: index, not mask
            if close[0].numel():
                ref_slope[close] = _midpoint_slope(fn, x.expand_as(r)[close], r[close])
            return out, slope

        return _Scaled.apply(args[0], compute, pairs)

    def _product(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        a, b = (args + tuple(kwargs.values()))[:2]
        if not (self._paired(a) and self._paired(b)) or a.dim() != b.dim() or not (a.requires_grad
                                                                                  or b.requires_grad):
            return self._note(func, args, kwargs)
        if a.requires_grad and b.requires_grad:
            return _Product.apply(a, b, self.pairs)
        if b.requires_grad:
            a, b = b, a
        pairs = self.pairs

        def compute(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            # b varies but carries no gradient: the secant of a -> a * b
            out = a * b
            slope, ref_slope = pairs.batch_of(out)
            (a_x, a_r), (b_x, b_r), (o_x, o_r) = (pairs.split(t) for t in (a, b, out))
            torch.sub(o_x, o_r, out=ref_slope)
            change = (a_x - a_r).expand_as(o_r)
            ref_slope.div_(change)
            close = (change.abs() < pairs.eps).nonzero(as_tuple=True)
            if close[0].numel():
                ref_slope[close] = ((b_x + b_r) / 2).expand_as(o_r)[close]
            return out, slope

        return _Scaled.apply(a, compute, pairs)

    def _quotient(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        """``a / b`` with ``b`` varying: the product rule on ``a * (1 / b)``."""
        a, b = (args + tuple(kwargs.values()))[:2]
        if _QUOTIENT_FUNCS[func] == "__rtruediv__":  # b.__rtruediv__(a) is a / b
            a, b = b, a
        if kwargs.get("rounding_mode") is not None or not self._paired(b) or not (
                self._varies(a) or self._varies(b)):
            return self._note(func, args, kwargs)
        if not isinstance(a, torch.Tensor):  # a number over a varying tensor
            return self._elementwise(torch.reciprocal, (b,), {}) * a
        inverse = self._elementwise(torch.reciprocal, (b,), {}) if b.requires_grad else 1 / b
        return self._product(torch.mul, (a, inverse), {})

    def _softmax(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        """``softmax`` and ``log_softmax`` over a non-batch dimension, as ``exp``, a sum, ``reciprocal``
        (or ``log``) and a product, each with its rule.

        The logits are shifted for numerical safety by one constant per sequence and its references
        (the largest logit among them along ``dim``), so that the shift cancels in every pair.
        """
        inp, dim = args[0], kwargs.get("dim", args[1] if len(args) > 1 else None)
        if dim is None or not self._varies(inp) or dim % inp.dim() == 0:
            return self._note(func, args, kwargs)
        if kwargs.get("dtype") is not None:
            inp = inp.to(kwargs["dtype"])
        with torch.no_grad():
            top = inp.amax(dim, keepdim=True)
            top_x, top_r = self.pairs.split(top)
            shift = torch.maximum(top_x, top_r.amax(1, keepdim=True))  # (k, 1, ...)
            shift = torch.cat([shift[:, 0], shift.expand_as(top_r).flatten(0, 1)])
        shifted = inp - shift
        exps = self._elementwise(torch.exp, (shifted,), {})
        total = exps.sum(dim, keepdim=True)
        if _SOFTMAX_FUNCS[func] == "log_softmax":
            return shifted - self._elementwise(torch.log, (total,), {})
        return self._product(torch.mul, (exps, self._elementwise(torch.reciprocal, (total,), {})), {})

    def _max_pool(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        with_indices = _POOLS[func]
        bound = _POOL_SIGNATURES[with_indices].bind(*args, **kwargs)
        inp = bound.arguments["input"]
        if not self._varies(inp):
            return self._note(func, args, kwargs)
        wants_indices = bound.arguments.pop("return_indices", False) or func is with_indices
        options = dict(bound.arguments)
        options.pop("input")

        def pool(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return with_indices(t, **options, return_indices=True)

        out, index = _RoutedMax.apply(inp, pool, self.pairs)
        return (out, index) if wants_indices else out

    def _maximum(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        """``amax(dim)`` and ``max(dim)`` over non-batch dimensions."""
        inp, *rest = args
        if "dim" in kwargs:
            rest = [kwargs.pop("dim"), *rest]
        keepdim = kwargs.pop("keepdim", rest[1] if len(rest) > 1 else False)
        dims = rest[0] if rest else ()
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        if (kwargs or not dims or isinstance(rest[0], torch.Tensor) or not self._varies(inp)
                or any(d % inp.dim() == 0 for d in dims)):
            return self._note(func, args, kwargs)
        dims = tuple(d % inp.dim() for d in dims)
        kept = [d for d in range(inp.dim()) if d not in dims]
        flat = inp.permute(*kept, *dims).reshape(inp.shape[0], -1, _size(inp, dims))

        def pool(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return t.max(-1, keepdim=True)

        out, index = _RoutedMax.apply(flat, pool, self.pairs)
        shape = [1 if d in dims else n for d, n in enumerate(inp.shape)] if keepdim else \
            [n for d, n in enumerate(inp.shape) if d not in dims]
        out = out.reshape(shape)
        if func in (torch.amax, torch.Tensor.amax):
            return out
        return torch.return_types.max((out, index.reshape(shape)))


def _size(t: torch.Tensor, dims: tuple[int, ...]) -> int:
    size = 1
    for d in dims:
        size *= t.shape[d]
    return size
