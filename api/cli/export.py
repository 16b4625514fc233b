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


@export_app.command("households")
def households(
    ward: str = typer.Option(..., "--ward", help="ward id (hcmc-2025:26740)"),
    out: Path = typer.Option(
        ..., "--out", "-o", help="file to write: .xlsx, .csv or .png (printable ward map)"
    ),
    group: list[str] = typer.Option([], "--group", help="neighbourhood group id (repeatable)"),
    level: list[int] = typer.Option([], "--level", help="household level 0-4 (repeatable)"),
    flag: list[str] = typer.Option(
        [], "--flag", help="f0, f1, positive, elderly_unvaccinated, booster_due, support"
    ),
    as_of: str = typer.Option(
        "", "--as-of", help="the last snapshot on or before this day (ISO); default current"
    ),
    actor: str = typer.Option("cli", "--actor", help="who exports, as written to the audit log"),
) -> None:
    """A ward leader's household list (XLSX one sheet per group, or CSV) or the printable ward map (PNG).

    Runs with every permission of the command line (personal details unmasked); written to the audit log.
    """
    import datetime as dt

    from api import audit
    from api.householdlist import ListFilter, iter_csv, ward_list, write_xlsx
    from api.security import Principal
    from api.snapshot import SnapshotHolder

    with clean_errors():
        suffix = out.suffix.lower()
        if suffix not in (".xlsx", ".csv", ".png"):
            raise ValueError(f"{out}: write .xlsx, .csv or .png")
        store = get_store()
        holder = SnapshotHolder(store, 1.0, past_views=1, auto_prepare=False)
        holder.refresh()
        day = dt.date.fromisoformat(as_of) if as_of else None
        view = holder.view_at(day) if day else holder.view
        if view is None:
            raise ValueError("no snapshot to export from: run `riskmap score` first")
        flt = ListFilter(ward, tuple(group), tuple(level), tuple(flag), day)
        who = Principal(actor, frozenset({"admin"}), via="cli")
        wl = ward_list(store, view, who, flt)
        if suffix == ".xlsx":
            write_xlsx(wl, out)
        elif suffix == ".csv":
            with out.open("wb") as fh:
                for chunk in iter_csv(wl):
                    fh.write(chunk)
        else:
            from api.wardmap import render_ward_map

            out.write_bytes(render_ward_map(wl))
        audit.append(
            store,
            actor,
            "export.households" if suffix != ".png" else "export.ward_map",
            target=str(out),
            detail={"filter": flt.describe(), "rows": wl.count, "format": suffix[1:], "via": "cli"},
        )
        console.print(f"wrote {wl.count} households of {wl.ward_name} to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
