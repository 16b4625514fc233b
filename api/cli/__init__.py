"""The `riskmap` command line: one module per command group, each registering itself on the app."""

from __future__ import annotations

import importlib
import pkgutil

import typer

app = typer.Typer(
    name="riskmap",
    help="riskmap: epidemic risk maps from ward down to household (Bản đồ nguy cơ dịch bệnh).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


# Every module of this package that defines register(app) adds its commands: a new command group is a
# new module, nothing else.
def _register_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


_register_all()


def main() -> None:
    app()
