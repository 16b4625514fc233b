"""`riskmap load`: reference data (geographies, crosswalks, a city's address points and groups)."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.common import clean_errors, console, get_store
from risk.reference import load_reference


def register(app: typer.Typer) -> None:
    @app.command("load")
    def load(
        city: Path | None = typer.Argument(
            None, help="city folder made by `riskmap generate` (its reference/ address points and groups)"
        ),
    ) -> None:
        """Load admin geographies (2019, 2021, 2025), crosswalks and, given a city folder, its registry."""
        with clean_errors():
            store = get_store()
            with console.status("loading reference data"):
                counts = load_reference(store, city)
            console.print(
                f"loaded {counts.admin_units} admin units, {counts.crosswalk_rows} crosswalk rows, "
                f"{counts.address_points} address points, {counts.groups} neighbourhood groups"
            )
