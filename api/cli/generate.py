"""`riskmap generate`: build the seeded synthetic city (reference registry, ground truth, source feeds)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from api.cli.common import clean_errors, console, progress

_STAGES = {
    "places": "addresses and groups (wards)",
    "people": "households and persons",
    "vaccination": "vaccination",
    "epidemic": "epidemic (days)",
    "truth": "reference and truth tables",
    "feeds": "feed files",
}


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be a date like 2021-06-01, got {value!r}") from None


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        scale: float = typer.Option(0.01, "--scale", help="share of the real population, 0.001 … 1.0"),
        seed: int = typer.Option(42, "--seed", help="random seed (same seed and scale → identical files)"),
        out: Path | None = typer.Option(
            None, "--out", help="output folder [default: var/city/s<scale>-seed<seed>]"
        ),
        start: str = typer.Option("2021-06-01", "--start", help="first day of the epidemic and the feeds"),
        end: str = typer.Option("2021-11-30", "--end", help="last day"),
        wards: str = typer.Option(
            "all",
            "--wards",
            help="all | old-city (the 102 wards of the former HCMC) | comma-separated 2025 ward codes",
        ),
        error_rate: float = typer.Option(
            1.0, "--error-rate", help="multiplies the default error mix (0 = clean)"
        ),
        feeds: bool = typer.Option(True, "--feeds/--no-feeds", help="write the source feeds (or only truth)"),
        workers: int = typer.Option(
            min(2, os.cpu_count() or 1),
            "--workers",
            help="processes for per-ward and per-file work (output does not depend on it)",
        ),
        as_json: bool = typer.Option(False, "--json", help="print summary.json instead of tables"),
    ) -> None:
        """Generate the synthetic city: households on address points in the real 2025 wards, persons, an
        epidemic shaped like HCMC's 2021 wave, doses, tests, cases, contacts, and eight source feeds with
        realistic errors, beside the ground truth that scores cleaning, linkage and geocoding."""
        from risk.synth import SynthConfig
        from risk.synth import generate as run

        with clean_errors():
            config = SynthConfig(
                seed=seed,
                scale=scale,
                out=out,
                start=_date(start, "--start"),
                end=_date(end, "--end"),
                wards=wards,
                error_rate=error_rate,
                feeds=feeds,
                workers=max(1, workers),
            )
            with progress() as bar:
                tasks: dict[str, int] = {}

                def tick(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total)
                    bar.update(tasks[stage], completed=done, total=total)

                path = run(config, progress=tick)
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        if as_json:
            typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
            return
        _print_summary(path, summary)


def _print_summary(path: Path, summary: dict) -> None:
    out = Console()
    out.print(f"[bold]wrote[/bold] {path}")
    counts = Table(title="city", show_header=False)
    for k, v in summary["counts"].items():
        counts.add_row(k, f"{v:,}")
    out.print(counts)
    feeds = summary.get("feeds")
    if not feeds:
        console.print("no feeds written (--no-feeds)")
        return
    rows = Table(title=f"feed rows ({feeds['rows_total']:,}, {feeds['share_with_errors']:.1%} with errors)")
    rows.add_column("source")
    rows.add_column("kind")
    rows.add_column("rows", justify="right")
    for src, kinds in feeds["rows"].items():
        for kind, n in kinds.items():
            rows.add_row(src, kind, f"{n:,}")
    out.print(rows)
    errs = Table(title="share of rows with each error")
    errs.add_column("error")
    errs.add_column("rows", justify="right")
    errs.add_column("share", justify="right")
    for code, share in feeds["error_share"].items():
        if feeds["error_rows"][code]:
            errs.add_row(code, f"{feeds['error_rows'][code]:,}", f"{share:.2%}")
    out.print(errs)
    bad = Table(title=f"bad rows ({feeds['bad_total']:,})")
    bad.add_column("reason")
    bad.add_column("rows", justify="right")
    for reason, n in feeds["bad_rows"].items():
        bad.add_row(reason, f"{n:,}")
    out.print(bad)
