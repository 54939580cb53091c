"""Per-position models: one output per base, run in tiles over sequences of any length.

The contract (``docs/formats.md``):

- A model whose forward pass returns one tensor of shape ``(N, T, L_out)`` (three axes, not a dict)
  is a per-position model: ``T`` outputs (tasks or classes) at each of ``L_out`` positions.
- Its outputs are centred on its input of length ``L``: output position ``j`` describes input
  position ``j + (L - L_out) // 2`` (an odd surplus of context goes to the right end).
- The model file's ``task_type`` applies over axis 1 at each position: ``multiclass``: softmax over
  the ``T`` classes; ``binary``: sigmoid; anything else (or ``logits``): raw outputs.
- Strands (``rc`` ``mean``/``max``): the reverse complement's outputs are flipped back along the
  positions and combined with the forward ones after the transform (this needs an even
  ``L - L_out``, so that both strands see the same positions).
- Tiles: a model with a fixed ``input_length`` ``L`` gives ``L_out`` positions a forward pass; a
  sequence of length ``n`` is cut into ``ceil(n / L_out)`` tiles whose outputs cover positions
  ``[k L_out, (k + 1) L_out)``, each fed the input window ``[k L_out - c, k L_out - c + L)``
  (``c = (L - L_out) // 2``) with N (0.25 in every channel) wherever the window runs past the
  sequence. A model taking any length must lose the same number of positions ``L - L_out`` at
  every length (convolutions without padding, cropping): a tile then gives up to ``tile`` positions
  (:data:`DEFAULT_TILE`), and a shorter sequence is one tile of its own length plus context. For
  such models the tiled outputs equal one forward pass over the whole N-padded sequence; a model
  that pads inside (``L_out = L``) sees the tile edges.

:func:`predict_positions` scores sequences in memory; :func:`iter_positions` streams regions of any
size (whole chromosomes through :class:`~seqcnn.seq.genome.Genome`) with flat memory, yielding the
outputs a tile at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcnn._common import (
    Target,
    metadata_of,
    model_dtype,
    preserved,
    resolve_batch_size,
    resolve_rc,
    resolve_targets,
    task_names,
    transform_outputs,
)
from seqcnn.device import resolve_device
from seqcnn.errors import ConfigError, InputError
from seqcnn.progress import progress_bar
from seqcnn.score.stream import background
from seqcnn.seq.codes import codes_to_onehot, encode_codes, first_invalid, reverse_complement_codes

DEFAULT_TILE = 5000  # positions a tile of a model taking any length (SpliceAI's block)
AUTO_BASES = 1 << 18  # input bases a batch when the batch size is left automatic
PROBE_LENGTH = 1024  # input length probed for a model taking any length (at least its receptive field)


@dataclass(frozen=True)
class Tiling:
    """How a per-position model's outputs line up with its input.

    Attributes
    ----------
    crop
        Input bases a forward pass loses, ``L - L_out`` (``c = crop // 2`` of them before the first
        output).
    n_tasks
        Outputs at each position (``T``).
    input_length
        A fixed-length model's input length ``L``; None for a model taking any length.
    tile
        Positions a tile gives at most: ``L - crop`` for a fixed-length model.
    """

    crop: int
    n_tasks: int
    input_length: int | None
    tile: int

    @property
    def offset(self) -> int:
        """Input bases before output position 0: ``crop // 2``."""
        return self.crop // 2

    def tiles(self, length: int) -> list[tuple[int, int]]:
        """The output spans ``[a, b)`` the tiles of a ``length``-long sequence give (the last one may be
        shorter than :attr:`tile`)."""
        return [(a, min(a + self.tile, length)) for a in range(0, length, self.tile)]

    def window(self, a: int, b: int) -> tuple[int, int]:
        """The input window ``[start, end)`` whose outputs are positions ``[a, b)`` (a fixed-length
        model's full input length; otherwise ``b - a + crop`` bases)."""
        start = a - self.offset
        return start, start + (self.input_length or b - a + self.crop)


@dataclass
class Region:
    """A sequence to score position by position.

    Attributes
    ----------
    key
        Identifies it in the output (record id, or a genome interval).
    length
        Its length in bases.
    fetch
        ``fetch(start, end)``: the bases ``[start, end)`` in the region's own coordinates (0 = its
        first base), N wherever the span runs past either end.
    label
        Names it in error messages (None: ``str(key)``).
    """

    key: Any
    length: int
    fetch: Callable[[int, int], str]
    label: str | None = None


@dataclass
class PositionBlock:
    """Outputs of consecutive positions of one region (one tile).

    Attributes
    ----------
    key
        The region's key.
    start
        Position of the first row, 0-based in the region's coordinates.
    values
        ``(n, T')`` float32: one row per position, one column per selected output.
    """

    key: Any
    start: int
    values: np.ndarray


def sequence_region(key: Any, seq: str) -> Region:
    """A :class:`Region` over a sequence held in memory (N-padded past its ends)."""
    n = len(seq)

    def fetch(start: int, end: int) -> str:
        lo, hi = max(start, 0), min(end, n)
        core = seq[lo:hi] if hi > lo else ""
        left = min(lo - start, end - start)
        return "N" * left + core + "N" * (end - start - left - len(core))

    return Region(key, n, fetch)


