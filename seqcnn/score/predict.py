"""Batched scoring of sequences: strings, one-hot arrays or FASTA files, streamed.

``predict(model, inputs)`` is the one-call API. Underneath, :class:`Scorer` wraps a copy of the model
(on the chosen device, in inference mode) with reverse-complement averaging, the output transform of
the task type and the CPU fast paths (``seqcnn.score.accel.fused``, ``predict_fast``, ``predict_fft``);
``score_fasta``, ``score_records`` and ``score_windows`` stream FASTA-sized inputs through it with
``seqcnn.score.stream``.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from seqcnn.device import intra_op_threads, resolve_device
from seqcnn.errors import ConfigError, InputError
from seqcnn.progress import progress_bar
from seqcnn.score.accel.fft import FFTConv1d, install_fft_convs, set_enabled
from seqcnn.score.accel.fused import FusedFirstBlock, fusable_first_block
from seqcnn.score.accel.table import (
    N_FAST_CODES,
    FastPathBypassed,
    TableConv1d,
    codes_to_onehot,
    onehot_to_codes,
    reverse_complement_codes,
)
from seqcnn.score.stream import (
    Chunk,
    LengthPolicy,
    ScoreStats,
    background,
    fasta_chunks,
    record_chunks,
    window_chunks,
)

if TYPE_CHECKING:
    import pandas as pd

RC_MODES = ("mean", "max", "none")
WIDE_FIRST_LAYER = 64  # filters from which the table conv is used by default
Scored = tuple[Chunk, np.ndarray]  # a chunk of keys and its scores (n, T)
_PROBE_TOLERANCE = 1e-4
AUTO_BATCH = 1024  # sequences a batch when the batch size is left to the scorer
AUTO_BATCH_BYTES = 16 << 20  # ... and at most this much first-layer output (float32) a batch
AUTO_MIN_BASES = 1 << 18  # ... but at least this many bases a batch (about 256 x 1,000 bp)
FUSED_BATCH = 4096  # the same when a fused first block with global pooling does all the work ...
FUSED_BATCH_BASES = 1 << 22  # ... (4 MB of codes a batch)


@dataclass
class Prepared:
    """One batch ready for the forward pass: codes ``(n, L)`` (forward then reverse strand when
    RC is on), expanded to float one-hot at the forward pass unless the table conv takes them,
    or the float one-hot ``(n, 4, L)`` (then ``codes`` may be kept for a fallback)."""

    codes: np.ndarray | None
    onehot: torch.Tensor | None = None

    @property
    def fast(self) -> bool:
        return self.onehot is None


class Scorer:
    """A model ready to score one-hot batches: ``prepare`` (any thread) then ``run`` (one thread).

    ``rc``: ``mean``/``max`` combine the scores of both strands, ``none`` scores the given strand;
    ``None`` takes the model file's ``rc_mode``. Scores are probabilities for ``binary`` (sigmoid)
    and ``multiclass`` (softmax) models and raw outputs otherwise, or raw always with ``logits``;
    the strands are combined after the transform.

    ``fast`` (CPU only; each part kept only if a probe batch agrees with the plain layers):
    the first block fused into one table-lookup kernel with its norm, activation and pooling
    (``seqcnn.score.accel.fused``) where the model's structure allows it, else the first conv alone
    by table lookups (``seqcnn.score.accel.table``; with ``None``, the default, only for first layers of
    at least ``WIDE_FIRST_LAYER`` filters, where it beats oneDNN), and wide later convolutions by
    FFT (``seqcnn.score.accel.fft``). ``False``: the plain forward only. Fixed rules rather than timing
    probes, so that the same input always gives the same scores.
    """

    def __init__(self, model: nn.Module, *, device: str | torch.device | None = None,
                 rc: str | None = None, logits: bool = False, fast: bool | None = None) -> None:
        meta = getattr(model, "metadata", None)
        self.task_type = meta.task_type if meta is not None else "regression"
        self.rc = rc if rc is not None else (meta.rc_mode if meta is not None else "none")
        if self.rc not in RC_MODES:
            raise ConfigError(f"unknown rc mode {self.rc!r} (use mean, max or none)")
        self.logits = logits
        self.device = resolve_device(device)
        self.model = copy.deepcopy(model).eval().to(self.device)
        length = getattr(model, "input_length", None) or (meta.input_length if meta is not None else None)
        self.input_length: int | None = length
        self.minimum = int(getattr(model, "receptive_field", 1) or 1)
        self.tasks: list[str] = list(meta.tasks) if meta is not None and meta.tasks else []
        self._restore: list[tuple[str, nn.Module]] = []  # (name, original module) to undo the fast path
        self.table: TableConv1d | FusedFirstBlock | None = None
        if fast is not False:
            self.table = self._install_table(auto=fast is None)
            self._install_fft()

    # -- fast path ---------------------------------------------------------------------------
    def _install_table(self, auto: bool) -> TableConv1d | FusedFirstBlock | None:
        """Swap the first block (conv, norm, activation, pooling) for its fused table version
        (``seqcnn.score.accel.fused``), or else the first Conv1d for its table version (when ``auto``,
        only for first layers of at least WIDE_FIRST_LAYER filters); kept only if a probe batch
        agrees with the plain forward."""
        if self.device.type != "cpu":
            return None
        fusable = fusable_first_block(self.model)
        if fusable is not None:
            block_name, block, pool_name = fusable
            pool = self.model.get_submodule(pool_name) if pool_name else None
            module: nn.Module = FusedFirstBlock(block, pool)
            swaps = [(block_name, module)] + ([(pool_name, nn.Identity())] if pool_name else [])
        else:
            found = next(((n, m) for n, m in self.model.named_modules() if isinstance(m, nn.Conv1d)), None)
            if found is None or not TableConv1d.supports(found[1]):
                return None
            if auto and found[1].out_channels < WIDE_FIRST_LAYER:
                return None
            module = TableConv1d(found[1])
            swaps = [(found[0], module)]
        self._restore = [(name, self.model.get_submodule(name)) for name, _ in swaps]
        for name, replacement in swaps:
            _set_submodule(self.model, name, replacement)
        self.table = module
        if self._probe_agrees():
            return module
        self._drop_table()
        return None

    def _install_fft(self) -> None:
        """Swap wide later convolutions for FFT ones (``seqcnn.score.accel.fft``, CPU), kept only if a
        probe batch agrees with the direct convolutions."""
        if self.device.type != "cpu":
            return
        swapped = install_fft_convs(self.model, skip=self.table)
        if not swapped:
            return
        prepared = self._probe_batch(seed=1)
        fast = self.run(prepared)
        set_enabled(self.model, False)
        plain = self.run(prepared)
        set_enabled(self.model, True)
        if not np.allclose(fast, plain, rtol=_PROBE_TOLERANCE, atol=_PROBE_TOLERANCE):
            for name, original in swapped:
                _set_submodule(self.model, name, original)

    def _probe_batch(self, seed: int) -> Prepared:
        """Two random sequences (bases and N) of the model's length, prepared."""
        length = self.input_length or max(self.minimum, 64)
        return self.prepare(np.random.default_rng(seed).integers(0, 5, size=(2, length), dtype=np.uint8))

    def _probe_agrees(self) -> bool:
        prepared = self._probe_batch(seed=0)
        try:
            fast = self._forward(prepared)
        except FastPathBypassed:
            return False
        finally:
            self.table.disarm()
        onehot = torch.from_numpy(codes_to_onehot(prepared.codes))
        plain = self._forward(Prepared(prepared.codes, onehot=onehot))
        return bool(torch.allclose(fast, plain, rtol=_PROBE_TOLERANCE, atol=_PROBE_TOLERANCE))

    # -- batches -----------------------------------------------------------------------------
    def prepare(self, codes: np.ndarray) -> Prepared:
        """Prepare codes ``(n, L)`` (adds the reverse strand when RC is on)."""
        if self.rc != "none":
            codes = np.concatenate([codes, reverse_complement_codes(codes)])
        if self.table is None or codes.max(initial=0) < N_FAST_CODES:
            # the dense path expands codes to float one-hot in ``_forward`` (a ~1 ms numba loop per
            # 1,024 sequences): queued batches stay 16x smaller than their float input
            return Prepared(np.ascontiguousarray(codes))
        return Prepared(codes, onehot=torch.from_numpy(codes_to_onehot(codes)))

    def prepare_onehot(self, x: np.ndarray) -> Prepared:
        """Prepare a float one-hot batch ``(n, 4, L)``: through codes when it holds only exact
        bases and N, as floats otherwise."""
        codes = onehot_to_codes(x) if self.table is not None else None
        if codes is not None:
            return self.prepare(codes)
        if self.rc != "none":
            x = np.concatenate([x, np.ascontiguousarray(x[:, ::-1, ::-1])])
        return Prepared(None, onehot=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))

    def run(self, prepared: Prepared) -> np.ndarray:
        """Scores ``(n, T)`` float32 of a prepared batch."""
        try:
            out = self._forward(prepared)
        except FastPathBypassed:  # the model changed its input before the first conv
            self._drop_table()
            out = self._forward(prepared)
        finally:
            if self.table is not None:
                self.table.disarm()
        if self.rc != "none":
            half = out.shape[0] // 2
            fwd, rev = out[:half], out[half:]
            out = (fwd + rev) / 2 if self.rc == "mean" else torch.maximum(fwd, rev)
        return out.cpu().numpy()

    def _forward(self, prepared: Prepared) -> torch.Tensor:
        if prepared.fast and self.table is None:  # dense model, or a fallback dropped the tables
            prepared = Prepared(prepared.codes, torch.from_numpy(codes_to_onehot(prepared.codes)))
        with torch.inference_mode():
            if prepared.fast:
                n, length = prepared.codes.shape
                token = torch.zeros(()).expand(n, 4, length)
                self.table.arm(token, prepared.codes)
                with intra_op_threads(1 if self._tiny_rest else None):
                    out = self.model(token)
            else:
                out = self.model(prepared.onehot.to(self.device, non_blocking=True))
            out = _task_output(out).float()
            if self.logits:
                return out
            if self.task_type == "binary":
                return torch.sigmoid(out)
            if self.task_type == "multiclass":
                return torch.softmax(out, dim=1)
            return out

    @property
    def _tiny_rest(self) -> bool:
        """True when a fused first block with global pooling leaves only a small dense head to torch:
        that head then runs on one thread (two OpenMP threads on tiny matrices, competing with the
        input thread and the kernel's threads, made DeepBind-size scoring 1.5x slower)."""
        return isinstance(self.table, FusedFirstBlock) and self.table.global_pool is not None

    def _drop_table(self) -> None:
        for name, original in self._restore:
            _set_submodule(self.model, name, original)
        self._restore = []
        self.table = None

    def task_names(self, n_tasks: int) -> list[str]:
        """The model file's task names, or ``task0..`` when it has none (or a different count)."""
        return self.tasks if len(self.tasks) == n_tasks else [f"task{i}" for i in range(n_tasks)]

    def policy(self) -> LengthPolicy:
        return LengthPolicy(self.input_length, self.minimum)

    def batch_plan(self, batch_size: int | None) -> tuple[int, int | None]:
        """``(sequences, bases)`` per batch: a given ``batch_size`` as it is (no base limit); for
        ``None``, up to ``AUTO_BATCH`` sequences whose first-layer output stays within
        ``AUTO_BATCH_BYTES`` (at least ``AUTO_MIN_BASES`` bases): ~262 sequences of 1,000 bp for
        DeepBind or Basset, 1,024 short ones. Measured on 1,000 bp DeepBind input: 256 sequences
        ran at 57k/s, 1,024 at 39k/s on a quiet machine (64 MB of activations leave the cache);
        short inputs need large batches to amortise the per-batch Python overhead."""
        if batch_size is not None:
            if batch_size < 1:
                raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
            return batch_size, None
        if self._tiny_rest:  # only codes and pooled features in memory: large batches, less overhead
            return FUSED_BATCH, FUSED_BATCH_BASES
        conv = next((m for m in self.model.modules() if isinstance(m, nn.Conv1d)), None)
        channels = conv.out_channels if conv is not None else 4
        if any(isinstance(m, FFTConv1d) for m in self.model.modules()):
            # the spectra of a batch take ~4x its activations: 128 x 1 kbp Basset batches scored as
            # fast as 256 with a third of the page faults (peak memory 0.9 instead of 1.1 GB)
            return AUTO_BATCH, max(AUTO_MIN_BASES // 2, AUTO_BATCH_BYTES // (4 * channels))
        return AUTO_BATCH, max(AUTO_MIN_BASES, AUTO_BATCH_BYTES // (4 * channels))


def keep_freed_memory(retain: int = 512 << 20) -> bool:
    """Ask glibc's malloc to serve large blocks from its heap and keep up to ``retain`` freed bytes,
    so that the forward pass's large activations (16 MB a batch for DeepBind at 256 sequences) reuse
    memory instead of being mapped, page-faulted (zero-filled) and unmapped on every batch (at 1,024
    DeepBind sequences a batch that made the forward 2.6x slower: 15k vs 39k sequences/s; at 256 it
    happens under load). Process-wide, so meant for CLI commands; a no-op (False) where the C
    library is not glibc."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library's symbols, as the interpreter links them
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_mmap_max, 0) and mallopt(m_trim_threshold, int(retain)))


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, attr, module)


def _task_output(out: Any) -> torch.Tensor:
    """The ``(N, T)`` scores of a model output; profile models give their ``counts`` head."""
    if isinstance(out, dict):
        if "counts" not in out:
            raise ConfigError(f"model returns {sorted(out)}; scoring needs (N, T) outputs or a 'counts' head")
        out = out["counts"]
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2:
        raise ConfigError(f"model output has shape {tuple(out.shape)}; scoring needs (N, T) outputs")
    return out


def _scorer(model: nn.Module | Scorer, **kwargs: Any) -> Scorer:
    return model if isinstance(model, Scorer) else Scorer(model, **kwargs)


def iter_scores(scorer: Scorer, chunks: Iterable[Chunk], *, progress: bool = False,
                desc: str = "scoring") -> Iterator[Scored]:
    """Run prepared chunks (made in a background thread) through ``scorer``; yields (chunk, scores)."""
    bar = progress_bar(enabled=progress, desc=desc, unit="seq")
    try:
        for chunk in background(chunks):
            if not chunk.keys:  # every record of the chunk was skipped
                continue
            parts = [(idx, scorer.run(prep)) for idx, prep in chunk.groups]
            n_tasks = parts[0][1].shape[1] if parts else 0
            scores = np.empty((len(chunk.keys), n_tasks), dtype=np.float32)
            for idx, part in parts:
                scores[idx] = part
            bar.update(len(chunk.keys))
            yield chunk, scores
    finally:
        bar.close()


def score_records(scorer: Scorer, records: Iterable[tuple[Any, str]], *, batch_size: int | None = 256,
                  file: str | None = None, skip_invalid: bool = False, echo: bool = False,
                  progress: bool = False, stats: ScoreStats | None = None) -> Iterator[Scored]:
    """Stream ``(id, sequence)`` records through ``scorer``: yields (chunk, scores ``(n, T)``) in input
    order. ``stats`` (filled as records are read) counts padded/cropped/skipped records.
    ``batch_size=None`` lets the scorer choose (:meth:`Scorer.batch_plan`)."""
    stats = stats if stats is not None else ScoreStats()
    batch_size, max_bases = scorer.batch_plan(batch_size)
    chunks = record_chunks(records, scorer.prepare, scorer.policy(), stats, batch_size=batch_size,
                           file=file, skip_invalid=skip_invalid, echo=echo, max_bases=max_bases)
    yield from iter_scores(scorer, chunks, progress=progress)


def score_fasta(scorer: Scorer, path: str, *, batch_size: int | None = 256, skip_invalid: bool = False,
                echo: bool = False, progress: bool = False,
                stats: ScoreStats | None = None) -> Iterator[Scored]:
    """:func:`score_records` of the FASTA file ``path`` (``-``: stdin), read a block at a time: blocks
    of equal-length valid records skip the per-record path (``predict_stream.fasta_chunks``)."""
    stats = stats if stats is not None else ScoreStats()
    batch_size, max_bases = scorer.batch_plan(batch_size)
    chunks = fasta_chunks(path, scorer.prepare, scorer.policy(), stats, batch_size=batch_size,
                          skip_invalid=skip_invalid, echo=echo, max_bases=max_bases)
    yield from iter_scores(scorer, chunks, progress=progress)


def score_windows(scorer: Scorer, records: Iterable[tuple[str, str]], *, window: int, step: int,
                  batch_size: int | None = 256, file: str | None = None, skip_invalid: bool = False,
                  progress: bool = False, stats: ScoreStats | None = None) -> Iterator[Scored]:
    """Scan each record with ``window``-long windows every ``step`` bases; chunk keys are
    ``(id, start, end)`` (0-based, end exclusive)."""
    if window < 1 or step < 1:
        raise ConfigError(f"window and step must be >= 1, got {window} and {step}")
    if scorer.input_length and window != scorer.input_length:
        raise ConfigError(f"--window {window} differs from the model's input length {scorer.input_length}")
    if not scorer.input_length and window < scorer.minimum:  # fixed-length models fix the window
        raise ConfigError(f"--window {window} is shorter than the model's receptive field {scorer.minimum}")
    stats = stats if stats is not None else ScoreStats()
    batch_size, max_bases = scorer.batch_plan(batch_size)
    chunks = window_chunks(records, scorer.prepare, stats, window=window, step=step, batch_size=batch_size,
                           file=file, skip_invalid=skip_invalid, max_bases=max_bases)
    yield from iter_scores(scorer, chunks, progress=progress, desc="windows")


class RecordMax:
    """Per-record maximum over the windows of :func:`score_windows` (records arrive contiguously).

    ``add`` returns the rows of records that are complete: ``(id, n_windows, max (T,))``.
    """

    def __init__(self) -> None:
        self.current: str | None = None
        self.count = 0
        self.best: np.ndarray | None = None

    def add(self, keys: list[tuple[str, int, int]], scores: np.ndarray) -> list[tuple[str, int, np.ndarray]]:
        done = []
        for (rid, _, _), row in zip(keys, scores, strict=True):
            if rid != self.current:
                if self.current is not None:
                    done.append((self.current, self.count, self.best))
                self.current, self.count, self.best = rid, 0, row.copy()
            self.count += 1
            np.maximum(self.best, row, out=self.best)
        return done

    def finish(self) -> list[tuple[str, int, np.ndarray]]:
        return [] if self.current is None else [(self.current, self.count, self.best)]


def predict(model: nn.Module, inputs: Any, *, batch_size: int = 256, device: str | torch.device | None = None,
            rc: str | None = None, logits: bool = False, progress: bool = False) -> np.ndarray | pd.DataFrame:
    """Score sequences with ``model``.

    ``inputs``: a list of strings (or one string) -> ``(N, T)`` array; a one-hot array or tensor
    ``(N, 4, L)`` or ``(4, L)`` -> ``(N, T)`` array; a FASTA path (``Path``, an existing file, or ``-``
    for stdin) -> DataFrame with ``id`` and one column per task (names from ``model.metadata``).
    Fixed-length models get other lengths padded/cropped (centred, with a warning saying how many).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    scorer = Scorer(model, device=device, rc=rc, logits=logits)
    is_file = isinstance(inputs, str) and (inputs == "-" or os.path.isfile(inputs))
    if isinstance(inputs, os.PathLike) or is_file:
        return _predict_fasta(scorer, str(inputs), batch_size, progress)
    if isinstance(inputs, str):
        inputs = [inputs]
    if isinstance(inputs, (np.ndarray, torch.Tensor)):
        return _predict_array(scorer, inputs, batch_size)
    seqs = list(inputs)
    if not all(isinstance(s, str) for s in seqs):
        raise InputError("inputs must be strings, a one-hot array (N, 4, L) or a FASTA path")
    if not seqs:
        return np.zeros((0, len(scorer.tasks)), dtype=np.float32)
    stats = ScoreStats()
    records = ((f"#{i + 1}", s) for i, s in enumerate(seqs))  # named like seqcnn.seq.encode names them
    scored = score_records(scorer, records, batch_size=batch_size, progress=progress, stats=stats)
    parts = [scores for _, scores in scored]
    _warn_lengths(stats, scorer)
    return np.concatenate(parts)


def _predict_fasta(scorer: Scorer, path: str, batch_size: int, progress: bool) -> pd.DataFrame:
    import pandas as pd  # imported here: `seqcnn score` does not need it, and it costs 0.3 s to import

    stats = ScoreStats()
    ids: list[str] = []
    parts: list[np.ndarray] = []
    for chunk, scores in score_fasta(scorer, path, batch_size=batch_size, progress=progress, stats=stats):
        ids.extend(chunk.keys)
        parts.append(scores)
    _warn_lengths(stats, scorer)
    scores = np.concatenate(parts)
    frame = pd.DataFrame(scores, columns=scorer.task_names(scores.shape[1]))
    frame.insert(0, "id", ids)
    return frame


def _predict_array(scorer: Scorer, x: np.ndarray | torch.Tensor, batch_size: int) -> np.ndarray:
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] != 4:
        raise InputError(f"one-hot input must have shape (N, 4, L), got {x.shape}")
    x = x.astype(np.float32, copy=False)
    length = scorer.input_length or max(x.shape[2], scorer.minimum)
    if x.shape[2] != length:
        warnings.warn(f"{x.shape[0]} sequence(s) of length {x.shape[2]} padded with N or cropped (centred) "
                      f"to {length}", stacklevel=3)
        x = _fit_onehot(x, length)
    parts = [scorer.run(scorer.prepare_onehot(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, len(scorer.tasks)), dtype=np.float32)


def _fit_onehot(x: np.ndarray, length: int) -> np.ndarray:
    """Crop or pad ``(N, 4, L)`` to ``length`` keeping it centred; padding is N (0.25)."""
    diff = length - x.shape[2]
    if diff < 0:
        start = -diff // 2
        return x[:, :, start : start + length]
    return np.pad(x, ((0, 0), (0, 0), (diff // 2, diff - diff // 2)), constant_values=0.25)


def _warn_lengths(stats: ScoreStats, scorer: Scorer) -> None:
    note = stats.length_note(scorer.input_length)
    if note:
        warnings.warn(note, stacklevel=3)
