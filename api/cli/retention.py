"""`riskmap retention run`: clear personal details of records older than the retention period."""

from __future__ import annotations

import datetime as dt

import typer

from api import audit
from api.auth.directory import cli_actor
from api.cli.common import clean_errors, console, get_store
from risk.privacy import apply_retention, privacy_settings


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Retention of personal data (Decree 13/2023/NĐ-CP).", no_args_is_help=True)

    @group.command("run")
    def run(
        days: int = typer.Option(
            privacy_settings().retention_days, "--days", min=1, help="keep personal details this many days"
        ),
        mode: str = typer.Option(privacy_settings().retention_mode, "--mode", help="pseudonymise or delete"),
        today: dt.datetime | None = typer.Option(
            None, "--today", formats=["%Y-%m-%d"], help="count from this date"
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="only count what would change"),
    ) -> None:
        """Pseudonymise (or delete) event records and quarantined rows past the retention period."""
        with clean_errors():
            store = get_store()
            with console.status("applying retention"):
                result = apply_retention(
                    store, days, mode, today=today.date() if today else None, dry_run=dry_run
                )
            if not dry_run:
                audit.append(
                    store,
                    cli_actor(),
                    "retention.run",
                    f"records before {result.cutoff}",
                    detail={
                        "mode": result.mode,
                        "records": result.records,
                        "quarantined_rows": result.quarantined_rows,
                        "links": result.links,
                    },
                )
            console.print(("dry run: " if dry_run else "") + result.summary())

    app.add_typer(group, name="retention")
