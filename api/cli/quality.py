"""`riskmap quality`: the quality report of a batch, a source, or every source (table or JSON)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from api.cli.common import clean_errors, console, get_store
from risk.ingest.quality import quality_report


def _print_source(s: dict) -> None:
    a = s["account"]
    console.rule(f"{s['source']} ({s.get('kind')}) · {s['batches']} batches")
    console.print(
        f"rows in {a['rows_in']} = accepted {a['accepted']} + corrected {a['corrected']} + quarantined "
        f"{a['quarantined']} + duplicates {a['duplicates']}"
        + ("" if s["balanced"] else " [red](does not balance)[/red]")
        + f"; open quarantine {s['open_quarantine']}"
    )
    t = Table("code", "severity", "count", "lý do", "example", title="reasons")
    for kind in ("quarantine_reasons", "corrections"):
        for r in s[kind]:
            ex = s["examples"].get(r["code"], [])
            sample = ""
            if ex:
                e = ex[0]
                sample = f"row {e.get('row')}: {e.get('raw', '')}" + (
                    f" → {e['clean']}" if e.get("clean") else ""
                )
            t.add_row(r["code"], r["severity"], str(r["count"]), r["vi"], sample[:70])
    console.print(t)
    lk = s.get("linkage") or {}
    if lk:
        console.print(
            f"linked {lk['linked']}/{lk['event_records']} ({lk['linked_share']:.1%}): to registry persons "
            f"{lk['to_registry_persons']}, new persons {lk['new_persons']}; review {lk['review']}; merged "
            f"duplicate doses {lk['merged_duplicate_doses']}; flags "
            + ", ".join(f"{f['code']} {f['count']}" for f in lk["flags"])
        )


def register(app: typer.Typer) -> None:
    @app.command("quality")
    def quality(
        source: str | None = typer.Option(None, "--source", "-s", help="one source (default: every source)"),
        batch: int | None = typer.Option(None, "--batch", "-b", help="one batch by id"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    ) -> None:
        """Quality report: account, reason codes with examples, open quarantine, match rates."""
        with clean_errors():
            rep = quality_report(get_store(), source=source, batch_id=batch)
            if as_json:
                typer.echo(json.dumps(rep, ensure_ascii=False, default=str, indent=1))
                return
            if "batch" in rep:
                b = rep["batch"]
                _print_source(
                    {
                        **b,
                        "source": f"{b['source']} / {b['file']} (batch {b['batch_id']})",
                        "batches": 1,
                        "open_quarantine": b["account"]["quarantined"],
                    }
                )
                return
            for s in rep["sources"]:
                _print_source(s)
            t = rep["total"]
            console.rule("all sources")
            console.print(
                f"rows in {t['rows_in']} = accepted {t['accepted']} + corrected {t['corrected']} + quarantined "
                f"{t['quarantined']} + duplicates {t['duplicates']}"
            )
