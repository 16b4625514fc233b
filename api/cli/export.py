"""`riskmap export`: cleaned records in the national platforms' upload layout, and per-ward correction
lists (XLSX, Vietnamese headers) of records that need a field check."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.common import clean_errors, console, get_store
from risk.ingest.exports import UPLOAD_COLUMNS, export_correction_list, export_upload

export_app = typer.Typer(help="Upload files and correction lists.", no_args_is_help=True)


@export_app.command("upload")
def upload(
    kind: str = typer.Argument(..., help=f"record kind: {', '.join(UPLOAD_COLUMNS)}"),
    out: Path = typer.Option(..., "--out", "-o", help="file to write (.csv or .xlsx)"),
) -> None:
    """Linked records of one kind in the fixed upload layout (see docs/upload-layout.md)."""
    with clean_errors():
        n = export_upload(get_store(), kind, out)
        console.print(f"wrote {n} {kind} rows to {out}")


@export_app.command("corrections")
def corrections(
    ward: str = typer.Option(..., "--ward", help="ward id (hcmc-2025:26740)"),
    out: Path = typer.Option(..., "--out", "-o", help="XLSX file to write"),
) -> None:
    """The ward's list of records needing a field check (XLSX, Vietnamese headers)."""
    with clean_errors():
        n = export_correction_list(get_store(), ward, out)
        console.print(f"wrote {n} rows to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
