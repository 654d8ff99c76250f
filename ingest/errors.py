"""The one error a user's data mistake becomes."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A file that cannot be loaded, described in one line: file, line, column, what was expected.

    ``line`` counts physical lines of the file from 1 (the header is line 1 of a CSV).
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
        got: str | None = None,
    ) -> None:
        self.path = str(path)
        self.message = message
        self.line = line
        self.column = column
        self.got = got  # what the cell held, as the user is shown it
        self.format: str | None = None  # the format the file was read as, once known
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.recorded + (f", got {self.got}" if self.got is not None else "")

    @property
    def recorded(self) -> str:
        """The error as the warehouse keeps it (raw.loads): without the cell's text, which may
        be a buyer's name or address in the wrong column."""
        where = self.path
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"
