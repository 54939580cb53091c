"""Motifs as position probability matrices: MEME minimal format v4 read/write, JASPAR write.

Why our own reader: ``memelite.io.read_meme`` keeps only the MOTIF line and the matrix (no
alternate name, nsites or E-value) and does not report malformed files by file and line; ours
does, and tests check it against memelite on the same files. Matrices are ``(L, 4)`` rows of
probabilities over ``A, C, G, T``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqcnn.errors import ConfigError, InputError
from seqcnn.io.atomic import atomic_open

_ROW_TOLERANCE = 0.02  # |row sum - 1| allowed on reading (files are written with 6 decimals)


@dataclass
class Motif:
    """A motif as a position probability matrix.

    Parameters
    ----------
    name
        The alternate name (a TF name), or the only name when there is no ``id``.
    pwm
        ``(L, 4)`` probabilities over A, C, G, T, one row per position (stored as float64).
    id
        The MEME identifier (a JASPAR matrix id such as ``MA0139.2``), if any.
    nsites
        Number of sites the matrix was built from (optional MEME statistic).
    evalue
        E-value (optional MEME statistic).

    Raises
    ------
    InputError
        ``pwm`` is not ``(L, 4)`` with L >= 1 (naming the motif).
    """

    name: str
    pwm: np.ndarray
    id: str | None = None
    nsites: int | None = None
    evalue: float | None = None

    def __post_init__(self) -> None:
        self.pwm = np.asarray(self.pwm, dtype=np.float64)
        if self.pwm.ndim != 2 or self.pwm.shape[1] != 4 or self.pwm.shape[0] == 0:
            raise InputError(f"motif pwm must have shape (L, 4) with L >= 1, got {self.pwm.shape}",
                             record=self.name)

    @property
    def length(self) -> int:
        """Number of positions L."""
        return int(self.pwm.shape[0])

    @property
    def consensus(self) -> str:
        """Most probable base per position."""
        return "".join("ACGT"[i] for i in self.pwm.argmax(axis=1))

    @property
    def label(self) -> str:
        """``id name`` as on a MEME MOTIF line (just the name when there is no id)."""
        return f"{self.id} {self.name}" if self.id else self.name


def _header(background: np.ndarray) -> str:
    freqs = " ".join(f"{b} {p:.6f}" for b, p in zip("ACGT", background, strict=True))
    return (f"MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
            f"Background letter frequencies\n{freqs}\n\n")


def format_meme(motifs: list[Motif], background: np.ndarray | None = None) -> str:
    """Format motifs as MEME minimal format v4 text.

    Parameters
    ----------
    motifs
        The motifs, written in order; a missing or zero ``nsites`` is written as 20 (a count of 0 makes
        readers such as Biopython divide by zero), a missing E-value as 0.
    background
        ``(4,)`` background frequencies of A, C, G, T (None: uniform).

    Returns
    -------
    str
        The file's text (DNA alphabet, both strands).

    Raises
    ------
    ConfigError
        ``background`` is not four non-negative frequencies.
    """
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=float)
    if bg.shape != (4,) or not np.isfinite(bg).all() or (bg < 0).any():
        raise ConfigError(f"background must be 4 non-negative frequencies (A, C, G, T), got {background!r}")
    parts = [_header(bg)]
    for motif in motifs:
        nsites = motif.nsites if motif.nsites else 20  # 0 (kernel motifs: no sites) as missing
        evalue = motif.evalue if motif.evalue is not None else 0
        parts.append(f"MOTIF {motif.label}\n")
        parts.append(f"letter-probability matrix: alength= 4 w= {motif.length} "
                     f"nsites= {nsites} E= {evalue:g}\n")
        parts.extend(" ".join(f"{p:.6f}" for p in row) + "\n" for row in motif.pwm)
        parts.append("\n")
    return "".join(parts)


def write_meme(motifs: list[Motif], path: str | os.PathLike, *,
               background: np.ndarray | None = None) -> Path:
    """Write motifs as a MEME minimal format v4 file (atomically).

    Parameters
    ----------
    motifs
        The motifs (see :func:`format_meme`).
    path
        The file written.
    background
        ``(4,)`` background frequencies of A, C, G, T (None: uniform).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ConfigError
        ``background`` is not four non-negative frequencies (nothing is written).
    """
    text = format_meme(motifs, background)
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def write_jaspar(motifs: list[Motif], path: str | os.PathLike) -> Path:
    """Write motifs as a JASPAR count-matrix file (atomically).

    Each motif is a ``>id name`` line and four rows ``A [ ... ]`` to ``T [ ... ]`` of counts =
    probability x ``nsites`` (100 sites for motifs without ``nsites``), with 3 decimals.

    Parameters
    ----------
    motifs
        The motifs (a motif without ``id`` uses its name as identifier).
    path
        The file written.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    lines = []
    for motif in motifs:
        scale = motif.nsites or 100
        lines.append(f">{motif.id or motif.name} {motif.name}")
        for base, column in zip("ACGT", motif.pwm.T * scale, strict=True):
            lines.append(f"{base}  [ " + " ".join(f"{c:.3f}" for c in column) + " ]")
    with atomic_open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return Path(path)


