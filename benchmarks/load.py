"""Load test: the risk endpoint held at a fixed rate while a full rescoring and an ingest run.

    python benchmarks/load.py --store var/store --feeds var/city/s0.01/feeds/ho-khau --rate 200 --seconds 60

A real `riskmap serve` process answers `GET /v1/risk` at random points of the city, requested at a fixed
rate (open loop: a slow answer does not slow the requests down, latency is counted from the moment a
request was due). First a quiet baseline, then the same rate while `riskmap score` rescores everything
(repeatedly, alternating two as-of dates so every switch changes levels) and `riskmap ingest` loads
feed files. Every answer is checked against the store: its level, as-of time and population must be
those of its own snapshot id (an answer mixing two snapshots fails). Loopback only, bounded in time.

Prints figures (rate held, latency percentiles, errors, snapshots seen, mixed answers) and the ratio of
loaded to quiet latency; the last line is a JSON object of the figures. Exit 1 on any error or mix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

RISKMAP = str(Path(sys.executable).with_name("riskmap"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def points(n: int, seed: int = 1) -> list[tuple[float, float]]:
    """Random points inside the 2025 wards (each ward equally likely), for requests spread over wards."""
    import shapely

    from geo.gazetteer import load_gazetteer

    rng = random.Random(seed)
    wards = load_gazetteer().wards.geometry.to_numpy()
    out = []
    while len(out) < n:
        w = wards[rng.randrange(len(wards))]
        minx, miny, maxx, maxy = w.bounds
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(w, x, y):
            out.append((y, x))
    return out


class Connection:
    """One keep-alive HTTP/1.1 connection with just enough of the protocol for GETs (a generator light
    enough to hold its rate on a busy machine; httpx's pool is not, at a few hundred requests per second)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        body = await asyncio.wait_for(self.reader.readexactly(int(headers.get("content-length", 0))), timeout)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def hold_rate(
    url: str, rate: float, seconds: float, pts: list[tuple[float, float]], connections: int = 32
) -> list:
    """Open-loop requests at `rate`/s for `seconds`; returns (due, sent, done, status, body or error, stale).

    Request i is due at t0 + i/rate whatever happened before; latency is counted from when it was due,
    so a stall shows as latency instead of silently lowering the rate.
    """
    host, port = url.removeprefix("http://").split(":")
    n = int(rate * seconds)
    results: list = []
    t0 = time.perf_counter() + 0.05
    counter = iter(range(n))

    async def worker() -> None:
        conn = Connection(host, int(port))
        try:
            for i in counter:
                due = t0 + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                lat, lon = pts[i % len(pts)]
                sent = time.perf_counter()
                try:
                    status, headers, body = await conn.get(f"/v1/risk?lat={lat:.6f}&lon={lon:.6f}")
                    answer = json.loads(body) if status == 200 else body[:200].decode("utf-8", "replace")
                    results.append(
                        (due, sent, time.perf_counter(), status, answer, headers.get("x-riskmap-stale"))
                    )
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    conn.close()
                    results.append((due, sent, time.perf_counter(), 0, repr(exc), None))
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return results


def figures(results: list, rate: float, seconds: float) -> dict:
    ok = [r for r in results if r[3] == 200]
    lat = np.array([r[2] - r[0] for r in ok]) * 1000  # from when the request was due
    span = (max(r[2] for r in results) - min(r[0] for r in results)) if results else 0
    pct = (lambda q: round(float(np.percentile(lat, q)), 2)) if len(lat) else (lambda q: None)
    return {
        "requests": len(results),
        "target_rate": rate,
        "achieved_rate": round(len(results) / span, 1) if span else 0,
        "errors": len(results) - len(ok),
        "not_found": sum(1 for r in results if r[3] == 404),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "max_ms": round(float(lat.max()), 2) if len(lat) else None,
    }


