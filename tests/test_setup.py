"""The set-up itself: vendored front-end assets, the set-up scripts, the private PostgreSQL helper, Docker.

These guard what a new user meets first (the README's two commands) and what CI runs, so a broken script
or a stale lock fails here rather than on someone's fresh machine.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import assets

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((REPO / "scripts").glob("*.sh"))
REQUIRED = {s.strip() for s in os.environ.get("RISKMAP_TEST_REQUIRE", "").split(",")}


# --- front-end assets ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vendor_client() -> TestClient:
    app = FastAPI()
    try:
        assets.mount_assets(app)
    except assets.AssetsMissingError as exc:
        pytest.fail(str(exc))
    return TestClient(app)


@pytest.mark.parametrize(
    ("name", "file", "media"),
    [
        ("leaflet", "leaflet.js", "javascript"),
        ("leaflet", "leaflet.css", "text/css"),
        ("leaflet", "images/marker-icon.png", "image/png"),
        ("maplibre-gl", "maplibre-gl.js", "javascript"),
        ("maplibre-gl", "maplibre-gl.css", "text/css"),
    ],
)
def test_vendor_files_are_served(vendor_client: TestClient, name: str, file: str, media: str) -> None:
    url = assets.vendor_url(name, file)
    assert url == f"/static/vendor/{name}/{file}"
    r = vendor_client.get(url)
    assert r.status_code == 200
    assert media in r.headers["content-type"]
    assert len(r.content) > 500
    # Conditional requests work, so browsers revalidate instead of downloading again.
    assert vendor_client.get(url, headers={"If-None-Match": r.headers["etag"]}).status_code == 304


def test_vendor_serves_the_locked_versions(vendor_client: TestClient) -> None:
    lock = json.loads((REPO / "package-lock.json").read_text())["packages"]
    leaflet = vendor_client.get("/static/vendor/leaflet/leaflet.js").text
    assert f"Leaflet {lock['node_modules/leaflet']['version']}" in leaflet[:300]
    maplibre = vendor_client.get("/static/vendor/maplibre-gl/maplibre-gl.js").text
    assert f"v{lock['node_modules/maplibre-gl']['version']}" in maplibre[:500]
    assert vendor_client.get("/static/vendor/leaflet/no-such-file.js").status_code == 404


def test_vendor_files_travel_compressed_once_with_cache_by_version(vendor_client: TestClient) -> None:
    """MapLibre's 1 MB bundle is gzip-compressed once (not per request); a versioned URL may be kept a year,
    an unversioned one is revalidated (ETag) so a deploy is never hidden."""
    import gzip

    from api import staticfiles

    url = assets.vendor_url("maplibre-gl", "maplibre-gl.js")
    raw = (assets.vendor_dirs()["maplibre-gl"] / "maplibre-gl.js").read_bytes()
    versioned = vendor_client.get(f"{url}?v={assets.vendor_version('maplibre-gl')}")
    assert versioned.headers["content-encoding"] == "gzip" and versioned.content == raw
    assert "immutable" in versioned.headers["cache-control"] and versioned.headers["etag"]
    assert "accept-encoding" in versioned.headers["vary"].lower()
    plain = vendor_client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == raw
    assert plain.headers["cache-control"] == "no-cache"
    key = next(k for k in staticfiles._gzipped if k[0].endswith("maplibre-gl.js"))
    cached = staticfiles._gzipped[key]
    assert gzip.decompress(cached) == raw and vendor_client.get(url)  # the same bytes object reused
    assert staticfiles._gzipped[key] is cached
    revalidated = vendor_client.get(url, headers={"If-None-Match": versioned.headers["etag"]})
    assert revalidated.status_code == 304 and revalidated.headers["cache-control"] == "no-cache"
    assert (
        assets.vendor_version("maplibre-gl")
        == json.loads((REPO / "package-lock.json").read_text())["packages"]["node_modules/maplibre-gl"][
            "version"
        ]
    )


def test_missing_assets_fail_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(assets.ENV_VAR, str(tmp_path))
    with pytest.raises(assets.AssetsMissingError, match=r"npm ci") as info:
        assets.mount_assets(FastAPI())
    assert "leaflet.js" in str(info.value) and assets.ENV_VAR in str(info.value)


def test_assets_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Docker layout: only <package>/dist copied into a folder of its own."""
    for _name, (sub, files) in assets.VENDOR.items():
        for f in files:
            (tmp_path / sub / f).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / sub / f).write_text("x")
    monkeypatch.setenv(assets.ENV_VAR, str(tmp_path))
    assert assets.vendor_dirs() == {name: tmp_path / sub for name, (sub, _) in assets.VENDOR.items()}
    with pytest.raises(KeyError):
        assets.vendor_url("jquery", "jquery.js")


