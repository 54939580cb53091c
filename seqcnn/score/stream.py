"""Input side of scoring: records -> validated base codes -> batches, in a background thread.

A producer thread reads records, encodes them to base codes (:mod:`seqcnn.seq.codes`), fits their
lengths to the model and prepares each batch for the forward pass, handing finished batches to the
scorer through a bounded queue; torch releases the GIL during the forward pass, so parsing and
encoding overlap with compute while memory holds only a few batches.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqcnn.errors import InputError
from seqcnn.seq.codes import codes_of_bytes, encode_codes, first_invalid
from seqcnn.seq.encode import pad_or_crop
from seqcnn.seq.windows import window_starts

_END = object()
CHUNK_BATCHES = 4  # batches of records per chunk handed over by the input thread


@dataclass
class ScoreStats:
    """What happened to the input.

    Attributes
    ----------
    n_records
        Records read.
    n_padded, n_cropped
        Sequences padded with N or cropped (centred) to the model's length.
    n_windows
        Windows scored (:func:`window_chunks`).
    skipped
        Ids of records skipped for invalid bases.
    skip_reasons
        Records skipped before scoring (``--skip-invalid``), counted by reason (e.g. ``"outside
        contig"``); :meth:`skip` adds to it.
    first_skipped
        Where the first record skipped for each reason was (e.g. ``"line 3"``).
    n_edge_padded
        Genome windows padded with N because they reach past a contig end.
    """

    n_records: int = 0
    n_padded: int = 0
    n_cropped: int = 0
    n_windows: int = 0
    skipped: list[str] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)
    first_skipped: dict[str, str] = field(default_factory=dict)
    n_edge_padded: int = 0

    def skip(self, reason: str, where: str) -> None:
        """Count one record skipped for ``reason``, found at ``where`` (kept for the first of each reason)."""
        self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
        self.first_skipped.setdefault(reason, where)

    def skip_summary(self, what: str = "record") -> str | None:
        """One line counting the skipped records by reason (invalid bases included), or None.

        Parameters
        ----------
        what
            What a record is called in the line (``"interval"``).

        Returns
        -------
        str or None
            E.g. ``skipped 3 interval(s): 2 outside contig (first: line 4), 1 unknown contig (first:
            line 9)``.
        """
        reasons, first = dict(self.skip_reasons), dict(self.first_skipped)
        if self.skipped:
            reasons["invalid bases"] = reasons.get("invalid bases", 0) + len(self.skipped)
            first.setdefault("invalid bases", str(self.skipped[0]))
        if not reasons:
            return None
        parts = [f"{n} {reason} (first: {first[reason]})" for reason, n in reasons.items()]
        return f"skipped {sum(reasons.values())} {what}(s): {', '.join(parts)}"

    def length_note(self, length: int | None) -> str | None:
        """A one-line note on padded/cropped sequences for a model of input ``length`` (None: any
        length), or None when nothing was changed."""
        if not (self.n_padded or self.n_cropped):
            return None
        target = f"the model's input length {length}" if length else "the model's minimum length"
        return f"{self.n_padded} sequence(s) padded with N and {self.n_cropped} cropped (centred) to {target}"


@dataclass
class Chunk:
    """Up to a few batches of records, in input order.

    Attributes
    ----------
    keys
        Identify the rows: record ids, or ``(id, start, end)`` for windows.
    groups
        ``(row indices, prepared batch)`` pairs of equal-length inputs.
    seqs
        The fitted sequences when asked for (``--echo``), else None.
    """

    keys: list[Any]
    groups: list[tuple[np.ndarray, Any]]
    seqs: list[str] | None = None


def background(items: Iterable[Any], *, maxsize: int = 3) -> Iterator[Any]:
    """Iterate ``items`` in a daemon thread, ``maxsize`` ahead.

    Parameters
    ----------
    items
        Any iterable; it is consumed in the thread.
    maxsize
        Items made ahead of the consumer.

    Yields
    ------
    Any
        The items, in order; an exception raised by ``items`` re-raises here. Closing the
        generator early (or an error downstream) stops the thread.
    """
    buffer: queue.Queue = queue.Queue(maxsize)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Failure(exc))

    thread = threading.Thread(target=work, name="seqcnn-score-input", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()


@dataclass
class _Failure:
    exc: BaseException


@dataclass
class LengthPolicy:
    """How sequence lengths are fitted to a model.

    Attributes
    ----------
    length
        A fixed-length model's input length: every sequence is padded with N or cropped (centred)
        to it. None: any length of at least ``minimum``.
    minimum
        Shorter sequences are padded with N (centred) to this length.
    """

    length: int | None
    minimum: int = 1

    def fit(self, seq: str, stats: ScoreStats) -> str:
        """``seq`` fitted to the model (counted in ``stats`` when changed)."""
        target = self.length if self.length else max(len(seq), self.minimum)
        if len(seq) < target:
            stats.n_padded += 1
        elif len(seq) > target:
            stats.n_cropped += 1
        else:
            return seq
        return pad_or_crop(seq, target, "center")


def valid_codes(rid: str, seq: str, file: str | None, stats: ScoreStats | None,
                skip_invalid: bool) -> np.ndarray | None:
    """Base codes of one record, checked.

    Parameters
    ----------
    rid
        Record id for messages.
    seq
        The sequence.
    file
        Source for messages.
    stats
        Where skipped ids are noted.
    skip_invalid
        Skip (return None) instead of raising; needs ``stats``.

    Returns
    -------
    np.ndarray or None
        ``(L,)`` uint8 codes, or None for a skipped record.

    Raises
    ------
    InputError
        An invalid character (naming record and position) or an empty sequence.
    """
    codes = encode_codes(seq)
    bad = first_invalid(codes)
    if bad is None and codes.size:
        return codes
    if skip_invalid and stats is not None:
        stats.skipped.append(rid)
        return None
    if bad is None:
        raise InputError("empty sequence", file=file, record=rid)
    raise InputError(f"invalid character {seq[bad]!r} (not an IUPAC nucleotide code)",
                     file=file, record=rid, position=bad + 1)


def record_chunks(
    records: Iterable[tuple[Any, str]],
    prepare: Callable[[np.ndarray], Any],
    policy: LengthPolicy,
    stats: ScoreStats,
    *,
    batch_size: int,
    file: str | None = None,
    skip_invalid: bool = False,
    echo: bool = False,
    chunk_batches: int = CHUNK_BATCHES,
    max_bases: int | None = None,
) -> Iterator[Chunk]:
    """Group records into chunks of prepared batches.

    Parameters
    ----------
    records
        ``(key, sequence)`` pairs.
    prepare
        Turns codes ``(n, L)`` into a batch for the forward pass (``Scorer.prepare``).
    policy
        How lengths are fitted.
    stats
        Counts, filled as records are read.
    batch_size
        Sequences per batch at most.
    file
        Source for messages.
    skip_invalid
        Skip invalid records instead of raising.
    echo
        Keep the fitted sequences.
    chunk_batches
        Batches per chunk.
    max_bases
        Bases per batch at most (None: no limit; never below one sequence).

    Yields
    ------
    Chunk
        ``batch_size * chunk_batches`` records each (the last fewer); equal lengths batched together.
    """
    pending: list[tuple[Any, str]] = []
    for record in records:
        stats.n_records += 1
        pending.append(record)
        if len(pending) >= batch_size * chunk_batches:
            yield _chunk(pending, prepare, policy, stats, batch_size, file, skip_invalid, echo, max_bases)
            pending = []
    if pending:
        yield _chunk(pending, prepare, policy, stats, batch_size, file, skip_invalid, echo, max_bases)


def fasta_chunks(
    path: str,
    prepare: Callable[[np.ndarray], Any],
    policy: LengthPolicy,
    stats: ScoreStats,
    *,
    batch_size: int,
    skip_invalid: bool = False,
    echo: bool = False,
    max_bases: int | None = None,
) -> Iterator[Chunk]:
    """Chunks of the FASTA file ``path`` (``-``: stdin), one per ~4 MiB read block.

    A block whose records all have one length the model takes and only valid bases goes from the
    parser's bytes to batches of codes with one table lookup and no per-record objects (the common
    case: 0.3 s instead of 0.7 s for 100,000 x 1 kbp); any other block (or ``echo``) goes record by
    record, with the same checks and messages. Parameters as :func:`record_chunks`.

    Yields
    ------
    Chunk
        Keys are the record ids.
    """
    from seqcnn.seq.fasta import read_fasta_blocks

    for block in read_fasta_blocks(path, allow_empty=skip_invalid):
        stats.n_records += len(block.ids)
        chunk = None if echo else _block_chunk(block.ids, block.seq, block.offsets, prepare, policy,
                                               batch_size, max_bases)
        if chunk is not None:
            yield chunk
            continue
        records = list(zip(block.ids, block.texts(), strict=True))
        step = batch_size * CHUNK_BATCHES
        for start in range(0, len(records), step):
            yield _chunk(records[start:start + step], prepare, policy, stats, batch_size, path, skip_invalid,
                         echo, max_bases)


def _block_chunk(ids: list[str], seq: np.ndarray, offsets: np.ndarray, prepare: Callable[[np.ndarray], Any],
                 policy: LengthPolicy, batch_size: int, max_bases: int | None) -> Chunk | None:
    """The chunk of one block of equal-length, valid records, or None when it needs the record path."""
    lengths = np.diff(offsets)
    length = int(lengths[0])
    if (lengths != length).any() or length != (policy.length or max(length, policy.minimum)):
        return None
    codes, valid = codes_of_bytes(seq)
    if not valid:
        return None
    codes = codes.reshape(len(ids), length)
    step = rows_per_batch(batch_size, length, max_bases)
    starts = range(0, len(ids), step)
    groups = [(np.arange(a, min(a + step, len(ids))), prepare(codes[a:a + step])) for a in starts]
    return Chunk(list(ids), groups)


def rows_per_batch(batch_size: int, length: int, max_bases: int | None) -> int:
    """Sequences per batch under a base limit.

    Parameters
    ----------
    batch_size
        Sequences per batch at most.
    length
        Sequence length.
    max_bases
        Bases per batch at most (None: no limit).

    Returns
    -------
    int
        ``batch_size``, lowered so that a batch holds at most ``max_bases`` bases (never below one).
    """
    if max_bases is None:
        return batch_size
    return max(1, min(batch_size, max_bases // max(length, 1)))


def _encode_chunk(items: list[tuple[Any, str]], file: str | None, stats: ScoreStats,
                  skip_invalid: bool) -> list[tuple[Any, str, np.ndarray]]:
    """``(key, sequence, codes)`` of the valid records: one table lookup over the joined chunk,
    a per-record look only when something in it is invalid or empty."""
    lengths = np.fromiter((len(seq) for _, seq in items), dtype=np.int64, count=len(items))
    joined = encode_codes("".join(seq for _, seq in items))
    # fast path: every character was one byte, none invalid, no empty record
    if len(joined) == lengths.sum() and lengths.min() > 0 and first_invalid(joined) is None:
        ends = np.cumsum(lengths).tolist()
        return [(k, seq, joined[e - len(seq) : e]) for (k, seq), e in zip(items, ends, strict=True)]
    checked = ((k, seq, valid_codes(str(k), seq, file, stats, skip_invalid)) for k, seq in items)
    return [(k, seq, codes) for k, seq, codes in checked if codes is not None]


def _chunk(items: list[tuple[Any, str]], prepare: Callable[[np.ndarray], Any], policy: LengthPolicy,
           stats: ScoreStats, batch_size: int, file: str | None, skip_invalid: bool, echo: bool,
           max_bases: int | None = None) -> Chunk:
    valid = []
    for key, seq, codes in _encode_chunk(items, file, stats, skip_invalid):
        fitted = policy.fit(seq, stats)
        valid.append((key, fitted, codes if fitted is seq else encode_codes(fitted)))
    by_length: dict[int, list[int]] = {}
    for i, (_, _, codes) in enumerate(valid):
        by_length.setdefault(len(codes), []).append(i)
    groups = []
    for length, rows in by_length.items():
        step = rows_per_batch(batch_size, length, max_bases)
        for start in range(0, len(rows), step):
            idx = np.asarray(rows[start : start + step])
            groups.append((idx, prepare(np.stack([valid[i][2] for i in idx]))))
    return Chunk([k for k, _, _ in valid], groups, [s for _, s, _ in valid] if echo else None)


def window_chunks(
    records: Iterable[tuple[str, str]],
    prepare: Callable[[np.ndarray], Any],
    stats: ScoreStats,
    *,
    window: int,
    step: int,
    batch_size: int,
    file: str | None = None,
    skip_invalid: bool = False,
    max_bases: int | None = None,
) -> Iterator[Chunk]:
    """Chunks of windows over each record (one batch per chunk).

    Parameters
    ----------
    records
        ``(id, sequence)`` pairs.
    prepare, stats, batch_size, file, skip_invalid, max_bases
        As :func:`record_chunks`.
    window, step
        Window width and step (:func:`seqcnn.seq.windows.window_starts`).

    Yields
    ------
    Chunk
        Keys ``(id, start, end)``; a record shorter than ``window`` is padded with N (centred) and
        reported with its real end.
    """
    batch_size = rows_per_batch(batch_size, window, max_bases)
    keys: list[tuple[str, int, int]] = []
    rows: list[np.ndarray] = []
    for rid, seq in records:
        stats.n_records += 1
        codes = valid_codes(rid, seq, file, stats, skip_invalid)
        if codes is None:
            continue
        if len(codes) < window:
            stats.n_padded += 1
            codes = encode_codes(pad_or_crop(seq, window, "center"))
        for start in window_starts(len(seq), window, step).tolist():
            keys.append((rid, start, min(start + window, len(seq))))
            rows.append(codes[start : start + window])
            if len(rows) == batch_size:
                stats.n_windows += len(rows)
                yield Chunk(keys, [(np.arange(len(rows)), prepare(np.stack(rows)))])
                keys, rows = [], []
    if rows:
        stats.n_windows += len(rows)
        yield Chunk(keys, [(np.arange(len(rows)), prepare(np.stack(rows)))])
