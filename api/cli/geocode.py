"""`riskmap geocode FILE`: place the addresses of a CSV/XLSX/JSONL file on the store's address registry."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from api.cli.common import clean_errors, console, fail, get_store
from geo.geocode import TIERS, Geocoder, default_wards, load_registry
from geo.vntext import fold

# Header names that hold an address, folded ("Địa chỉ", "dia_chi", "Address" …).
_ADDRESS_HEADERS = (
    "dia chi",
    "dia_chi",
    "diachi",
    "address",
    "dia chi thuong tru",
    "dia chi cu tru",
    "noi o",
)
_DATE_HEADERS = ("ngay", "date", "ngay tiem", "ngay lay mau", "ngay bao cao", "ngay xet nghiem")


def _find_column(header: list[str], given: str | None, candidates: tuple[str, ...], what: str) -> str | None:
    if given:
        if given not in header:
            fail(f"no column {given!r} in the file; columns: {', '.join(header)}")
        return given
    folded = {fold(h).replace("_", " "): h for h in header}
    for c in candidates:
        if c.replace("_", " ") in folded:
            return folded[c.replace("_", " ")]
    for f, h in folded.items():
        if any(c.replace("_", " ") in f for c in candidates):
            return h
    if what == "address":
        fail(f"cannot tell which column holds the address; use --column (columns: {', '.join(header)})")
    return None


def tier_report(result: pd.DataFrame) -> pd.DataFrame:
    """Rows per ward (and "(none)" for addresses placed in no ward) × tier."""
    ward = result["ward_id"].fillna("(none)")
    table = pd.crosstab(ward, pd.Categorical(result["tier"], categories=list(TIERS)), dropna=False)
    table.columns = [str(c) for c in table.columns]
    table["total"] = table.sum(axis=1)
    return table.sort_values("total", ascending=False)


def register(app: typer.Typer) -> None:
    @app.command("geocode")
    def geocode(
        file: Path = typer.Argument(..., help="CSV, XLSX or JSON Lines file with an address column"),
        column: str | None = typer.Option(None, "--column", help="the address column (default: guessed)"),
        date_column: str | None = typer.Option(
            None,
            "--date-column",
            help="the date column: old ward names are read in the geography of that date",
        ),
        out: Path | None = typer.Option(
            None, "--out", help="write the input with the geocoding columns added (.csv or .parquet)"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON on stdout"),
        top: int = typer.Option(30, "--top", help="wards shown in the report table"),
    ) -> None:
        """Geocode a file's addresses against the store's address points and report match tiers per ward."""
        from risk.ingest.readers import read_rows

        with clean_errors():
            rows = read_rows(file)
            header = list(rows.data.columns)
            col = _find_column(header, column, _ADDRESS_HEADERS, "address")
            dcol = _find_column(header, date_column, _DATE_HEADERS, "date") if date_column else None
            store = get_store()
            registry = load_registry(store)
            if registry.empty:
                fail("the store holds no address points: load a registry first (`riskmap load CITY_DIR`)")
            with console.status(f"building the geocoder over {len(registry):,} address points"):
                geocoder = Geocoder(registry, wards=default_wards())
            dates = None
            if dcol:
                dates = pd.to_datetime(rows.data[dcol], dayfirst=True, errors="coerce", format="mixed")
            with console.status(f"geocoding {len(rows.data):,} rows"):
                result = geocoder.geocode(rows.data[col].reset_index(drop=True), dates)
            report = tier_report(result)
            if out is not None:
                joined = pd.concat(
                    [rows.data.reset_index(drop=True), result.add_prefix("geo_").reset_index(drop=True)],
                    axis=1,
                )
                out.parent.mkdir(parents=True, exist_ok=True)
                if out.suffix.lower() == ".parquet":
                    joined.to_parquet(out, index=False)
                else:
                    joined.to_csv(out, index=False, encoding="utf-8")
            totals = result["tier"].value_counts().reindex(list(TIERS), fill_value=0)
            flags = result["flags"].str.split(";").explode()
            flags = flags[flags.astype(bool)].value_counts()
            if as_json:
                typer.echo(
                    json.dumps(
                        {
                            "rows": len(result),
                            "column": col,
                            "tiers": {k: int(v) for k, v in totals.items()},
                            "flags": {k: int(v) for k, v in flags.items()},
                            "wards": {w: {k: int(v) for k, v in r.items()} for w, r in report.iterrows()},
                            "out": str(out) if out else None,
                        },
                        ensure_ascii=False,
                    )
                )
                return
            _print_report(report, totals, flags, len(result), top)
            if out is not None:
                console.print(f"wrote {out}")


_SHORT = {
    "exact": "exact",
    "fuzzy": "fuzzy",
    "nearest_number": "nearest",
    "group_centroid": "group",
    "ward_centroid": "ward",
    "unmatched": "none",
    "total": "total",
}


def _ward_label(ward_id: str) -> str:
    from geo.gazetteer import ward_attributes_2025

    names = dict(zip(ward_attributes_2025()["ward_code"], ward_attributes_2025()["ward_name"], strict=True))
    code = ward_id.split(":")[-1]
    return f"{code} {names[code]}" if code in names else ward_id


def _print_report(report: pd.DataFrame, totals: pd.Series, flags: pd.Series, n: int, top: int) -> None:
    table = Table(title=f"match tiers per ward ({n:,} rows)")
    table.add_column("ward")
    for c in report.columns:
        table.add_column(_SHORT.get(c, c), justify="right")
    for ward, r in report.head(top).iterrows():
        table.add_row(_ward_label(str(ward)), *(f"{int(v):,}" for v in r))
    if len(report) > top:
        table.add_row(f"… {len(report) - top} more wards", *("" for _ in report.columns))
    table.add_row("all", *(f"{int(totals.get(c, 0)):,}" for c in report.columns[:-1]), f"{n:,}")
    console.print(table)
    if len(flags):
        console.print("flags: " + ", ".join(f"{k} {v:,}" for k, v in flags.items()))
