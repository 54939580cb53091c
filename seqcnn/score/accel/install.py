"""Switching the scoring speed-ups on: which apply to a model, installing them, probing them.

:func:`accelerate` is the one call. On the CPU it looks for, in order:

1. a first block it can fuse into one table look-up kernel with its norm, activation and pooling
   (:class:`~seqcnn.score.accel.fused.FusedFirstBlock`), or else a first ``Conv1d`` it can compute by
   table look-ups alone (:class:`~seqcnn.score.accel.table.TableConv1d`; with ``auto`` only for first
   layers of at least ``WIDE_FIRST_LAYER`` filters, where it beats oneDNN);
2. wide later convolutions it can compute by FFT (:class:`~seqcnn.score.accel.fft.FFTConv1d`).

Each part is kept only if a probe batch (two random sequences of bases and N) scores the same as the
plain forward within ``PROBE_TOLERANCE``. Fixed rules rather than timing probes, so that the same input
always gives the same scores. The swaps are made in a private copy of the model, never in the caller's.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from seqcnn._common import model_device, preserved
from seqcnn.score.accel.fft import FFTConv1d, install_fft_convs, set_enabled
from seqcnn.score.accel.fused import FusedFirstBlock, fusable_first_block
from seqcnn.score.accel.table import FastPathBypassed, TableConv1d
from seqcnn.seq.codes import codes_to_onehot

if TYPE_CHECKING:
    from seqcnn.score.scorer import Prepared, Scorer

WIDE_FIRST_LAYER = 64  # filters from which the table conv is used by default
PROBE_TOLERANCE = 1e-4


def accelerate(scorer: Scorer, *, auto: bool = True) -> list[str]:
    """Install the CPU speed-ups that apply to ``scorer``'s model and agree with its plain forward.

    Parameters
    ----------
    scorer
        A CPU scorer. When something applies, its ``model`` becomes a private copy (``private``
        set) with modules swapped, and its ``table`` the table first layer if one was kept.
    auto
        Use the table first conv alone only for first layers of at least ``WIDE_FIRST_LAYER``
        filters (False: wherever it applies).

    Returns
    -------
    list[str]
        What was installed: ``"fused first block <name>"``, ``"table conv <name>"``,
        ``"fft conv <name>"`` entries; empty when nothing applies (the scorer is unchanged).
    """
    if scorer.device.type != "cpu" or not _anything_applies(scorer.model, auto):
        return []
    original = scorer.model
    scorer.model = copy.deepcopy(original).eval().to(scorer.device)
    scorer.private = True
    installed = _install_first(scorer, auto)
    installed += _install_fft(scorer)
    if not installed:  # the probes disagreed: score with the caller's model, lent per call
        scorer.model, scorer.private = original, False
    return installed


def _anything_applies(model: nn.Module, auto: bool) -> bool:
    """True when a swap may apply to the model in eval mode (checked on the caller's model, which
    is given back as it was)."""
    if any(p.device.type != "cpu" for p in model.parameters()):
        return True  # on another device: FFTConv1d.supports cannot tell before the copy
    with preserved(model, model_device(model)):  # eval mode, as the scorer runs it
        if fusable_first_block(model) is not None or _first_conv(model, auto) is not None:
            return True
        return any(FFTConv1d.supports(m) for m in model.modules())


def _first_conv(model: nn.Module, auto: bool) -> tuple[str, nn.Conv1d] | None:
    found = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv1d)), None)
    if found is None or not TableConv1d.supports(found[1]):
        return None
    if auto and found[1].out_channels < WIDE_FIRST_LAYER:
        return None
    return found


def _install_first(scorer: Scorer, auto: bool) -> list[str]:
    """Swap the first block (conv, norm, activation, pooling) for its fused table version, or else
    the first Conv1d for its table version; kept only if a probe batch agrees."""
    model = scorer.model
    fusable = fusable_first_block(model)
    if fusable is not None:
        block_name, block, pool_name = fusable
        pool = model.get_submodule(pool_name) if pool_name else None
        module: nn.Module = FusedFirstBlock(block, pool)
        swaps = [(block_name, module)] + ([(pool_name, nn.Identity())] if pool_name else [])
        label = f"fused first block {block_name}"
    else:
        found = _first_conv(model, auto)
        if found is None:
            return []
        module = TableConv1d(found[1])
        swaps = [(found[0], module)]
        label = f"table conv {found[0]}"
    scorer._restore = [(name, model.get_submodule(name)) for name, _ in swaps]
    for name, replacement in swaps:
        set_submodule(model, name, replacement)
    scorer.table = module
    if _first_agrees(scorer):
        return [label]
    scorer.drop_table()
    return []


def _probe_batch(scorer: Scorer, seed: int) -> Prepared:
    """Two random sequences (bases and N) of the model's length, prepared."""
    length = scorer.input_length or max(scorer.minimum, 64)
    return scorer.prepare(np.random.default_rng(seed).integers(0, 5, size=(2, length), dtype=np.uint8))


def _first_agrees(scorer: Scorer) -> bool:
    prepared = _probe_batch(scorer, seed=0)
    try:
        fast = scorer.forward(prepared)
    except FastPathBypassed:
        return False
    finally:
        scorer.table.disarm()
    onehot = torch.from_numpy(codes_to_onehot(prepared.codes))
    plain = scorer.forward(dataclasses.replace(prepared, onehot=onehot))
    return bool(torch.allclose(fast, plain, rtol=PROBE_TOLERANCE, atol=PROBE_TOLERANCE))


def _install_fft(scorer: Scorer) -> list[str]:
    """Swap wide later convolutions for FFT ones, kept only if a probe batch agrees with the direct
    convolutions."""
    swapped = install_fft_convs(scorer.model, skip=scorer.table)
    if not swapped:
        return []
    prepared = _probe_batch(scorer, seed=1)
    fast = scorer.run(prepared)
    set_enabled(scorer.model, False)
    plain = scorer.run(prepared)
    set_enabled(scorer.model, True)
    if not np.allclose(fast, plain, rtol=PROBE_TOLERANCE, atol=PROBE_TOLERANCE):
        for name, original in swapped:
            set_submodule(scorer.model, name, original)
        return []
    return [f"fft conv {name}" for name, _ in swapped]


def set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    """Replace ``root``'s submodule at the dotted ``name`` by ``module``."""
    parent_name, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, attr, module)
