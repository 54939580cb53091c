"""Run a peer library at its best in a benchmark: one timed call per setting, keep the fastest.

A benchmark that compares seqcnn with another library sweeps the peer's speed knobs (its batch size,
threads, fast paths) on a subset of the work before the timed rounds, then times the peer only at
its fastest setting, and prints the sweep so that a reader sees which setting that was.

    from _peer import SWEEP, sweep, describe
    best, rates = sweep(lambda batch_size: predict(model, x, batch_size=batch_size),
                        [{"batch_size": b} for b in SWEEP], work=len(x))
    print("tangermeme predict: " + describe(rates, best, "seq/s"))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

SWEEP = (16, 32, 64, 128, 256, 512, 1024)  # the batch sizes a peer is tried at


def setting_name(setting: dict[str, Any]) -> str:
    """``batch_size=64`` / ``encoder=rows, n_jobs=2``: one setting as printed."""
    return ", ".join(f"{k}={v}" for k, v in setting.items())


def sweep(call: Callable[..., object], settings: Sequence[dict[str, Any]], work: float, *,
          warmup: str = "first", repeats: int = 1) -> tuple[dict[str, Any], dict[str, float]]:
    """Time ``call(**setting)`` once per setting and return the fastest setting and every rate.

    Parameters
    ----------
    call
        Runs the peer on the sweep's subset with the keyword arguments of one setting.
    settings
        The settings to try, in the order they are printed.
    work
        Units of work in one call (sequences, mutations, bytes): rates are ``work / seconds``.
    warmup
        ``"first"``: run the first setting once, untimed, before the sweep (allocator, caches);
        ``"each"``: every setting once, where settings take different code paths (each its own JIT
        compilation); ``"none"``.
    repeats
        Rounds over all settings; each setting's rate is its best round (taking the settings in turn,
        so that a slow minute does not fall on one setting).

    Returns
    -------
    tuple[dict, dict[str, float]]
        The fastest setting, and the rate of every setting keyed by :func:`setting_name`; a setting
        whose call raised is printed and rated 0.

    Raises
    ------
    RuntimeError
        Every setting failed.
    """
    for setting in {"first": settings[:1], "each": settings, "none": []}[warmup]:
        _seconds(call, setting)
    rates = {setting_name(s): 0.0 for s in settings}
    for _ in range(repeats):
        for setting in settings:
            seconds = _seconds(call, setting)
            if seconds:
                rates[setting_name(setting)] = max(rates[setting_name(setting)], work / seconds)
    if not any(rates.values()):
        raise RuntimeError("every setting of the sweep failed (printed above)")
    best = max(settings, key=lambda s: rates[setting_name(s)])
    return best, rates


def _seconds(call: Callable[..., object], setting: dict[str, Any]) -> float | None:
    """Seconds of ``call(**setting)``, or None (printed) when it raises: a setting the peer cannot run
    (out of memory, a path it lacks on this device) is not its best, and the sweep goes on."""
    start = time.perf_counter()
    try:
        call(**setting)
    except Exception as exc:  # any failure of the peer's own code
        print(f"# {setting_name(setting)} failed: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
        return None
    return time.perf_counter() - start


def describe(rates: dict[str, float], best: dict[str, Any], unit: str) -> str:
    """One line: every setting's rate, then the one used (``batch_size=16: 1,200; ... -> batch_size=64``)."""
    return f"({unit}) " + "; ".join(f"{k}: {r:,.0f}" for k, r in rates.items()) + f" -> {setting_name(best)}"