def output_shape(model: nn.Module, length: int, *,
                 device: str | torch.device | None = None) -> tuple[int, ...]:
    """The shape (without the batch axis) of ``model``'s output for one all-N sequence.

    Parameters
    ----------
    model
        A sequence model; given back as it was.
    length
        Input length.
    device
        Where to run (None: automatic).

    Returns
    -------
    tuple[int, ...]
        ``(T,)`` for a model scoring whole sequences, ``(T, L_out)`` for a per-position model;
        ``()`` for a model returning a dict (profile models).
    """
    x = torch.full((1, 4, length), 0.25)
    with preserved(model, device) as lent, torch.inference_mode():
        out = lent(x.to(resolve_device(device), model_dtype(lent)))
    if isinstance(out, dict):
        return ()
    return tuple(out.shape[1:])


def fixed_input_length(model: nn.Module) -> int | None:
    """The model's fixed input length (its ``input_length``, else its model file's), or None."""
    meta = metadata_of(model)
    return getattr(model, "input_length", None) or (meta.input_length if meta is not None else None)


def probe_length(model: nn.Module) -> int:
    """The input length a model is probed with: its fixed length, else ``PROBE_LENGTH`` (at least its
    receptive field)."""
    return fixed_input_length(model) or max(int(getattr(model, "receptive_field", 1) or 1), PROBE_LENGTH)


def plan_tiling(model: nn.Module, *, tile: int | None = None, shape: tuple[int, ...] | None = None,
                device: str | torch.device | None = None) -> Tiling:
    """How ``model`` is run in tiles (one probe forward pass unless ``shape`` is given).

    Parameters
    ----------
    model
        A per-position model.
    tile
        Positions a tile of a model taking any length (None: :data:`DEFAULT_TILE`); a fixed-length
        model's tile is its output length, and another value is refused.
    shape
        The model's output shape at :func:`probe_length` when already known (:func:`output_shape`).
    device
        Where to probe.

    Returns
    -------
    Tiling
        The crop, number of outputs, input length and tile.

    Raises
    ------
    ConfigError
        Not a per-position model (outputs not ``(N, T, L_out)``), an output longer than its input,
        or a ``tile`` a fixed-length model cannot give.
    """
    length = probe_length(model)
    shape = output_shape(model, length, device=device) if shape is None else shape
    if len(shape) != 2:
        raise ConfigError(f"model output has shape (N, {', '.join(map(str, shape))}); a per-position model "
                          "returns (N, T, L_out)")
    n_tasks, out_length = shape
    if not 0 < out_length <= length:
        raise ConfigError(f"per-position output length {out_length} for input length {length}: it must be "
                          "between 1 and the input length")
    fixed = fixed_input_length(model)
    if fixed:
        if tile is not None and tile != out_length:
            raise ConfigError(f"--window {tile}: this model gives {out_length} positions per input of "
                              f"{fixed} bases (its fixed input length)")
        return Tiling(length - out_length, n_tasks, fixed, out_length)
    if tile is not None and tile < 1:
        raise ConfigError(f"tile must be >= 1, got {tile}")
    return Tiling(length - out_length, n_tasks, None, tile or DEFAULT_TILE)


def iter_positions(model: nn.Module, regions: Iterable[Region], *, tiling: Tiling | None = None,
                   target: Target = None, rc: str | None = None, batch_size: int | None = None,
                   device: str | torch.device | None = None, progress: bool = False, logits: bool = False,
                   file: str | None = None) -> Iterator[PositionBlock]:
    """Per-position outputs of every region, streamed a tile at a time.

    Parameters
    ----------
    model
        A per-position model (outputs ``(N, T, L_out)``); given back as it was.
    regions
        What to score (:func:`sequence_region`, or genome intervals).
    tiling
        From :func:`plan_tiling` (None: planned here).
    target
        The outputs to keep: None (all), an index, a task name, or a list of them.
    rc
        ``mean``/``max`` combine both strands, ``none`` the given strand; None: the model file's
        ``rc_mode``.
    batch_size
        Tiles per forward pass (None: about ``AUTO_BASES`` input bases).
    device
        Where to run (None: automatic).
    progress
        A progress bar (positions) on stderr.
    logits
        Raw outputs instead of the ``task_type`` transform.
    file
        Source named in error messages.

    Yields
    ------
    PositionBlock
        Consecutive positions of one region, in region order then position order.

    Raises
    ------
    ConfigError
        A bad target, rc mode or batch size; ``rc`` with an odd crop.
    InputError
        An invalid character (naming the region and 1-based position).
    """
    tiling = tiling or plan_tiling(model, device=device)
    rc = resolve_rc(rc, model)
    if rc != "none" and tiling.crop % 2:
        raise ConfigError(f"rc {rc!r} needs an even number of context bases (input minus output length), "
                          f"this model has {tiling.crop}")
    keep = resolve_targets(target, task_names(model, tiling.n_tasks))
    rows = resolve_batch_size(batch_size, 0) if batch_size is not None else 0
    task_type = getattr(metadata_of(model), "task_type", "regression")
    dev = resolve_device(device)
    with preserved(model, dev) as lent, progress_bar(enabled=progress, desc="positions", unit="bp") as bar:
        for batch in background(_tile_batches(regions, tiling, rows, file)):
            out = _forward(lent, batch.codes, rc, task_type, logits, dev)
            if out.shape[1:] != (tiling.n_tasks, batch.codes.shape[1] - tiling.crop):
                raise ConfigError(f"per-position output {tuple(out.shape[1:])} for input length "
                                  f"{batch.codes.shape[1]}: expected ({tiling.n_tasks}, "
                                  f"{batch.codes.shape[1] - tiling.crop}) (a constant crop of {tiling.crop})")
            values = out[:, keep].transpose(0, 2, 1)  # (tiles, L_out, T')
            for i, (key, a, b) in enumerate(batch.spans):
                bar.update(b - a)
                yield PositionBlock(key, a, np.ascontiguousarray(values[i, : b - a]))