def test_lock_matches_package_json() -> None:
    pkg = json.loads((REPO / "package.json").read_text())
    lock = json.loads((REPO / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == pkg["dependencies"]
    assert lock["packages"]["node_modules/leaflet"]["version"].startswith("1.9.")
    assert lock["packages"]["node_modules/maplibre-gl"]["version"].split(".")[0] in {"4", "5"}
    assert set(pkg["dependencies"]) >= set(assets.VENDOR)
    # Every locked package is pinned by hash, so `npm ci` installs exactly what was reviewed.
    assert all("integrity" in p for k, p in lock["packages"].items() if k and not p.get("link"))


# --- scripts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", [*SCRIPTS, REPO / ".ci" / "run"], ids=lambda p: p.name)
def test_script_syntax(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "set -euo pipefail" in text or script.name == "lib.sh"
    assert "/work/" not in text and "/root/" not in text, "no machine paths in scripts"


def test_shellcheck_clean() -> None:
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    files = [str(p.relative_to(REPO)) for p in SCRIPTS] + [".ci/run"]
    r = subprocess.run(["shellcheck", "-x", *files], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "exec bash scripts/test.sh"
    assert "bash scripts/test.sh" in (REPO / "docs" / "setup.md").read_text()


def test_present_debian_packages_skip_apt() -> None:
    """A second run must not touch apt: with everything installed, ensure_debs only reports."""
    if not shutil.which("dpkg-query"):
        pytest.skip("not a Debian system")
    script = "source scripts/lib.sh; apt-get() { echo CALLED-APT; exit 9; }; ensure_debs bash coreutils"
    r = subprocess.run(
        ["bash", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "CALLED-APT" not in r.stdout + r.stderr and "present: bash coreutils" in r.stderr


# --- the private PostgreSQL cluster helper ------------------------------------------------------------


def _pg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/pg.sh", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def scratch_cluster() -> Iterator[dict[str, str]]:
    """Environment for a second, throw-away cluster under var/ (never the one the suite runs on)."""
    pg_bin = Path(os.environ.get("RISKMAP_PG_BIN", "/usr/lib/postgresql/15/bin"))
    if not (pg_bin / "initdb").exists():
        why = f"no PostgreSQL 15 programs in {pg_bin}"
        if "postgis" in REQUIRED:  # as tests/conftest.py: fail where the run requires PostGIS
            pytest.fail(f"postgis is required (RISKMAP_TEST_REQUIRE) but unavailable: {why}")
        pytest.skip(why)
    folder = REPO / "var" / f"test-pg-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != "RISKMAP_PG_PORT"}
    env["RISKMAP_PG_DIR"] = str(folder)
    yield env
    _pg(env, "stop")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.postgis
def test_pg_helper_lifecycle(scratch_cluster: dict[str, str]) -> None:
    import psycopg

    env = scratch_cluster
    assert _pg(env, "status").returncode == 3
    first = _pg(env, "start")
    assert first.returncode == 0, first.stderr
    dsn = _pg(env, "dsn").stdout.strip()
    assert re.fullmatch(r"postgresql://postgres@127\.0\.0\.1:\d+/riskmap_test", dsn), dsn
    with psycopg.connect(dsn) as con:
        assert con.execute("SELECT postgis_lib_version()").fetchone()[0].startswith("3.")
        assert con.execute("SHOW fsync").fetchone()[0] == "off"
        assert con.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"

    again = _pg(env, "start")  # idempotent while running: same server, same port
    assert again.returncode == 0 and "already running" in again.stderr
    assert _pg(env, "dsn").stdout.strip() == dsn
    assert _pg(env, "stop").returncode == 0
    assert _pg(env, "status").returncode == 3

    # Its remembered port now held by someone else: it moves to a free one and says so.
    port = int(dsn.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", port))
        other.listen()
        moved = _pg(env, "start")
        assert moved.returncode == 0, moved.stderr
        assert f"port {port} is taken" in moved.stderr
        assert _pg(env, "dsn").stdout.strip() != dsn
        assert _pg(env, "stop").returncode == 0
        # An explicit port that is taken is an error, not a surprise.
        taken = _pg({**env, "RISKMAP_PG_PORT": str(port)}, "start")
        assert taken.returncode != 0 and "in use" in taken.stderr


# --- Docker ------------------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _dockerignored() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


def test_dockerfile_shape() -> None:
    ins = _dockerfile()
    args = dict(a.split("=", 1) for w, a in ins if w == "ARG" and "=" in a)
    stages = [a for w, a in ins if w == "FROM"]
    assert len(stages) >= 2, "multi-stage"
    runtime_from = stages[-1].split()[0].replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"])
    assert runtime_from == "python:3.11-slim-bookworm"
    runtime = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM") :]
    user = [a for w, a in runtime if w == "USER"]
    assert user and user[-1] not in {"root", "0"}
    assert any(w == "HEALTHCHECK" and "/healthz" in a for w, a in runtime)
    cmd = json.loads(next(a for w, a in runtime if w == "CMD"))
    assert cmd == ["riskmap", "serve", "--host", "0.0.0.0", "--port", "8000"]
    env = " ".join(a for w, a in runtime if w == "ENV")
    assert "RISKMAP_GEO_DATA_DIR=/app/data" in env and "RISKMAP_API_ASSETS_DIR=/app/assets" in env
    # The assets stage copies exactly the folders api/assets.py looks for.
    run_assets = " ".join(a for w, a in ins if w == "RUN" and "npm ci" in a)
    for _name, (sub, _files) in assets.VENDOR.items():
        pkg = sub.split("/")[0]
        assert f"node_modules/{sub}" in run_assets and f"/assets/{pkg}/" in run_assets


def test_dockerfile_copies_existing_unignored_paths() -> None:
    ignored = _dockerignored()
    for word, a in _dockerfile():
        if word != "COPY" or "--from=" in a:
            continue
        parts = [p for p in shlex.split(a) if not p.startswith("--")]
        for src in parts[:-1]:
            if src == ".":
                continue
            path = REPO / src
            assert path.exists(), f"COPY {src}: no such path"
            assert src.rstrip("/") not in ignored, f"COPY {src} is excluded by .dockerignore"
    for needed in ("pyproject.toml", "api", "geo", "risk", "data", "package.json", "package-lock.json"):
        assert needed not in ignored


def test_compose_file() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    db, api = services["db"], services["api"]
    assert db["image"] == "postgis/postgis:15-3.4"
    assert "healthcheck" in db
    for vol in db["volumes"]:
        assert vol.split(":")[0] in compose["volumes"]
    assert (REPO / api["build"] / "Dockerfile").is_file()
    assert api["environment"]["RISKMAP_STORE_BACKEND"] == "postgis"
    assert "@db:5432/" in api["environment"]["RISKMAP_STORE_DSN"]
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    for svc in services.values():
        for dep in svc.get("depends_on", {}):
            assert dep in services
