"""`riskmap ingest`: load feed files as atomic, idempotent batches, print each batch's account, then link
the new batches against what is known (incremental; `riskmap relink` rebuilds everything)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from api import audit
from api.auth.directory import cli_actor
from api.cli.common import clean_errors, console, fail, get_store, progress
from risk.ingest.errors import IngestError
from risk.ingest.pipeline import Ingestor
from risk.ingest.place import RegistryPlacer
from risk.ingest.sources import load_sources

FEED_SUFFIXES = {".csv", ".xlsx", ".jsonl", ".ndjson", ".txt", ".xlsm"}
COMPACTED_TABLES = ("records", "quarantine", "quarantine_resolutions")


def collect(paths: list[Path], source: str | None) -> list[tuple[Path, str]]:
    """(file, source id) pairs: a folder is walked; a file's source is --source or its folder's name."""
    known = load_sources()
    out: list[tuple[Path, str]] = []
    for p in paths:
        if not p.exists():
            raise IngestError("no such file or folder", file=p)
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


def compact(store: object) -> None:
    """Merge the small segments each file adds (embedded store only; PostgreSQL needs nothing)."""
    fn = getattr(store, "compact", None)
    if fn is not None:
        for t in COMPACTED_TABLES:
            fn(t)


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
        link: bool = typer.Option(True, "--link/--no-link", help="link the new batches afterwards"),
        workers: int = typer.Option(
            1, min=1, max=16, help="processes that read, clean and place files (and geocode large batches)"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the batches' accounts as JSON lines"),
    ) -> None:
        """Ingest feed files: bad rows are quarantined with reasons; the same file twice adds nothing."""
        from risk.link import link_new

        with clean_errors():
            store = get_store()
            files = collect(paths, source)
            if not files:
                fail("no feed files found")
            session = Ingestor(store, latest=latest.date() if latest else None)
            failed = 0
            totals = {"rows_in": 0, "accepted": 0, "corrected": 0, "quarantined": 0, "duplicates": 0}
            with progress() as bar:
                task = bar.add_task("ingesting", total=len(files))
                # events are placed against the address points (the reference), loaded once
                session.placer = RegistryPlacer.from_store(store, workers=workers)
                results = session.ingest_many(files, workers=workers)
                for (f, sid), result in zip(files, results, strict=True):
                    bar.update(task, description=f"{sid}/{f.name}")
                    if isinstance(result, IngestError):
                        failed += 1
                        bar.console.print(f"[red]rejected[/red] {result}")
                        bar.advance(task)
                        continue
                    b = result.batch
                    if result.new:
                        for k in totals:
                            totals[k] += getattr(b, k)
                        audit.append(store, cli_actor(), "ingest", f"{sid}/{f.name}", detail=batch_detail(b))
                    if as_json:
                        typer.echo(json.dumps(result.as_dict() | {"path": str(f)}, ensure_ascii=False))
                    else:
                        bar.console.print(result.summary())
                    bar.advance(task)
            compact(store)
            console.print(
                f"total new rows in {totals['rows_in']} = accepted {totals['accepted']} + corrected "
                f"{totals['corrected']} + quarantined {totals['quarantined']} + duplicates {totals['duplicates']}"
                + (f"; [red]{failed} file(s) rejected[/red]" if failed else "")
            )
            if link:
                with console.status("linking the new batches"):
                    console.print(link_new(store).summary())
            if failed:
                raise typer.Exit(1)
