"""`riskmap demo`: the main job end to end on the embedded store.

Builds (or reuses) a synthetic city on the real HCMC boundaries, loads its registry, ingests its feeds,
links, scores and serves the API and map on http://127.0.0.1:8000.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import typer

from api.cli.common import clean_errors, console


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        scale: float = typer.Option(
            0.01, min=0.001, max=1.0, help="share of the real population (1.0 ≈ 14.5 M)"
        ),
        seed: int = typer.Option(42, help="generator seed"),
        as_of: dt.datetime = typer.Option(
            "2021-10-24", "--as-of", formats=["%Y-%m-%d"], help="date the levels speak for"
        ),
        profile: str = typer.Option("moh-4800", help="rule profile"),
        workdir: Path = typer.Option(Path("var/demo"), help="where the city and the embedded store go"),
        host: str = typer.Option("127.0.0.1", help="interface to serve on"),
        port: int = typer.Option(8000, help="port to serve on"),
        serve: bool = typer.Option(True, "--serve/--no-serve", help="serve after scoring"),
        fresh: bool = typer.Option(
            False, help="rebuild the store from scratch (the city is reused if present)"
        ),
    ) -> None:
        """Generate a synthetic city, ingest, link, score and serve it (embedded store, no server needed)."""
        import shutil

        from api.cli.serve import serve_app
        from risk.ingest.pipeline import Ingestor
        from risk.ingest.place import RegistryPlacer
        from risk.link import relink
        from risk.reference import load_reference
        from risk.score import score
        from risk.store.embedded import EmbeddedStore
        from risk.synth import SynthConfig, generate

        with clean_errors():
            city_dir = workdir / f"city-s{scale:g}-seed{seed}"
            store_dir = workdir / "store"
            if not (city_dir / "manifest.json").is_file():
                console.rule("1/5 generating the synthetic city")
                generate(SynthConfig(scale=scale, seed=seed, out=city_dir))
            else:
                console.print(f"1/5 reusing the city in {city_dir}")
            if fresh and store_dir.exists():
                shutil.rmtree(store_dir)
            store = EmbeddedStore(store_dir)
            console.rule("2/5 loading geographies and the address-point registry")
            counts = load_reference(store, city_dir)
            console.print(f"{counts.address_points} address points, {counts.groups} neighbourhood groups")
            console.rule("3/5 ingesting the feeds")
            from api.cli.ingest import collect

            session = Ingestor(store, placer=RegistryPlacer.from_store(store))
            for f, sid in collect([city_dir / "feeds"], None):
                result = session.ingest(f, sid)
                console.print(result.summary())
            console.rule("4/5 linking and scoring")
            console.print(relink(store).summary())
            console.print(score(store, as_of.date(), profile).summary())
            if serve:
                console.rule("5/5 serving")
                os.environ["RISKMAP_STORE_BACKEND"] = "embedded"
                os.environ["RISKMAP_STORE_PATH"] = str(store_dir.resolve())
                serve_app(host, port)
            else:
                console.print(f"done; serve it with: RISKMAP_STORE_PATH={store_dir} riskmap serve")
