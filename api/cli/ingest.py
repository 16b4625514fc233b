"""`riskmap ingest`: load feed files as atomic, idempotent batches and print each batch's account."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from api import audit
from api.auth.directory import cli_actor
from api.cli.common import clean_errors, console, fail, get_store, progress
from risk.ingest.errors import IngestError
from risk.ingest.pipeline import ingest_file
from risk.ingest.place import RegistryPlacer
from risk.ingest.sources import load_sources

FEED_SUFFIXES = {".csv", ".xlsx", ".jsonl", ".ndjson", ".txt", ".xlsm"}


def collect(paths: list[Path], source: str | None) -> list[tuple[Path, str]]:
    """(file, source id) pairs: a folder is walked; a file's source is --source or its folder's name."""
    known = load_sources()
    out: list[tuple[Path, str]] = []
    for p in paths:
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in FEED_SUFFIXES) if p.is_dir() else [p]
        for f in files:
            sid = source or f.parent.name
            if sid not in known:
                raise IngestError(
                    f"no source mapping for {sid!r} (give --source, or put the file in a folder named after "
                    f"its source; known: {', '.join(sorted(known))})",
                    file=f,
                )
            out.append((f, sid))
    # The registry first: events are placed and linked against it.
    return sorted(out, key=lambda fs: (known[fs[1]].kind != "registry", str(fs[0])))


def batch_detail(b: object) -> dict:
    """What the audit log keeps of an ingested batch (its account, not its rows)."""
    keys = (
        "batch_id",
        "source",
        "content_sha256",
        "rows_in",
        "accepted",
        "corrected",
        "quarantined",
        "duplicates",
    )
    return {k: getattr(b, k) for k in keys}


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        paths: list[Path] = typer.Argument(..., help="feed files or folders (feeds/<source>/<file>)"),
        source: str | None = typer.Option(
            None, "--source", "-s", help="source id (default: the file's folder name)"
        ),
        latest: dt.datetime | None = typer.Option(
            None, "--latest", formats=["%Y-%m-%d"], help="latest believable event date (default: today)"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the batches' accounts as JSON lines"),
    ) -> None:
        """Ingest feed files: bad rows are quarantined with reasons; the same file twice adds nothing."""
        with clean_errors():
            store = get_store()
            files = collect(paths, source)
            if not files:
                fail("no feed files found")
            placer = RegistryPlacer.from_store(store)
            failed = 0
            totals = {"rows_in": 0, "accepted": 0, "corrected": 0, "quarantined": 0, "duplicates": 0}
            with progress() as bar:
                task = bar.add_task("ingesting", total=len(files))
                for f, sid in files:
                    bar.update(task, description=f"{sid}/{f.name}")
                    try:
                        result = ingest_file(
                            store, f, sid, placer=placer, latest=latest.date() if latest else None
                        )
                    except IngestError as exc:
                        failed += 1
                        console.print(f"[red]rejected[/red] {exc}")
                        bar.advance(task)
                        continue
                    b = result.batch
                    if result.new:
                        for k in totals:
                            totals[k] += getattr(b, k)
                        audit.append(store, cli_actor(), "ingest", f"{sid}/{f.name}", detail=batch_detail(b))
                    if as_json:
                        typer.echo(
                            json.dumps(
                                {
                                    "file": str(f),
                                    "new": result.new,
                                    "batch_id": b.batch_id,
                                    "rows_in": b.rows_in,
                                    "accepted": b.accepted,
                                    "corrected": b.corrected,
                                    "quarantined": b.quarantined,
                                    "duplicates": b.duplicates,
                                },
                                ensure_ascii=False,
                            )
                        )
                    else:
                        bar.console.print(result.summary())
                    bar.advance(task)
            console.print(
                f"total new rows in {totals['rows_in']} = accepted {totals['accepted']} + corrected "
                f"{totals['corrected']} + quarantined {totals['quarantined']} + duplicates {totals['duplicates']}"
                + (f"; [red]{failed} file(s) rejected[/red]" if failed else "")
            )
            if failed:
                raise typer.Exit(1)
