"""`riskmap store …`: create or upgrade the store and show what it holds."""

from __future__ import annotations

import json

import typer

from api.cli.common import clean_errors, console, get_store
from risk.store.tables import TABLES


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Create, upgrade and inspect the store (embedded or PostGIS).", no_args_is_help=True
    )

    @group.command("migrate")
    def migrate() -> None:
        """Create or upgrade the schema of the configured store (idempotent)."""
        with clean_errors():
            store = get_store()
            store.migrate()
            console.print(f"store ready: {store!r}")

    @group.command("info")
    def info(as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
        """Rows per table, batches and the current snapshot."""
        with clean_errors():
            store = get_store()
            counts = {name: store.count(name) for name, t in TABLES.items() if not t.snapshot}
            current = store.current_snapshot()
            out = {
                "backend": store.backend,
                "tables": counts,
                "batches": len(store.list_batches()),
                "snapshots": len(store.list_snapshots()),
                "current_snapshot": current.snapshot_id if current else None,
            }
            if as_json:
                typer.echo(json.dumps(out, indent=2))
            else:
                for k, v in out.items():
                    console.print(f"[bold]{k}[/bold]: {v}")

    app.add_typer(group, name="store")
