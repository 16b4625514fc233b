"""Front-end libraries installed by npm (see package.json), served by the app under /static/vendor/.

Placeholder until the set-up work lands: finds node_modules/ next to the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

_ROOT = Path(__file__).resolve().parent.parent / "node_modules"
ASSETS = {"leaflet": "leaflet/dist", "maplibre-gl": "maplibre-gl/dist"}


def mount_assets(app: FastAPI) -> None:
    root = Path(os.environ.get("RISKMAP_API_ASSETS_DIR", _ROOT))
    for name, rel in ASSETS.items():
        d = root / rel
        if not d.is_dir():
            raise RuntimeError(f"front-end assets missing: {d}; run `npm ci` (scripts/setup.sh does it)")
        app.mount(f"/static/vendor/{name}", StaticFiles(directory=d), name=f"vendor-{name}")
