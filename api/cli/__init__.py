"""The `riskmap` command line: one module per command group, each registering itself on the app."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="riskmap",
    help="riskmap: epidemic risk maps from ward down to household (Bản đồ nguy cơ dịch bệnh).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Each module defines register(app). Adding a command group = a new module + one name here.
_COMMANDS = ("store", "load", "ingest", "link", "score", "serve", "demo", "geocode")


def _register_all() -> None:
    for name in _COMMANDS:
        module = importlib.import_module(f"api.cli.{name}")
        module.register(app)


_register_all()


def main() -> None:
    app()
