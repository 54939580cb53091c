"""Error kinds raised on bad input; the CLI turns them into one line and exit status 2."""

from __future__ import annotations


class SeqcnnError(Exception):
    """Base error. Renders as ``<file>:<record>:<position>: <message>`` (missing parts left out)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        record: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = None if file is None else str(file)
        self.record = record
        self.position = position

    def __str__(self) -> str:
        where = [p for p in (self.file, self.record, self.position) if p is not None]
        prefix = ":".join(str(p) for p in where)
        return f"{prefix}: {self.message}" if prefix else self.message


class InputError(SeqcnnError):
    """A sequence, interval, variant, label or image file that cannot be used as given."""


class ConfigError(SeqcnnError):
    """An unknown model, argument or config key, or a value of the wrong type."""


class ModelFileError(SeqcnnError):
    """A model file that is missing, truncated, corrupt, foreign or tampered with."""
