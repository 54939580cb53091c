"""The scorer: a model ready to score batches of base codes or one-hot arrays.

:class:`Scorer` is the plain reference of scoring: it adds the reverse strand (``rc``), runs the
model's forward pass in batches, applies the output transform of the task type and combines the
strands. Everything that makes it faster on the CPU (table look-up first layer, fused first block,
FFT convolutions) is installed by :func:`seqcnn.score.accel.accelerate` and checked against this
plain forward on a probe batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seqcnn._common import (
    metadata_of,
    preserved,
    resolve_batch_size,
    resolve_rc,
    task_names,
    task_output,
    transform_outputs,
)
from seqcnn.device import intra_op_threads, resolve_device
from seqcnn.score.accel import accelerate
from seqcnn.score.accel.fft import FFTConv1d
from seqcnn.score.accel.fused import FusedFirstBlock
from seqcnn.score.accel.install import set_submodule
from seqcnn.score.accel.table import N_FAST_CODES, FastPathBypassed, TableConv1d
from seqcnn.score.stream import LengthPolicy
from seqcnn.seq.alphabet import CODE_ONEHOT
from seqcnn.seq.codes import codes_to_onehot, onehot_to_codes, reverse_complement_codes

AUTO_BATCH = 1024  # sequences a batch when the batch size is left to the scorer
AUTO_BATCH_BYTES = 16 << 20  # ... and at most this much first-layer output (float32) a batch
AUTO_MIN_BASES = 1 << 18  # ... but at least this many bases a batch (about 256 x 1,000 bp)
FUSED_BATCH = 4096  # the same when a fused first block with global pooling does all the work ...
FUSED_BATCH_BASES = 1 << 22  # ... (4 MB of codes a batch)


@dataclass
class Prepared:
    """One batch ready for the forward pass.

    Attributes
    ----------
    codes
        Base codes ``(n, L)`` uint8 (forward then reverse strand when RC is on), expanded to float
        one-hot at the forward pass unless a table layer takes them; None for float input that
        codes cannot hold.
    onehot
        The float one-hot ``(n, 4, L)``, or None when the batch travels as codes.
    """

    codes: np.ndarray | None
    onehot: torch.Tensor | None = None

    @property
    def fast(self) -> bool:
        """True when the batch travels as codes."""
        return self.onehot is None


class Scorer:
    """A model ready to score one-hot batches: :meth:`prepare` (any thread), then :meth:`run` (one thread).

    Parameters
    ----------
    model
        The model; its outputs are ``(N, T)`` (profile models: their ``counts`` head).
    device
        Where the forward pass runs (None: automatic).
    rc
        ``mean``/``max`` combine the scores of both strands, ``none`` scores the given strand;
        None takes the model file's ``rc_mode``. Strands are combined after the transform.
    logits
        Raw outputs; otherwise probabilities for ``binary`` (sigmoid) and ``multiclass`` (softmax)
        models and raw outputs for the others.
    fast
        CPU speed-ups (:func:`seqcnn.score.accel.accelerate`), each kept only if a probe batch agrees
        with the plain forward: True for all that apply, None (the default) for the ones that pay
        off by fixed rules (so the same input always gives the same scores), False for the plain
        forward only.

    Raises
    ------
    ConfigError
        An unknown ``rc``.

    Notes
    -----
    The caller's model is never changed. The plain path (``fast=False``, or a device other than
    the CPU, or a model with nothing to accelerate) uses the caller's model itself, lent to each
    call with :func:`seqcnn._common.preserved` (moved to ``device``, in eval mode, then given back
    as it was); wrap many calls in ``with scorer:`` to lend it once. The fast path swaps modules,
    so it works on a private copy (``copy.deepcopy``, on the CPU); :attr:`accelerated` names
    what it installed.
    """

    def __init__(self, model: nn.Module, *, device: str | torch.device | None = None,
                 rc: str | None = None, logits: bool = False, fast: bool | None = None) -> None:
        meta = metadata_of(model)
        self.source = model
        self.task_type: str = meta.task_type if meta is not None else "regression"
        self.rc = resolve_rc(rc, model)
        self.logits = logits
        self.device = resolve_device(device)
        self.model = model
        self.private = False  # True once ``model`` is the fast path's own copy
        length = getattr(model, "input_length", None) or (meta.input_length if meta is not None else None)
        self.input_length: int | None = length
        self.minimum = int(getattr(model, "receptive_field", 1) or 1)
        self.table: TableConv1d | FusedFirstBlock | None = None
        self._restore: list[tuple[str, nn.Module]] = []  # (name, original module) to undo the table
        self._lent = 0
        self._lending: list[contextlib.AbstractContextManager] = []  # what ``with scorer:`` holds
        self.accelerated: list[str] = []
        if fast is not False and self.device.type == "cpu":
            self.accelerated = accelerate(self, auto=fast is None)

    # -- the caller's model ------------------------------------------------------------------
    @contextlib.contextmanager
    def lent(self) -> Iterator[nn.Module]:
        """Lend the model for the duration of a block (re-entrant).

        Yields
        ------
        nn.Module
            The model on the scorer's device in eval mode; a caller's model is given back as it
            was (device, modes, grads) on leaving the outermost block.
        """
        if self.private or self._lent:
            self._lent += 1
            try:
                yield self.model
            finally:
                self._lent -= 1
            return
        with preserved(self.model, self.device) as model:
            self._lent = 1
            try:
                yield model
            finally:
                self._lent = 0

    def __enter__(self) -> Scorer:
        lending = self.lent()
        lending.__enter__()
        self._lending.append(lending)
        return self

    def __exit__(self, *exc: object) -> None:
        self._lending.pop().__exit__(None, None, None)

    # -- batches -----------------------------------------------------------------------------
    def prepare(self, codes: np.ndarray) -> Prepared:
        """Prepare a batch of base codes (any thread).

        Parameters
        ----------
        codes
            ``(n, L)`` uint8 base codes (:mod:`seqcnn.seq.codes`).

        Returns
        -------
        Prepared
            The batch, with the reverse strand appended when RC is on.
        """
        if self.rc != "none":
            codes = np.concatenate([codes, reverse_complement_codes(codes)])
        if self.table is None or codes.max(initial=0) < N_FAST_CODES:
            # the dense path expands codes to float one-hot in ``forward`` (a ~1 ms numba loop per
            # 1,024 sequences): queued batches stay 16x smaller than their float input
            return Prepared(np.ascontiguousarray(codes))
        return Prepared(codes, onehot=torch.from_numpy(codes_to_onehot(codes)))

    def prepare_onehot(self, x: np.ndarray) -> Prepared:
        """Prepare a float one-hot batch (any thread).

        Parameters
        ----------
        x
            ``(n, 4, L)`` float32 one-hot.

        Returns
        -------
        Prepared
            Through codes when it holds only exact bases and N (and a table layer is installed),
            as floats otherwise; the reverse strand appended when RC is on.
        """
        codes = onehot_to_codes(x) if self.table is not None else None
        if codes is not None:
            return self.prepare(codes)
        if self.rc != "none":
            x = np.concatenate([x, np.ascontiguousarray(x[:, ::-1, ::-1])])
        return Prepared(None, onehot=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))

    def run(self, prepared: Prepared) -> np.ndarray:
        """Score a prepared batch (one thread at a time).

        Parameters
        ----------
        prepared
            From :meth:`prepare` or :meth:`prepare_onehot`.

        Returns
        -------
        np.ndarray
            ``(n, T)`` float32 scores, strands combined.
        """
        with self.lent():
            try:
                out = self.forward(prepared)
            except FastPathBypassed:  # the model changed its input before the first conv
                self.drop_table()
                out = self.forward(prepared)
            finally:
                if self.table is not None:
                    self.table.disarm()
        if self.rc != "none":
            half = out.shape[0] // 2
            fwd, rev = out[:half], out[half:]
            out = (fwd + rev) / 2 if self.rc == "mean" else torch.maximum(fwd, rev)
        return out.cpu().numpy()

    def forward(self, prepared: Prepared) -> torch.Tensor:
        """The forward pass of a prepared batch; the model must be lent (:meth:`lent`).

        Parameters
        ----------
        prepared
            From :meth:`prepare` or :meth:`prepare_onehot`.

        Returns
        -------
        torch.Tensor
            ``(rows, T)`` float32 transformed outputs of every row (strands not combined).
        """
        if prepared.fast and self.table is None:  # dense model, or a fallback dropped the tables
            prepared = Prepared(prepared.codes, onehot_on(prepared.codes, self.device))
        with torch.inference_mode():
            if prepared.fast:
                n, length = prepared.codes.shape
                token = torch.zeros(()).expand(n, 4, length)
                self.table.arm(token, prepared.codes)
                with intra_op_threads(1 if self._tiny_rest else None):
                    out = self.model(token)
            else:
                out = self.model(prepared.onehot.to(self.device, non_blocking=True))
            return transform_outputs(task_output(out).float(), self.task_type, logits=self.logits)

    @property
    def _tiny_rest(self) -> bool:
        """True when a fused first block with global pooling leaves only a small dense head to torch:
        that head then runs on one thread (two OpenMP threads on tiny matrices, competing with the
        input thread and the kernel's threads, made DeepBind-size scoring 1.5x slower)."""
        return isinstance(self.table, FusedFirstBlock) and self.table.global_pool is not None

    def drop_table(self) -> None:
        """Put the plain modules back in place of the table first layer."""
        for name, original in self._restore:
            set_submodule(self.model, name, original)
        self._restore = []
        self.table = None

    # -- shapes and names --------------------------------------------------------------------
    def task_names(self, n_tasks: int) -> list[str]:
        """Output names: the model file's task names, or ``task0 ..`` when it has none (or another
        count than ``n_tasks``)."""
        return task_names(self.source, n_tasks)

    def policy(self) -> LengthPolicy:
        """How input lengths are fitted to the model (its input length, or its receptive field)."""
        return LengthPolicy(self.input_length, self.minimum)

    def batch_plan(self, batch_size: int | None) -> tuple[int, int | None]:
        """Sequences and bases per batch.

        Parameters
        ----------
        batch_size
            Sequences per batch as given (no base limit), or None: up to ``AUTO_BATCH`` sequences
            whose first-layer output stays within ``AUTO_BATCH_BYTES`` (at least ``AUTO_MIN_BASES``
            bases): ~262 sequences of 1,000 bp for DeepBind or Basset, 1,024 short ones. Measured
            on 1,000 bp DeepBind input: 256 sequences ran at 57k/s, 1,024 at 39k/s on a quiet
            machine (64 MB of activations leave the cache); short inputs need large batches to
            amortise the per-batch Python overhead.

        Returns
        -------
        tuple[int, int | None]
            ``(sequences, bases)`` per batch; bases None means no limit.

        Raises
        ------
        ConfigError
            A ``batch_size`` that is not a positive integer.
        """
        if batch_size is not None:
            return resolve_batch_size(batch_size, AUTO_BATCH), None
        if self._tiny_rest:  # only codes and pooled features in memory: large batches, less overhead
            return FUSED_BATCH, FUSED_BATCH_BASES
        conv = next((m for m in self.model.modules() if isinstance(m, nn.Conv1d)), None)
        channels = conv.out_channels if conv is not None else 4
        if any(isinstance(m, FFTConv1d) for m in self.model.modules()):
            # the spectra of a batch take ~4x its activations: 128 x 1 kbp Basset batches scored as
            # fast as 256 with a third of the page faults (peak memory 0.9 instead of 1.1 GB)
            return AUTO_BATCH, max(AUTO_MIN_BASES // 2, AUTO_BATCH_BYTES // (4 * channels))
        return AUTO_BATCH, max(AUTO_MIN_BASES, AUTO_BATCH_BYTES // (4 * channels))



_ONEHOT_TABLES: dict[torch.device, torch.Tensor] = {}  # (4, 256) float32 code -> one-hot, per device


def onehot_on(codes: np.ndarray, device: torch.device) -> torch.Tensor:
    """The float one-hot ``(n, 4, L)`` of ``(n, L)`` uint8 codes, on ``device``.

    On the CPU, :func:`seqcnn.seq.codes.codes_to_onehot` (a numba loop); on an accelerator,
    :func:`onehot_by_lookup` there, so the host neither builds nor ships the float array (on an H100,
    scoring with the expansion on the host was bound by it at 34-37k sequences/s).
    """
    if device.type == "cpu":
        return torch.from_numpy(codes_to_onehot(codes))
    return onehot_by_lookup(codes, device)


def onehot_by_lookup(codes: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(n, 4, L)`` float one-hot of ``(n, L)`` uint8 codes: the codes copied to ``device`` as they are
    (16x fewer bytes than the float array) and expanded there by one table look-up."""
    table = _ONEHOT_TABLES.get(device)
    if table is None:
        table = _ONEHOT_TABLES[device] = torch.from_numpy(np.ascontiguousarray(CODE_ONEHOT.T)).to(device)
    index = torch.from_numpy(np.ascontiguousarray(codes)).to(device, non_blocking=True).long()
    return table[:, index].transpose(0, 1).contiguous()  # (4, n, L) -> (n, 4, L)
