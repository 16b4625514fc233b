"""Benchmark serving as production runs it: the risk endpoint and tiles over loopback, against baselines.

    python benchmarks/serve.py --city var/city/s1.0 --dsn postgresql://postgres@127.0.0.1:55433/riskmap_bench

Servers start the way production does (`riskmap serve`: uvicorn with uvloop and httptools, N workers) on
the PostGIS store holding the full-scale city; `wrk` (Debian) loads them over loopback. In one run:

1. **Risk endpoint vs a bare JSON endpoint** on the same server (`/v1/risk?lat&lon` at random household
   locations vs `/healthz`, which returns fixed bytes): throughput ratio (target ≥ 0.8) and p99 at 64
   connections (target ≤ 20 ms). The two alternate for `--rounds` rounds; the ratio is of the mean rates,
   the p99 the worst round's, and each round's ratio is printed too.
2. **Tiles vs tipg**: one fixed list of tiles at zooms 10–16 (wards, groups, the H3 resolution of each zoom,
   household points at 15–16; tiles picked where households live), served by riskmap without its tile cache
   (`RISKMAP_API_TILE_CACHE_MB=0`), by riskmap with it (warmed), and by tipg 1.6 (PyPI, default settings,
   in its own venv under var/, `TIPG_DB_SCHEMAS` pointed at views of the same tables and levels):
   throughput ratios (targets: uncached ≥ 2×, cached ≥ 20× tipg's).
3. **Cold latency**: p95 of tiles never asked before on the uncached server: z15 household tiles, z12 H3.

Household tiles need a role with household access: until API keys exist (issue 8) the tile servers run
`api.app.create_app` with `authenticate` answering a command-centre principal (`authorised_app` below),
under the same uvicorn options as `riskmap serve`. The machine is shared: `uptime` is printed beside every
figure; repeat when it is busy. `--prepare` (or a missing schema) loads the city first
(`benchmarks/servedata.py`; generate it once with `riskmap generate --scale 1.0 --no-feeds`).

The last line printed is a JSON object of all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local i = 0
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
  i = math.random(1, #paths)
end
function request()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "gzip"})
end
"""


def authorised_app():  # type: ignore[no-untyped-def]
    """The production app with every request made by the command centre (stand-in for API keys)."""
    from api.app import create_app
    from api.security import Principal, authenticate

    app = create_app()
    principal = Principal("benchmark", frozenset({"command_centre"}))

    async def command_centre() -> Principal:
        return principal

    app.dependency_overrides[authenticate] = command_centre
    return app


def uptime() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process started like production; waits for readiness; stopped with its workers."""

    def __init__(
        self, name: str, cmd: list[str], env: dict[str, str], ready: str, timeout: float = 300
    ) -> None:
        self.name, self.cmd, self.env, self.ready, self.timeout = name, cmd, env, ready, timeout
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)  # noqa: SIM115

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        start = time.time()
        while time.time() - start < self.timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log.name}")
            try:
                # every worker builds its own view: ready when many new connections in a row find one
                if all(httpx.get(self.ready, timeout=5).status_code == 200 for _ in range(40)):
                    self.started_in = time.time() - start
                    time.sleep(2)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} not ready after {self.timeout:.0f} s: see {self.log.name}")

    def __exit__(self, *exc: object) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def wrk(url: str, paths: list[str], connections: int, seconds: int, threads: int = 2) -> dict[str, float]:
    """Throughput and latency percentiles of GETs cycling through `paths`."""
    before = os.times()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "paths.lua"
        script.write_text(WRK_SCRIPT)
        listing = Path(tmp) / "paths.txt"
        listing.write_text("\n".join(paths) + "\n")
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            env={**os.environ, "WRK_PATHS": str(listing)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    after = os.times()
    wrk_cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": pct.get("50", float("nan")),
        "p99_ms": pct.get("99", float("nan")),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
        "wrk_threads": threads,
        # the load generator's CPU, in cores: well under its thread count, it was not what limited the rate
        "wrk_cores": round(wrk_cpu / seconds, 2),
        "load": float(uptime()),
    }


def combined(runs: list[dict[str, float]]) -> dict[str, float]:
    """Rounds of one endpoint as one run: mean rate, the worst p50 and p99 (a tail is not averaged away),
    every refusal and error, and each round's rate."""
    return {
        "rps": round(statistics.fmean(r["rps"] for r in runs), 1),
        "p50_ms": max(r["p50_ms"] for r in runs),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "non_2xx": sum(int(r["non_2xx"]) for r in runs),
        "socket_errors": sum(int(r["socket_errors"]) for r in runs),
        "wrk_threads": runs[0]["wrk_threads"],
        "wrk_cores": max(r["wrk_cores"] for r in runs),
        "load": max(r["load"] for r in runs),
        "rounds": len(runs),
        "round_rps": [r["rps"] for r in runs],
        "round_p99_ms": [r["p99_ms"] for r in runs],
    }


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def tile_list(households: pd.DataFrame, per_zoom: int, seed: int) -> list[dict[str, object]]:
    """The fixed list: per zoom 10–16, tiles holding sampled households, one entry per layer."""
    from api.tiles.layers import h3_type
    from geo.tiles import tile_of

    rng = random.Random(seed)
    sample = households.sample(n=min(20_000, len(households)), random_state=seed)
    out: list[dict[str, object]] = []
    for z in range(10, 17):
        tiles = sorted({tile_of(lon, lat, z) for lon, lat in zip(sample["lon"], sample["lat"], strict=True)})
        rng.shuffle(tiles)
        for x, y in tiles[:per_zoom]:
            layers = ["wards", "groups", "h3"] + (["households"] if z >= 15 else [])
            for layer in layers:
                tipg_layer = h3_type(z) if layer == "h3" else layer
                out.append(
                    {
                        "z": z,
                        "layer": layer,
                        "riskmap": f"/tiles/{layer}/{z}/{x}/{y}.mvt",
                        "tipg": f"/collections/tipg_bench.{tipg_layer}/tiles/WebMercatorQuad/{z}/{x}/{y}",
                    }
                )
    return out


