"""Helpers shared by the commands: console, progress bars, opening the store, clean error exits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from risk.store import Store, StoreError, open_store

console = Console(stderr=True)


def progress() -> Progress:
    """A progress display for long work (to stderr, so stdout stays machine-readable)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def get_store() -> Store:
    try:
        return open_store()
    except StoreError as exc:
        fail(str(exc))
        raise  # unreachable


def fail(message: str, code: int = 2) -> None:
    """Exit with a clear message, no traceback."""
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Turn expected errors (bad input, store problems) into a one-line message and exit code 2."""
    try:
        yield
    except (StoreError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