_MATRIX_LINE = re.compile(r"letter-probability matrix:(.*)")
_KEY_VALUE = re.compile(r"(\w+)=\s*(\S+)")
_MATRIX_KEYS = ("alength", "w", "nsites", "E")


def _read_rows(lines: list[str], start: int, width: int, name: str, file: str) -> np.ndarray:
    rows = []
    for k in range(width):
        line_no = start + k
        if line_no >= len(lines):
            raise InputError(f"matrix ends after {k} of {width} rows", file=file, record=name)
        try:
            rows.append([float(v) for v in lines[line_no].split()])
        except ValueError:
            raise InputError(f"line {line_no + 1}: not a row of numbers: {lines[line_no].strip()!r}",
                             file=file, record=name) from None
        if len(rows[-1]) != 4:
            raise InputError(f"line {line_no + 1}: expected 4 probabilities, got {len(rows[-1])}",
                             file=file, record=name)
    pwm = np.array(rows, dtype=np.float64)
    sums = pwm.sum(axis=1)
    if (pwm < 0).any() or np.abs(sums - 1).max() > _ROW_TOLERANCE:
        bad = int(np.argmax((pwm < 0).any(axis=1) | (np.abs(sums - 1) > _ROW_TOLERANCE)))
        raise InputError(f"line {start + bad + 1}: probabilities must be >= 0 and sum to 1",
                         file=file, record=name)
    return pwm / sums[:, None]


def _parse_motif(lines: list[str], i: int, file: str) -> tuple[Motif, int]:
    """Parse the motif whose MOTIF line is ``lines[i]``; returns it and the next line index."""
    fields = lines[i].split()[1:]
    if not fields:
        raise InputError(f"line {i + 1}: MOTIF line without an identifier", file=file)
    ident, name = (fields[0], fields[1]) if len(fields) > 1 else (None, fields[0])
    j = i + 1
    while j < len(lines) and not _MATRIX_LINE.match(lines[j].strip()):
        if lines[j].startswith("MOTIF"):
            break
        j += 1
    if j == len(lines) or lines[j].startswith("MOTIF"):
        raise InputError("motif has no letter-probability matrix", file=file, record=name)
    info = _matrix_info(lines[j], j, name, file)
    if info.get("alength", 4) != 4:
        raise InputError(f"line {j + 1}: only 4-letter (DNA/RNA) motifs are supported", file=file,
                         record=name)
    rows_start = j + 1
    while rows_start < len(lines) and not lines[rows_start].strip():
        rows_start += 1
    if "w" in info:
        width = int(info["w"])
    else:
        width = 0
        while rows_start + width < len(lines) and re.match(r"\s*[\d.]", lines[rows_start + width]):
            width += 1
    if width < 1:
        raise InputError(f"line {j + 1}: matrix has no rows (w= {width})", file=file, record=name)
    pwm = _read_rows(lines, rows_start, width, name, file)
    nsites = int(info["nsites"]) if "nsites" in info else None
    evalue = info.get("E")
    return Motif(name=name, pwm=pwm, id=ident, nsites=nsites, evalue=evalue), rows_start + width


def _matrix_info(line: str, index: int, name: str, file: str) -> dict[str, float]:
    """The numbers of a ``letter-probability matrix:`` line (alength, w, nsites, E), checked."""
    info = {}
    for key, text in _KEY_VALUE.findall(_MATRIX_LINE.match(line.strip()).group(1)):
        if key not in _MATRIX_KEYS:
            continue
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"line {index + 1}: {key}= must be a number, got {text!r}", file=file,
                             record=name) from None
        if key in ("alength", "w") and (not value.is_integer() or value < 0):
            raise InputError(f"line {index + 1}: {key}= must be a whole number, got {text!r}", file=file,
                             record=name)
        info[key] = value
    return info


def read_meme(path: str | os.PathLike) -> list[Motif]:
    """Read every motif of a MEME file (minimal or full text format; DNA/RNA alphabets only).

    Parameters
    ----------
    path
        The MEME file.

    Returns
    -------
    list[Motif]
        The motifs in file order; ``id`` and ``name`` from the ``MOTIF`` line (one word: the name),
        ``nsites`` and ``evalue`` from the matrix line when given, rows renormalised to sum to 1.

    Raises
    ------
    InputError
        A missing or binary file, another alphabet, no motif, or a malformed motif (no matrix,
        bad or missing rows, rows not summing to 1 within 0.02), naming the file, motif and line.
    """
    file = str(path)
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        raise InputError("no such file", file=file) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a MEME file", file=file) from None
    except UnicodeDecodeError:
        raise InputError("not a text MEME file", file=file) from None
    for k, line in enumerate(lines):
        if line.startswith("ALPHABET") and line.split("=", 1)[-1].strip() not in ("ACGT", "ACGU"):
            raise InputError(f"line {k + 1}: only the DNA/RNA alphabet is supported, got {line!r}",
                             file=file)
    motifs: list[Motif] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("MOTIF"):
            motif, i = _parse_motif(lines, i, file)
            motifs.append(motif)
        else:
            i += 1
    if not motifs:
        raise InputError("no MOTIF found (not a MEME motif file?)", file=file)
    return motifs
