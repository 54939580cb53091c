"""tqdm progress bars on stderr, shown only when asked for and stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm.auto import tqdm


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = False, **kwargs) -> tqdm:
    """Wrap ``iterable`` in a tqdm bar on stderr; disabled unless ``enabled`` and stderr is a TTY."""
    show = enabled and sys.stderr.isatty()
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, file=sys.stderr, disable=not show, **kwargs)
