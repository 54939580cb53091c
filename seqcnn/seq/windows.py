"""Window grids along a sequence (or one axis of an image): where sliding windows start."""

from __future__ import annotations

import numpy as np

from seqcnn.errors import ConfigError


def window_starts(length: int, window: int, step: int, *, cover_end: bool = True) -> np.ndarray:
    """Starts of the windows ``[s, s + window)`` every ``step`` positions along ``length``.

    Parameters
    ----------
    length
        Positions along the axis (bases of a sequence, pixels of an image axis).
    window
        Window width (>= 1).
    step
        Distance between window starts (>= 1).
    cover_end
        Add one window flush with the end when the grid stops short of it, so that every position
        is covered (the last step is then shorter).

    Returns
    -------
    np.ndarray
        ``(W,)`` int64 starts, increasing. An axis no longer than ``window`` gets one window at 0
        (which runs past the end when ``length < window``: the caller pads).

    Raises
    ------
    ConfigError
        ``window`` or ``step`` below 1.
    """
    if window < 1 or step < 1:
        raise ConfigError(f"window and step must be >= 1, got {window} and {step}")
    if length <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - window + 1, step, dtype=np.int64)
    if cover_end and starts[-1] + window < length:
        starts = np.append(starts, length - window)
    return starts


__all__ = ["window_starts"]