def cold_latency(url: str, paths: list[str]) -> dict[str, float]:
    times = []
    with httpx.Client(base_url=url, timeout=60, headers={"Accept-Encoding": "gzip"}) as http:
        for p in paths:
            t = time.perf_counter()
            r = http.get(p)
            times.append((time.perf_counter() - t) * 1000)
            if r.status_code not in (200, 204):
                raise RuntimeError(f"{p}: HTTP {r.status_code}")
    times.sort()
    return {
        "n": len(times),
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(0.95 * (len(times) - 1))],
        "max_ms": times[-1],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--city", default="var/city/s1.0", help="city folder made by `riskmap generate`")
    ap.add_argument("--dsn", required=True, help="PostgreSQL database holding (or to receive) the city")
    ap.add_argument("--schema", default="riskmap")
    ap.add_argument("--prepare", action="store_true", help="(re)load the city into the database first")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes (riskmap and tipg alike)")
    ap.add_argument("--seconds", type=int, default=15, help="length of each wrk run of tiles")
    ap.add_argument("--risk-seconds", type=int, default=10, help="length of each wrk run of bare/risk")
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating bare/risk rounds per wrk thread count: the ratio is of the mean rates, the p99 "
        "the worst round's",
    )
    ap.add_argument("--connections", type=int, default=64, help="wrk connections for the risk endpoint")
    ap.add_argument("--tile-connections", type=int, default=32, help="wrk connections for tiles")
    ap.add_argument(
        "--risk-wrk-threads",
        default="1,2",
        help="wrk threads for the risk/bare pair, one run each (the first gives the headline figures): on "
        "2 cores a second wrk thread takes CPU from the server it loads; wrk_cores shows whether wrk limited",
    )
    ap.add_argument("--per-zoom", type=int, default=12, help="tiles per zoom in the fixed list")
    ap.add_argument(
        "--tipg", default="var/tipg-venv", help="venv holding tipg 1.6 (pip install 'tipg==1.6.*')"
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--risk-only", action="store_true", help="measure the risk endpoint only (no tiles)")
    args = ap.parse_args()

    from risk.store.postgis import PostgisStore
    from risk.store.settings import StoreSettings

    figures: dict[str, object] = {
        "workers": args.workers,
        "cores": os.cpu_count(),
        "load_start": float(uptime()),
    }
    store = PostgisStore(args.dsn, schema=args.schema, settings=StoreSettings(statement_timeout_ms=0))
    if args.prepare or not _migrated(store) or store.count("households") == 0:
        import servedata

        store.migrate()
        servedata.load(store, Path(args.city), log=lambda m: print("load:", m, flush=True))
    households = store.read_table("households", columns=["lon", "lat"])
    store.close()
    print(f"households: {len(households)}; load {uptime()}", flush=True)

    env = {
        **os.environ,
        "RISKMAP_STORE_BACKEND": "postgis",
        "RISKMAP_STORE_DSN": args.dsn,
        "RISKMAP_STORE_SCHEMA": args.schema,
        "RISKMAP_STORE_POOL_MAX": "8",
        # start-up reads the whole map (map_units) per worker: on a busy shared machine that took over the
        # store's 60 s statement timeout once, and the run was lost (no request comes near it)
        "RISKMAP_STORE_STATEMENT_TIMEOUT_MS": "0",
        "RISKMAP_API_AUTO_PREPARE": "false",
        "RISKMAP_PRIVACY_ID_KEY": "be" * 32,
        # every request comes from one loopback address: lift the per-IP and per-key rate limits, which
        # would otherwise answer most requests with 429 (the benchmark measures the endpoint, not the limiter)
        "RISKMAP_TRUST_RATE_PER_IP_S": "1000000000",
        "RISKMAP_TRUST_RATE_PER_KEY_S": "1000000000",
    }
    riskmap = (
        str(ROOT / ".venv" / "bin" / "riskmap")
        if (ROOT / ".venv" / "bin" / "riskmap").exists()
        else "riskmap"
    )
    uvicorn_opts = [
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--workers",
        str(args.workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]

    # 1. the risk endpoint against a bare JSON endpoint, same server
    port = free_port()
    rng = np.random.default_rng(args.seed)
    pick = households.iloc[rng.choice(len(households), 5000, replace=False)]
    risk_paths = [
        f"/v1/risk?lat={lat:.6f}&lon={lon:.6f}" for lon, lat in zip(pick["lon"], pick["lat"], strict=True)
    ]
    with Server(
        "riskmap",
        [riskmap, "serve", "--port", str(port), "--workers", str(args.workers), "--log-level", "warning"],
        env,
        f"http://127.0.0.1:{port}/readyz",
    ) as srv:
        url = f"http://127.0.0.1:{port}"
        figures["riskmap_ready_s"] = round(srv.started_in, 1)
        wrk(url, risk_paths, args.connections, 3)  # warm-up
        pairs = []
        for threads in [int(t) for t in args.risk_wrk_threads.split(",")]:
            # bare and risk alternate, round after round: a drift in the machine's speed (another job,
            # the page cache, frequency) falls on both alike instead of on whichever ran second
            rounds = [
                (
                    wrk(url, ["/healthz"], args.connections, args.risk_seconds, threads),
                    wrk(url, risk_paths, args.connections, args.risk_seconds, threads),
                )
                for _ in range(args.rounds)
            ]
            pairs.append((threads, combined([b for b, _ in rounds]), combined([r for _, r in rounds])))
            pairs[-1][2]["round_ratios"] = [round(r["rps"] / b["rps"], 3) for b, r in rounds]
    for i, (threads, bare, risk) in enumerate(pairs):
        suffix = "" if i == 0 else f"_wrk_t{threads}"
        figures["bare_json" + suffix] = bare
        figures["risk_point" + suffix] = risk
        figures["risk_vs_bare" + suffix] = round(risk["rps"] / bare["rps"], 3)
        for name, run in (("bare JSON", bare), ("risk point", risk)):
            if run["non_2xx"]:  # refused answers are fast: their rate is not the endpoint's
                print(
                    f"WARNING: {name}: {run['non_2xx']} answers were not 2xx; its figures do not count",
                    flush=True,
                )
        print(
            f"wrk -t{threads}: bare JSON  {bare['rps']:8.0f} req/s  p50 {bare['p50_ms']:.1f} ms  p99 {bare['p99_ms']:.1f} ms  wrk {bare['wrk_cores']} cores  (load {bare['load']})"
        )
        print(
            f"wrk -t{threads}: risk point {risk['rps']:8.0f} req/s  p50 {risk['p50_ms']:.1f} ms  p99 {risk['p99_ms']:.1f} ms  wrk {risk['wrk_cores']} cores  (load {risk['load']})  ratio {figures['risk_vs_bare' + suffix]} (target ≥ 0.8, p99 ≤ 20 ms; rounds: ratios {risk['round_ratios']}, p99 {risk['round_p99_ms']})",
            flush=True,
        )

    if args.risk_only:
        figures["load_end"] = float(uptime())
        print(json.dumps(figures))
        return

    # 2. tiles: riskmap uncached, tipg, riskmap cached; 3. cold latency on the uncached server
    tiles = tile_list(households, args.per_zoom, args.seed)
    figures["tile_list"] = {"tiles": len(tiles), "zooms": "10-16", "per_zoom": args.per_zoom}
    rm_paths = [str(t["riskmap"]) for t in tiles]
    tipg_paths = [str(t["tipg"]) for t in tiles]
    factory = [
        "-m",
        "uvicorn",
        "serve:authorised_app",
        "--factory",
        "--app-dir",
        str(Path(__file__).resolve().parent),
        "--host",
        "127.0.0.1",
    ]
    port = free_port()
    cold_hh, cold_h3 = _cold_paths(households, args.seed, {t["riskmap"] for t in tiles})
    with Server(
        "riskmap-uncached",
        [sys.executable, *factory, "--port", str(port), *uvicorn_opts],
        {**env, "RISKMAP_API_TILE_CACHE_MB": "0"},
        f"http://127.0.0.1:{port}/readyz",
    ) as srv:
        url = f"http://127.0.0.1:{port}"
        figures["cold_z15_households"] = cold_latency(url, cold_hh)
        figures["cold_z12_h3"] = cold_latency(url, cold_h3)
        wrk(url, rm_paths, args.tile_connections, 3)
        uncached = wrk(url, rm_paths, args.tile_connections, args.seconds)
    print(
        f"cold z15 households p95 {figures['cold_z15_households']['p95_ms']:.1f} ms; z12 H3 p95 {figures['cold_z12_h3']['p95_ms']:.1f} ms"
    )
    print(
        f"riskmap uncached {uncached['rps']:8.0f} tiles/s  p99 {uncached['p99_ms']:.1f} ms  (load {uncached['load']})",
        flush=True,
    )

    tipg_bin = Path(args.tipg) / "bin" / "python"
    port = free_port()
    tipg_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RISKMAP_")},
        "DATABASE_URL": args.dsn,
        "TIPG_DB_SCHEMAS": '["tipg_bench"]',
    }
    with Server(
        "tipg",
        [
            str(tipg_bin),
            "-m",
            "uvicorn",
            "tipg.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *uvicorn_opts,
        ],
        tipg_env,
        f"http://127.0.0.1:{port}/healthz",
    ) as srv:
        url = f"http://127.0.0.1:{port}"
        figures["tipg_version"] = subprocess.run(
            [str(tipg_bin), "-c", "import tipg; print(tipg.__version__)"], capture_output=True, text=True
        ).stdout.strip()
        check = httpx.get(url + tipg_paths[0], timeout=30)
        if check.status_code not in (200, 204):
            raise RuntimeError(f"tipg answered {check.status_code} for {tipg_paths[0]}: {check.text[:300]}")
        wrk(url, tipg_paths, args.tile_connections, 3)
        tipg = wrk(url, tipg_paths, args.tile_connections, args.seconds)
    print(
        f"tipg             {tipg['rps']:8.0f} tiles/s  p99 {tipg['p99_ms']:.1f} ms  (load {tipg['load']})",
        flush=True,
    )

    port = free_port()
    with Server(
        "riskmap-cached",
        [sys.executable, *factory, "--port", str(port), *uvicorn_opts],
        env,
        f"http://127.0.0.1:{port}/readyz",
    ) as srv:
        url = f"http://127.0.0.1:{port}"
        for _ in range(args.workers + 1):  # every worker has its own cache: warm them all
            wrk(url, rm_paths, args.tile_connections, 4)
        cached = wrk(url, rm_paths, args.tile_connections, args.seconds)
    print(
        f"riskmap cached   {cached['rps']:8.0f} tiles/s  p99 {cached['p99_ms']:.1f} ms  (load {cached['load']})"
    )
    figures["tiles_uncached"] = uncached
    figures["tiles_tipg"] = tipg
    figures["tiles_cached"] = cached
    figures["uncached_vs_tipg"] = round(uncached["rps"] / tipg["rps"], 2)
    figures["cached_vs_tipg"] = round(cached["rps"] / tipg["rps"], 2)
    print(
        f"ratios: uncached/tipg {figures['uncached_vs_tipg']} (target ≥ 2), cached/tipg {figures['cached_vs_tipg']} (target ≥ 20)"
    )
    figures["load_end"] = float(uptime())
    print(json.dumps(figures))


def _migrated(store) -> bool:  # type: ignore[no-untyped-def]
    try:
        store.count("map_units")
        return True
    except Exception:
        return False


def _cold_paths(households: pd.DataFrame, seed: int, used: set[object]) -> tuple[list[str], list[str]]:
    from geo.tiles import tile_of

    sample = households.sample(n=min(5000, len(households)), random_state=seed + 1)
    hh, h3 = [], []
    for lon, lat in zip(sample["lon"], sample["lat"], strict=True):
        x, y = tile_of(lon, lat, 15)
        p = f"/tiles/households/15/{x}/{y}.mvt"
        if p not in used and p not in hh and len(hh) < 40:
            hh.append(p)
        x, y = tile_of(lon, lat, 12)
        p = f"/tiles/h3/12/{x}/{y}.mvt"
        if p not in used and p not in h3 and len(h3) < 40:
            h3.append(p)
    return hh, h3


if __name__ == "__main__":
    main()
