"""`riskmap score`: levels for every unit at an as-of date, written as an immutable snapshot."""

from __future__ import annotations

import datetime as dt

import typer

from api.cli.common import clean_errors, console, get_store
from risk.score import score as run_score


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score(
        as_of: dt.datetime = typer.Option(
            ..., "--as-of", formats=["%Y-%m-%d"], help="date the levels speak for"
        ),
        profile: str = typer.Option("moh-4800", "--profile", "-p", help="rule profile id"),
        publish: bool = typer.Option(
            True, "--publish/--no-publish", help="make the snapshot the current one"
        ),
    ) -> None:
        """Score the city and its wards and write a snapshot (published unless --no-publish)."""
        with clean_errors():
            store = get_store()
            with console.status(f"scoring as of {as_of:%Y-%m-%d} with {profile}"):
                result = run_score(store, as_of.date(), profile, publish=publish)
            console.print(result.summary())
