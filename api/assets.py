"""Front-end libraries (Leaflet, MapLibre GL) served by the app itself, never from a CDN.

The map must work on a government network with no internet, so every JS, CSS and image file comes from
npm at set-up (`npm ci`, locked by package-lock.json) and is served under `/static/vendor/<name>/`.
Nothing vendored is committed. `RISKMAP_API_ASSETS_DIR` points at a folder laid out like `node_modules/`
(`<package>/dist/…`); the default is the repository's `node_modules/`, the Docker image sets its own.

In a page: `<script src="{vendor_url('leaflet', 'leaflet.js')}">`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

ENV_VAR = "RISKMAP_API_ASSETS_DIR"
URL_PREFIX = "/static/vendor"
_REPO_NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"

# name -> (folder inside the assets dir, files the pages rely on: checked at start, not per request)
VENDOR: dict[str, tuple[str, tuple[str, ...]]] = {
    "leaflet": ("leaflet/dist", ("leaflet.js", "leaflet.css", "images/marker-icon.png", "images/layers.png")),
    "maplibre-gl": ("maplibre-gl/dist", ("maplibre-gl.js", "maplibre-gl.css")),
}


class AssetsMissingError(RuntimeError):
    """The front-end libraries are not installed where the app looks for them."""


def assets_dir() -> Path:
    """Folder laid out like node_modules/: $RISKMAP_API_ASSETS_DIR, else the repository's node_modules/."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env) if env else _REPO_NODE_MODULES


def vendor_dirs(root: Path | None = None) -> dict[str, Path]:
    """Map each library to its folder of files, e.g. {"leaflet": …/leaflet/dist}.

    Raises AssetsMissingError naming every missing file, so a missing `npm ci` fails at start-up with a
    fix rather than as 404s in the browser.
    """
    base = root if root is not None else assets_dir()
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name, (sub, files) in VENDOR.items():
        folder = base / sub
        missing += [str(folder / f) for f in files if not (folder / f).is_file()]
        found[name] = folder
    if missing:
        raise AssetsMissingError(
            f"front-end assets missing in {base} ({ENV_VAR}): {', '.join(missing)}. "
            "Install them with `npm ci` in the repository (or `bash scripts/demo.sh --assets`), "
            f"or point {ENV_VAR} at a folder that has them."
        )
    return found


def vendor_url(name: str, file: str) -> str:
    """URL path of one vendored file, e.g. /static/vendor/leaflet/leaflet.css."""
    if name not in VENDOR:
        raise KeyError(f"unknown front-end library {name!r}; known: {', '.join(VENDOR)}")
    return f"{URL_PREFIX}/{name}/{file.lstrip('/')}"


def vendor_version(name: str, root: Path | None = None) -> str:
    """The installed version of a library (its package.json), for versioned URLs (`?v=`): a browser may
    keep a versioned file for a year, and an upgrade changes the URL."""
    base = root if root is not None else assets_dir()
    package = base / VENDOR[name][0].split("/")[0] / "package.json"
    try:
        return str(json.loads(package.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "0"


def mount_assets(app: FastAPI, root: Path | None = None) -> dict[str, Path]:
    """Serve each library under /static/vendor/<name>/ (route name `vendor-<name>`), text files gzip-compressed
    from memory (`api.staticfiles`); return the folders. `warm_assets` compresses the pages' files ahead."""
    from api.staticfiles import CompressedStaticFiles

    dirs = vendor_dirs(root)
    for name, folder in dirs.items():
        files = CompressedStaticFiles(directory=folder)
        app.mount(f"{URL_PREFIX}/{name}", files, name=f"vendor-{name}")
        app.state.vendor_files = {**getattr(app.state, "vendor_files", {}), name: files}
    return dirs


def warm_assets(app: FastAPI) -> None:
    """Compress the files the pages rely on (MapLibre's bundle is 1 MB) before anyone asks for them."""
    for name, files in getattr(app.state, "vendor_files", {}).items():
        files.warm(list(VENDOR[name][1]))
