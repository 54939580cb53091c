"""Model registry: builders registered by name, rebuilt from (name, kwargs) by model files."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from seqcnn.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one architecture.

    ``dims`` is 1 for sequence models ``(N, 4, L)`` and 2 for image models ``(N, C, H, W)``.
    ``small`` holds keyword arguments for a tiny instance (tests, smoke runs);
    ``example_input`` is the input shape (without N) that ``small`` expects.
    """

    name: str
    builder: Callable[..., nn.Module]
    dims: int
    small: dict[str, Any] = field(default_factory=dict)
    example_input: tuple[int, ...] = ()
    output: str = "tasks"  # "tasks" -> (N, T); "profile" -> dict; "pixels" -> (N, K, H, W); "image"
    description: str = ""

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The builder's keyword-only parameters by name."""
        sig = inspect.signature(self.builder)
        return {n: p for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    dims: int,
    small: dict[str, Any] | None = None,
    example_input: tuple[int, ...] = (),
    output: str = "tasks",
    description: str = "",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model builder under ``name`` (a decorator).

    Parameters
    ----------
    name
        Registered name, used by :func:`build_model`, configs and model files.
    dims
        1 for sequence models ``(N, 4, L)``, 2 for image models ``(N, C, H, W)``.
    small
        Keyword arguments of a small instance, for tests and ``seqcnn models``.
    example_input
        Shape of one example input without the batch axis.
    output
        ``tasks`` (``(N, T)``), ``profile`` (a dict of named heads), ``pixels`` (per-pixel classes)
        or ``image`` (a reconstruction).
    description
        One line for ``seqcnn models`` (default: the builder docstring's first line).

    Returns
    -------
    Callable
        The decorator; it returns the builder unchanged.

    Raises
    ------
    TypeError
        A builder with positional arguments.
    ValueError
        A name registered twice.
    """

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        params = inspect.signature(builder).parameters.values()
        positional = [p.name for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        if positional:
            raise TypeError(f"builder {name!r} must take keyword-only arguments, got {positional}")
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        doc = description or (inspect.getdoc(builder) or "").split("\n")[0]
        _REGISTRY[name] = ModelSpec(name, builder, dims, dict(small or {}), tuple(example_input), output, doc)
        return builder

    return decorate


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def get_spec(name: str) -> ModelSpec:
    """What the registry knows about ``name``.

    Parameters
    ----------
    name
        A registered model name.

    Returns
    -------
    ModelSpec
        Builder, dimensions, small arguments, example input shape, output kind and description.

    Raises
    ------
    ConfigError
        An unknown name (listing the known ones, with a did-you-mean suggestion).
    """
    _load_families()
    if name not in _REGISTRY:
        known = sorted(_REGISTRY)
        raise ConfigError(f"unknown model {name!r}{_suggest(name, known)}; known models: {', '.join(known)}")
    return _REGISTRY[name]


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model.

    Parameters
    ----------
    name
        Registered name (see :func:`list_models`).
    **kwargs
        Keyword arguments of its builder (``seqcnn summary NAME`` lists them).

    Returns
    -------
    torch.nn.Module
        A freshly initialised model: sequence models take ``(N, 4, L)`` and return ``(N, T)`` (profile
        models a dict of named outputs); image models take ``(N, C, H, W)``.

    Raises
    ------
    ConfigError
        An unknown name or argument (listing the known ones), or a builder that rejects a value.
    """
    spec = get_spec(name)
    valid = spec.parameters
    for key in kwargs:
        if key not in valid:
            raise ConfigError(
                f"model {name!r} has no argument {key!r}{_suggest(key, list(valid))}; "
                f"valid arguments: {', '.join(valid)}"
            )
    try:
        return spec.builder(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {name!r}: {exc}") from exc


def list_models(dims: int | None = None) -> list[str]:
    """Names of the registered models.

    Parameters
    ----------
    dims
        1 for sequence models only, 2 for image models only, None for all.

    Returns
    -------
    list of str
        Sorted names.
    """
    _load_families()
    return sorted(n for n, s in _REGISTRY.items() if dims is None or s.dims == dims)


def _load_families() -> None:
    """Import every module of ``seqcnn.models`` so that their decorators run."""
    import importlib
    import pkgutil

    import seqcnn.models as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "registry" and not info.name.startswith("_"):
            importlib.import_module(f"seqcnn.models.{info.name}")
