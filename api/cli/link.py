"""`riskmap relink`: rebuild households, persons and links from every record (full relink)."""

from __future__ import annotations

import typer

from api.cli.common import clean_errors, console, get_store
from risk.link import relink as run_relink


def register(app: typer.Typer) -> None:
    @app.command("relink")
    def relink() -> None:
        """Link every record to a person and every person to a household (full relink)."""
        with clean_errors():
            store = get_store()
            with console.status("linking records"):
                result = run_relink(store)
            console.print(result.summary())