@dataclass
class _Batch:
    codes: np.ndarray  # (n, L) uint8 input windows
    spans: list[tuple[Any, int, int]]  # (region key, first, end position) each tile gives


def _tile_batches(regions: Iterable[Region], tiling: Tiling, rows: int, file: str | None) -> Iterator[_Batch]:
    """Batches of tile inputs of equal length (made in the input thread)."""
    codes: list[np.ndarray] = []
    spans: list[tuple[Any, int, int]] = []
    for region in regions:
        for a, b in tiling.tiles(region.length):
            start, end = tiling.window(a, b)
            tile = _tile_codes(region, start, end, file)
            limit = rows or max(1, AUTO_BASES // len(tile))
            if codes and (len(tile) != len(codes[0]) or len(codes) >= limit):
                yield _Batch(np.stack(codes), spans)
                codes, spans = [], []
            codes.append(tile)
            spans.append((region.key, a, b))
    if codes:
        yield _Batch(np.stack(codes), spans)


def _tile_codes(region: Region, start: int, end: int, file: str | None) -> np.ndarray:
    seq = region.fetch(start, end)
    codes = encode_codes(seq)
    bad = first_invalid(codes)
    if bad is not None:
        raise InputError(f"invalid character {seq[bad]!r} (not an IUPAC nucleotide code)", file=file,
                         record=region.label or str(region.key), position=start + bad + 1)
    return codes


def _forward(model: nn.Module, codes: np.ndarray, rc: str, task_type: str, logits: bool,
             device: torch.device) -> np.ndarray:
    """Transformed outputs ``(n, T, L_out)`` of a batch of codes, strands combined."""
    if rc != "none":
        codes = np.concatenate([codes, reverse_complement_codes(codes)])
    x = torch.from_numpy(codes_to_onehot(codes)).to(device, model_dtype(model))
    with torch.inference_mode():
        out = model(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 3:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ConfigError(f"model output {shape} is not per-position (N, T, L_out)")
        out = transform_outputs(out.float(), task_type, logits=logits)
        if rc != "none":
            half = out.shape[0] // 2
            fwd, rev = out[:half], out[half:].flip(-1)
            out = (fwd + rev) / 2 if rc == "mean" else torch.maximum(fwd, rev)
    return out.cpu().numpy()


def predict_positions(model: nn.Module, sequences: str | list[str], *, target: Target = None,
                      rc: str | None = None, batch_size: int | None = None,
                      device: str | torch.device | None = None, progress: bool = False, logits: bool = False,
                      tile: int | None = None) -> list[np.ndarray]:
    """Per-position outputs of sequences held in memory.

    Parameters
    ----------
    model
        A per-position model (outputs ``(N, T, L_out)``, see the module docstring); given back as it
        was.
    sequences
        One sequence or a list of them (any lengths).
    target, rc, batch_size, device, progress, logits
        As :func:`iter_positions`.
    tile
        Positions a tile of a model taking any length (:func:`plan_tiling`).

    Returns
    -------
    list[np.ndarray]
        One ``(L_i, T')`` float32 array per sequence: row ``p`` holds the outputs at base ``p``.

    Raises
    ------
    ConfigError, InputError
        As :func:`plan_tiling` and :func:`iter_positions`.
    """
    seqs = [sequences] if isinstance(sequences, str) else list(sequences)
    tiling = plan_tiling(model, tile=tile, device=device)
    regions = [sequence_region(f"#{i + 1}", s) for i, s in enumerate(seqs)]
    n_keep = len(resolve_targets(target, task_names(model, tiling.n_tasks)))
    result = [np.full((len(s), n_keep), np.nan, dtype=np.float32) for s in seqs]
    for block in iter_positions(model, regions, tiling=tiling, target=target, rc=rc, batch_size=batch_size,
                                device=device, progress=progress, logits=logits):
        index = int(block.key[1:]) - 1
        result[index][block.start : block.start + len(block.values)] = block.values
    return result


__all__ = ["DEFAULT_TILE", "PositionBlock", "Region", "Tiling", "iter_positions", "output_shape",
           "plan_tiling", "predict_positions", "probe_length", "sequence_region"]
