"""`riskmap quarantine`: list and export the open quarantine for correction (fix, then `riskmap ingest`
the file back under the same source: the corrected rows land, the quarantine rows are marked resolved)."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.common import clean_errors, console, get_store
from risk.ingest.corrections import export_quarantine
from risk.ingest.quality import open_quarantine

quarantine_app = typer.Typer(help="Open quarantine: list it, export it for correction.", no_args_is_help=True)


@quarantine_app.command("list")
def list_(
    source: str | None = typer.Option(None, "--source", "-s", help="one source"),
    ward: str | None = typer.Option(None, "--ward", help="one ward id (hcmc-2025:26740)"),
) -> None:
    """Count the open quarantine by source and reason."""
    with clean_errors():
        q = open_quarantine(get_store(), source=source, ward=ward)
        if not len(q):
            console.print("no open quarantine")
            return
        for (src, reasons), n in q.groupby(["source", "reasons"]).size().sort_values(ascending=False).items():
            typer.echo(f"{src}\t{reasons}\t{n}")


@quarantine_app.command("export")
def export(
    source: str = typer.Option(..., "--source", "-s", help="the source whose quarantine to export"),
    out: Path = typer.Option(..., "--out", "-o", help="file to write (.csv or .xlsx)"),
    ward: str | None = typer.Option(None, "--ward", help="only this ward (hcmc-2025:26740)"),
) -> None:
    """Export open quarantined rows with their original headers plus origin and reasons, to be fixed."""
    with clean_errors():
        n = export_quarantine(get_store(), source, out, ward=ward)
        console.print(f"wrote {n} rows to {out}; fix them and run: riskmap ingest {out} --source {source}")


def register(app: typer.Typer) -> None:
    app.add_typer(quarantine_app, name="quarantine")
