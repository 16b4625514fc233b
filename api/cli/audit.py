"""`riskmap audit …`: read the audit log and check that nobody changed it."""

from __future__ import annotations

import datetime as dt
import json

import typer

from api import audit as audit_log
from api.cli.common import clean_errors, console, get_store


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Query and verify the tamper-evident audit log.", no_args_is_help=True)

    @group.command("show")
    def show(
        since: dt.datetime | None = typer.Option(None, "--since", help="from this time (UTC, ISO 8601)"),
        actor: str | None = typer.Option(None, "--actor"),
        action: str | None = typer.Option(
            None, "--action", help="e.g. auth.login, household.view, key.revoke"
        ),
        limit: int = typer.Option(50, "--limit", min=1),
        as_json: bool = typer.Option(False, "--json", help="JSON lines"),
    ) -> None:
        """Entries, newest first."""
        with clean_errors():
            df = audit_log.query(get_store(), since=since, actor=actor, action=action, limit=limit)
            for r in audit_log.records(df):
                if as_json:
                    typer.echo(json.dumps(r, ensure_ascii=False, default=str))
                else:
                    typer.echo(
                        f"{r['seq']:>7}  {r['at']}  {r['actor']:<24} {r['action']:<16} {r['outcome']:<6} {r['target']}"
                    )

    @group.command("verify")
    def verify() -> None:
        """Recompute the hash chain; exit 1 and name the entries if any was edited, inserted or deleted."""
        with clean_errors():
            v = audit_log.verify(get_store())
            if v.ok:
                console.print(f"audit log intact: {v.entries} entries, head {v.head[0]} {v.head[1]}")
                return
            for p in v.problems[:50]:
                console.print(f"[red]{p}[/red]")
            console.print(
                f"[red]audit log tampered with[/red]: {len(v.problems)} problem(s) in {v.entries} entries"
            )
            raise typer.Exit(1)

    app.add_typer(group, name="audit")
