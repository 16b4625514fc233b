"""`riskmap tiles`: prepare what the map draws (map_units), optionally put household points in spatial order."""

from __future__ import annotations

import typer

from api.cli.common import clean_errors, console, get_store


def register(app: typer.Typer) -> None:
    tiles = typer.Typer(help="Map tiles: prepare the polygons the map draws.", no_args_is_help=True)
    app.add_typer(tiles, name="tiles")

    @tiles.command("prepare")
    def prepare(
        cluster: bool = typer.Option(
            False, help="PostGIS: rewrite households in spatial order (CLUSTER on its point index)"
        ),
        force: bool = typer.Option(False, help="rebuild even when map_units matches the households"),
    ) -> None:
        """Build map_units (wards, groups, H3 cells 8-10 with household counts and generalised outlines)."""
        from api.tiles.prepare import prepare_map_units, stale

        with clean_errors():
            store = get_store()
            why = stale(store)
            if why is None and not force:
                console.print("map_units is up to date (use --force to rebuild)")
            else:
                with console.status(f"building map units ({why or 'forced'})"):
                    console.print(prepare_map_units(store).summary())
            if cluster:
                if getattr(store, "backend", "") != "postgis":
                    console.print("--cluster: nothing to do on the embedded store")
                else:
                    with console.status("clustering households on their points"):
                        store.cluster_points("households")  # type: ignore[attr-defined]
                    console.print("households rewritten in spatial order")
