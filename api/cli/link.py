"""`riskmap relink` (full) and `riskmap link` (incremental): records → persons → households."""

from __future__ import annotations

import json

import typer

from api.cli.common import clean_errors, console, get_store
from risk.link import link_new
from risk.link import relink as run_relink


def register(app: typer.Typer) -> None:
    @app.command("relink")
    def relink(
        as_json: bool = typer.Option(False, "--json", help="print the result and model as JSON"),
        partitioned: bool | None = typer.Option(
            None,
            "--partitioned/--whole",
            help="province by province (on the Dask scheduler of RISKMAP_SCALE_SCHEDULER if set, else "
            "here) or all at once; default: partitioned when a scheduler is set. Same result either way.",
        ),
    ) -> None:
        """Link every record to a person and every person to a household (full relink)."""
        with clean_errors():
            store = get_store()
            if partitioned is None:
                from risk.runner import scale_settings

                partitioned = bool(scale_settings().scheduler)
            with console.status("linking records" + (" province by province" if partitioned else "")):
                if partitioned:
                    from risk.link.partition import relink_partitioned

                    run = relink_partitioned(store)
                    result = run.result
                    steps = ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items())
                    console.print(f"{len(run.partitions)} partitions, {run.where}: {steps}")
                else:
                    result = run_relink(store, partitioned=False)
            console.print(result.summary())
            if as_json:
                typer.echo(json.dumps(result.__dict__, default=str, ensure_ascii=False))

    @app.command("link")
    def link() -> None:
        """Link the batches not linked yet against the persons already known (incremental)."""
        with clean_errors():
            store = get_store()
            with console.status("linking new batches"):
                console.print(link_new(store).summary())
