"""Signal targets from bigWig files (pyBigWig): per-window sums or means, or base-resolution profiles.

A track is one bigWig (``FILE.bw[:NAME]``) or a stranded pair (``PLUS.bw,MINUS.bw[:NAME]``, giving the
tracks ``NAME_plus`` and ``NAME_minus``). Bases without data (NaN in pyBigWig) count as 0 and are
counted; positions of a window past a contig end are 0 as well (they hold N in the sequence). Before
any window is read, every chromosome the windows need must be in each bigWig with the genome's length,
else :class:`~seqcnn.errors.InputError` names the bigWig, the chromosome and the peak line needing it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqcnn.data.build.peaks import Source, parse_source
from seqcnn.errors import ConfigError, InputError

BIGWIG_MAGIC = (0x888FFC26).to_bytes(4, "little")
STRAND_SUFFIXES = ("_plus", "_minus")


@dataclass(frozen=True)
class TrackSpec:
    """A ``--signal`` or ``--control`` value: one bigWig, or a stranded (plus, minus) pair.

    Attributes
    ----------
    name
        Its name; a pair's tracks are ``name_plus`` and ``name_minus``.
    paths
        One or two bigWig files.
    """

    name: str
    paths: tuple[str, ...]

    @property
    def track_names(self) -> list[str]:
        """One name per bigWig."""
        return [self.name] if len(self.paths) == 1 else [self.name + s for s in STRAND_SUFFIXES]


def parse_track(spec: str, what: str) -> TrackSpec:
    """Parse ``FILE.bw[:NAME]`` or ``PLUS.bw,MINUS.bw[:NAME]``.

    Parameters
    ----------
    spec
        The option value.
    what
        The option, for error messages.

    Returns
    -------
    TrackSpec
        The track.

    Raises
    ------
    ConfigError
        More than two files, or an empty file name.
    """
    source: Source = parse_source(spec, what)
    paths = tuple(source.path.split(","))
    if len(paths) > 2 or not all(paths):
        raise ConfigError(f"{what}: expected FILE.bw or PLUS.bw,MINUS.bw (then :NAME), got {spec!r}")
    name = source.name if ":" in spec and not Path(spec).exists() else parse_source(paths[0], what).name
    return TrackSpec(name, paths)


@dataclass
class SignalReader:
    """Open bigWig files, checked against the genome, read window by window.

    Parameters
    ----------
    tracks
        The tracks (each one or two bigWigs).

    Attributes
    ----------
    names
        One name per bigWig, in order (the target columns).
    nan_bases
        Bases without data read so far, per name.
    """

    tracks: list[TrackSpec]
    names: list[str] = field(init=False)
    nan_bases: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        import pyBigWig

        self.paths = [p for t in self.tracks for p in t.paths]
        self.names = [n for t in self.tracks for n in t.track_names]
        self.nan_bases = dict.fromkeys(self.names, 0)
        self._files = []
        for path in self.paths:
            _check_bigwig_file(path)
            handle = pyBigWig.open(path)
            if handle is None or not handle.isBigWig():
                raise InputError("not a bigWig file (pyBigWig cannot open it)", file=path)
            self._files.append(handle)
        self._sizes = [dict(h.chroms()) for h in self._files]

    def check_chroms(self, genome_sizes: dict[str, int], needed: dict[str, str]) -> None:
        """Refuse bigWigs that lack a chromosome the windows need or give it another length.

        Parameters
        ----------
        genome_sizes
            Chromosome lengths of the genome.
        needed
            Chromosome -> where it is first needed (``FILE line N``), for the message.

        Raises
        ------
        InputError
            Naming the bigWig, the chromosome (with close names it does have) and the peak line.
        """
        for path, sizes in zip(self.paths, self._sizes, strict=True):
            for chrom, where in needed.items():
                if chrom not in sizes:
                    alt = chrom[3:] if chrom.startswith("chr") else "chr" + chrom
                    close = [alt] if alt in sizes else difflib.get_close_matches(chrom, list(sizes), n=3)
                    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                    raise InputError(f"chromosome {chrom!r} (needed by {where}) is not in this bigWig{hint} "
                                     "(does it belong to another genome assembly?)", file=path)
                if sizes[chrom] != genome_sizes[chrom]:
                    raise InputError(f"chromosome {chrom!r} (needed by {where}) is {sizes[chrom]} bp here "
                                     f"but {genome_sizes[chrom]} bp in the genome: another assembly?",
                                     file=path)

    def usable_chroms(self, genome_sizes: dict[str, int]) -> set[str]:
        """Chromosomes every bigWig has, with the genome's length."""
        return {c for c, n in genome_sizes.items() if all(sizes.get(c) == n for sizes in self._sizes)}

    def window(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Base-resolution signal of every bigWig over one window.

        Parameters
        ----------
        chrom
            Chromosome.
        start, end
            The window, 0-based half-open; it may reach past the contig ends.

        Returns
        -------
        numpy.ndarray
            float32 ``(B, end - start)``, one row per bigWig; NaN and off-contig positions are 0.
        """
        out = np.zeros((len(self._files), end - start), dtype=np.float32)
        for row, (handle, sizes, name) in enumerate(zip(self._files, self._sizes, self.names, strict=True)):
            lo, hi = max(start, 0), min(end, sizes[chrom])
            if hi <= lo:
                continue
            values = np.asarray(handle.values(chrom, lo, hi, numpy=True), dtype=np.float32)
            missing = np.isnan(values)
            self.nan_bases[name] += int(missing.sum())
            values[missing] = 0.0
            out[row, lo - start:hi - start] = values
        return out

    def close(self) -> None:
        """Close every bigWig."""
        for handle in self._files:
            handle.close()
        self._files = []


def _check_bigwig_file(path: str) -> None:
    """Refuse a missing file or one without the bigWig magic number before pyBigWig opens it (its C
    library prints its own messages to stderr for files it cannot read)."""
    if not Path(path).is_file():
        raise InputError("no such bigWig file", file=path)
    with open(path, "rb") as handle:
        if handle.read(4) != BIGWIG_MAGIC:
            raise InputError("not a bigWig file (no bigWig magic number at its start)", file=path)


def scalar_targets(values: np.ndarray, stat: str, log1p: bool) -> np.ndarray:
    """Per-window targets from base-resolution signal.

    Parameters
    ----------
    values
        ``(B, L)`` signal of one window (NaN already 0).
    stat
        ``sum`` or ``mean`` over the window.
    log1p
        Take ``log(1 + x)`` of the statistic.

    Returns
    -------
    numpy.ndarray
        float32 ``(B,)``.
    """
    out = values.sum(axis=1, dtype=np.float64)
    if stat == "mean":
        out = out / values.shape[1]
    if log1p:
        out = np.log1p(out)
    return out.astype(np.float32)


__all__ = ["SignalReader", "TrackSpec", "parse_track", "scalar_targets"]