def check_consistency(store, results: list) -> tuple[int, set[int]]:
    """Answers whose level / as-of / population are not those of their own snapshot id."""
    by_sid: dict[int, dict] = {}
    mixed = 0
    for r in results:
        if r[3] != 200:
            continue
        a = r[4]
        sid = a["snapshot_id"]
        if sid not in by_sid:
            info = store.get_snapshot(sid)
            lv = store.read_snapshot(sid, "levels").set_index(["unit_type", "unit_id"])
            by_sid[sid] = {"as_of": info.as_of.isoformat(), "levels": lv}
        snap = by_sid[sid]
        key = (a["unit"]["type"], a["unit"]["id"])
        if key not in snap["levels"].index:  # a unit the snapshot gave no level: the explicit unknown
            mixed += int(a["level"] != 0 or a["known"] or snap["as_of"] != a["as_of"])
            continue
        row = snap["levels"].loc[key]
        if (
            int(row["level"]) != a["level"]
            or snap["as_of"] != a["as_of"]
            or json.loads(row["metrics"]).get("population") != a["metrics"].get("population")
            or row["profile_version"] != a["profile"]["version"]
        ):
            mixed += 1
    return mixed, set(by_sid)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--store", type=Path, required=True, help="an embedded store with a published snapshot (copied first)"
    )
    p.add_argument(
        "--feeds", type=Path, nargs="*", default=[], help="feed files/folders the concurrent ingest loads"
    )
    p.add_argument(
        "--sources", type=Path, default=None, help="extra source mappings (RISKMAP_INGEST_SOURCES_DIR)"
    )
    p.add_argument(
        "--as-of", nargs=2, default=["2021-10-24", "2021-09-15"], help="two as-of dates rescoring alternates"
    )
    p.add_argument("--rate", type=float, default=200.0, help="requests per second held (default 200)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the loaded phase (default 60)")
    p.add_argument(
        "--baseline-seconds", type=float, default=10.0, help="length of the quiet phase (default 10)"
    )
    p.add_argument("--workers", type=int, default=1, help="server worker processes")
    p.add_argument("--keep", action="store_true", help="keep the copied store")
    args = p.parse_args(argv)

    from risk.store.embedded import EmbeddedStore

    work = Path(tempfile.mkdtemp(prefix="riskmap-load-"))
    store_dir = work / "store"
    shutil.copytree(args.store, store_dir)
    store = EmbeddedStore(store_dir)
    if store.current_snapshot() is None:
        p.error(f"{args.store} has no published snapshot: run riskmap score first")
    env = {**os.environ, "RISKMAP_STORE_BACKEND": "embedded", "RISKMAP_STORE_PATH": str(store_dir)}
    env |= {"RISKMAP_TRUST_RATE_PER_IP_S": str(args.rate * 10), "RISKMAP_TRUST_ACCESS_LOG": "false"}
    env |= {"RISKMAP_API_SNAPSHOT_POLL_SECONDS": "0.2"}
    if args.sources:
        env["RISKMAP_INGEST_SOURCES_DIR"] = str(args.sources)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [RISKMAP, "serve", "--port", str(port), "--workers", str(args.workers), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "server.log", "wb"),  # noqa: SIM115
    )
    background: list[subprocess.Popen] = []
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not become ready; see {work / 'server.log'}")
            time.sleep(0.2)
        pts = points(2000)
        print(
            f"load {os.getloadavg()[0]:.2f} before; {args.rate:g} req/s, {args.baseline_seconds:g} s quiet then "
            f"{args.seconds:g} s with rescoring and ingest",
            file=sys.stderr,
        )
        quiet = asyncio.run(hold_rate(url, args.rate, args.baseline_seconds, pts))

        scores = {"runs": 0, "failed": 0, "seconds": []}
        ingest_rc: list[int | None] = []

        def rescoring_loop(stop_at: float) -> None:
            i = 0
            while time.time() < stop_at:
                t = time.time()
                rc = subprocess.run(
                    [RISKMAP, "score", "--as-of", args.as_of[i % 2]],
                    env=env,
                    capture_output=True,
                    timeout=600,
                ).returncode
                scores["runs"] += 1
                scores["failed"] += rc != 0
                scores["seconds"].append(time.time() - t)
                i += 1

        import threading

        stop_at = time.time() + args.seconds * 0.8
        scorer = threading.Thread(target=rescoring_loop, args=(stop_at,), daemon=True)
        if args.feeds:
            background.append(
                subprocess.Popen(
                    [RISKMAP, "ingest", *map(str, args.feeds)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        scorer.start()
        loaded = asyncio.run(hold_rate(url, args.rate, args.seconds, pts))
        scorer.join(timeout=600)
        for b in background:
            b.wait(600)
            ingest_rc.append(b.returncode)
        load_after = os.getloadavg()[0]
        mixed, sids = check_consistency(EmbeddedStore(store_dir), quiet + loaded)
        fq, fl = figures(quiet, args.rate, args.baseline_seconds), figures(loaded, args.rate, args.seconds)
        stale = sum(1 for r in loaded if r[5] == "true")
        out = {
            "quiet": fq,
            "loaded": fl,
            "p99_ratio_loaded_vs_quiet": round(fl["p99_ms"] / fq["p99_ms"], 2)
            if fq["p99_ms"] and fl["p99_ms"]
            else None,
            "rescorings": scores["runs"],
            "rescoring_failures": scores["failed"],
            "rescoring_mean_s": round(float(np.mean(scores["seconds"])), 2) if scores["seconds"] else None,
            "ingest_exit_codes": ingest_rc,
            "snapshots_served": sorted(sids),
            "mixed_answers": mixed,
            "stale_answers": stale,
            "loadavg_after": round(load_after, 2),
        }
        for name, f in (("quiet", fq), ("loaded", fl)):
            print(
                f"{name:>6}: {f['requests']} requests at {f['achieved_rate']}/s (target {f['target_rate']:g}), "
                f"errors {f['errors']}, p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, p99 {f['p99_ms']} ms, max {f['max_ms']} ms"
            )
        print(
            f"rescorings {scores['runs']} (failed {scores['failed']}), ingest exit {ingest_rc}; "
            f"snapshots served {sorted(sids)}; answers mixing snapshots: {mixed}; stale answers {stale}; "
            f"p99 loaded/quiet {out['p99_ratio_loaded_vs_quiet']}; load average after {load_after:.2f}"
        )
        print(json.dumps(out))
        bad = (
            fq["errors"]
            or fl["errors"]
            or mixed
            or scores["failed"]
            or any(rc not in (0, None) for rc in ingest_rc)
        )
        return 1 if bad else 0
    finally:
        for b in background:
            if b.poll() is None:
                b.kill()
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
