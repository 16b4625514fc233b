"""Errors that say what went wrong and where: file, row and column."""

from __future__ import annotations

from pathlib import Path


class IngestError(ValueError):
    """A feed cannot be read as a whole (a row-level problem quarantines the row instead)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.detail = message
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    def __reduce__(self) -> tuple:
        # keyword-only details survive pickling (errors cross process boundaries in parallel ingest)
        return (_rebuild, (self.detail, self.file, self.row, self.column))


def _rebuild(message: str, file: str | None, row: int | None, column: str | None) -> IngestError:
    return IngestError(message, file=file, row=row, column=column)
