"""tqdm progress bars on stderr, shown only when asked for and stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm.auto import tqdm


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = False, **kwargs) -> tqdm:
    """A tqdm progress bar on stderr, shown only when ``enabled`` and stderr is a terminal.

    Parameters
    ----------
    iterable
        What to iterate over (None: a manual bar, advanced with ``update``).
    enabled
        Whether the caller asked for progress (``progress=True``; the CLI's default unless ``--quiet``).
    **kwargs
        Further tqdm arguments (``total``, ``desc``, ``unit``, ...).

    Returns
    -------
    tqdm.tqdm
        The bar (a silent pass-through when disabled).
    """
    show = enabled and sys.stderr.isatty()
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, file=sys.stderr, disable=not show, **kwargs)
