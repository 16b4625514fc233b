"""Benchmark: partitioned scoring of a simulated country at 1×, 2× and 4× data, in-process and on Dask.

    python benchmarks/scale.py --provinces 4 --scale 0.002

The country is `risk.synth.country`: provinces that are copies of one synthetic city (generated at
`--scale`, truth loaded as a perfectly linked store) with their own ids and moved H3 cells, each built on
the worker that scores it. For each multiple m of `--provinces` (1, 2, 4) the whole pipeline of
`risk.score.partition.score_partitions` runs (every unit and household level):

* **in-process**: a child process runs the partitions one after another; wall time and its peak RSS;
* **dask, 1 and 2 workers**: a fresh `LocalCluster` (one spawned process per worker, one thread each)
  per run; each worker's peak RSS is counted from the start of the run (Linux `VmHWM` after a reset
  through `/proc/self/clear_refs`), as is the driver's (the reduce holds every unit, not every person);
  the time excludes starting the cluster.

Printed per run: wall time, time per province, CPU time (the run's process; on Dask the driver's and
every worker's), the steps (map, reduce, households), peak memory per worker; then the ratios
time(m×)/time(1×) and CPU(m×)/CPU(1×), also as a share of linear (≤ 1: no worse than linear), and
peak(m×)/peak(1×) per worker (bounded by the partition: ≈ 1). The machine is shared: the load average is
printed beside every figure, and CPU time, which waiting for a core does not inflate, is the steadier
measure of the work when it is busy. The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_CHILD = """
import datetime as dt, json, resource, sys, time
from risk.store import StoreSettings
from risk.store.embedded import EmbeddedStore
from risk.score import build_config, read_geography
from risk.score.partition import score_partitions
from risk.synth.country import country
store, provinces, as_of = sys.argv[1], int(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
config = build_config("moh-4800", models=None)
geo = read_geography(EmbeddedStore(store))
t, c = time.perf_counter(), time.process_time()
res = score_partitions(country(StoreSettings(path=store), provinces), as_of, config, geo, client=None,
                       scheduler="")
wall, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "timings_s": res.timings, "units": len(res.levels),
                  "households": sum(t.num_rows for t in res.households),
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def load() -> float:
    return round(os.getloadavg()[0], 2)


def log(msg: str) -> None:
    print(msg, flush=True)


def steps(r: dict) -> str:
    """The run's steps: map (counts), reduce (units), map (households)."""
    t = r["timings_s"]
    return (
        f"[map {t.get('map_counts', 0):.1f} s, reduce {t.get('reduce_units', 0):.1f} s, "
        f"households {t.get('map_households', 0):.1f} s]"
    )


def ensure_city(city: Path, store: Path, scale: float, seed: int) -> None:
    from risk.score.fromtruth import load_truth
    from risk.store.embedded import EmbeddedStore
    from risk.synth import SynthConfig, generate

    if (store / "catalog.sqlite").exists():
        return
    if not (city / "truth" / "persons.parquet").is_file():
        t = time.perf_counter()
        generate(SynthConfig(seed=seed, scale=scale, out=city, feeds=False, workers=1))
        log(f"  city generated at scale {scale} in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    counts = load_truth(EmbeddedStore(store), city)
    log(f"  store built from truth: {counts} in {time.perf_counter() - t:.0f} s")


def in_process(store: Path, provinces: int, as_of: dt.date) -> dict:
    env = {**os.environ, "RISKMAP_SCALE_SCHEDULER": ""}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(store), str(provinces), as_of.isoformat()],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode:
        sys.exit(f"error: in-process run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def reset_peak() -> None:
    """Start this process's peak-RSS count afresh (Linux: writing 5 to /proc/self/clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def warm() -> None:
    """Imports and the gazetteer on a fresh worker, before the clock starts (the in-process child has
    them before its clock starts too)."""
    import risk.score.partition
    import risk.synth.country  # noqa: F401
    from geo.gazetteer import load_gazetteer

    load_gazetteer()


def peak_mb() -> float:
    """Peak resident memory since the last `reset_peak` (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def on_dask(store: Path, provinces: int, as_of: dt.date, workers: int) -> dict:
    from distributed import Client, LocalCluster

    from risk.score import build_config, read_geography
    from risk.score.partition import score_partitions
    from risk.store import StoreSettings
    from risk.store.embedded import EmbeddedStore
    from risk.synth.country import country

    config = build_config("moh-4800", models=None)
    geo = read_geography(EmbeddedStore(store))
    import dask

    dask.config.set({"distributed.worker.multiprocessing-method": "spawn"})  # fresh worker processes
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            memory_limit="4GiB",
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        client.run(warm)
        base = client.run(peak_mb)
        client.run(reset_peak)
        reset_peak()
        cpu0 = client.run(time.process_time)
        t, c = time.perf_counter(), time.process_time()
        res = score_partitions(
            country(StoreSettings(path=str(store)), provinces), as_of, config, geo, client=client
        )
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        cpu1 = client.run(time.process_time)
        peaks = client.run(peak_mb)
        driver = peak_mb()
    return {
        "wall_s": wall,
        "cpu_s": cpu + sum(cpu1[w] - cpu0[w] for w in cpu0),  # driver and workers
        "timings_s": res.timings,
        "units": len(res.levels),
        "households": sum(t.num_rows for t in res.households),
        "worker_peak_mb": sorted(peaks.values()),
        "worker_start_mb": sorted(base.values()),
        "driver_peak_mb": driver,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--provinces", type=int, default=4, help="provinces at 1× (default 4)")
    ap.add_argument("--multiples", default="1,2,4", help="data multiples (default 1,2,4)")
    ap.add_argument("--workers", default="1,2", help="Dask worker counts (default 1,2)")
    ap.add_argument("--scale", type=float, default=0.002, help="scale of the city each province copies")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--as-of", default="2021-08-20", help="as-of date (in the generator's epidemic)")
    ap.add_argument("--city", type=Path, default=None, help="city folder (default var/city/scale-s<scale>)")
    ap.add_argument("--store", type=Path, default=None, help="its store (default var/bench/scale/s<scale>)")
    args = ap.parse_args()
    city = (args.city or ROOT / f"var/city/scale-s{args.scale:g}").resolve()
    store = (args.store or ROOT / f"var/bench/scale/s{args.scale:g}").resolve()
    as_of = dt.date.fromisoformat(args.as_of)
    multiples = [int(m) for m in args.multiples.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]

    log(f"load {load()}: city at scale {args.scale} → {city}")
    ensure_city(city, store, args.scale, args.seed)
    runs: dict[str, dict[int, dict]] = {"in-process": {}, **{f"dask-{w}": {} for w in worker_counts}}
    for m in multiples:
        n = args.provinces * m
        r = in_process(store, n, as_of)
        r["load"] = load()
        runs["in-process"][m] = r
        log(
            f"{m}× ({n} provinces, {r['households']} households, {r['units']} units) in-process: "
            f"{r['wall_s']:.2f} s ({r['wall_s'] / n:.2f} s/province, CPU {r['cpu_s']:.1f} s) {steps(r)}, peak {r['maxrss_mb']:.0f} MB "
            f"[load {r['load']}]"
        )
        for w in worker_counts:
            d = on_dask(store, n, as_of, w)
            d["load"] = load()
            runs[f"dask-{w}"][m] = d
            log(
                f"{m}× dask {w} worker(s): {d['wall_s']:.2f} s ({d['wall_s'] / n:.2f} s/province, CPU {d['cpu_s']:.1f} s) "
                f"{steps(d)}, "
                f"peak per worker {', '.join(f'{p:.0f}' for p in d['worker_peak_mb'])} MB "
                f"(idle {', '.join(f'{p:.0f}' for p in d['worker_start_mb'])} MB); reduce (driver) peak "
                f"{d['driver_peak_mb']:.0f} MB [load {d['load']}]"
            )
    ratios: dict[str, dict] = {}
    base_m = multiples[0]
    for name, by_m in runs.items():
        b = by_m[base_m]
        for m, r in by_m.items():
            if m == base_m:
                continue
            peak = "worker_peak_mb" if "worker_peak_mb" in r else "maxrss_mb"
            rp, bp = r[peak], b[peak]
            mem = (max(rp) / max(bp)) if isinstance(rp, list) else rp / bp
            ratios.setdefault(name, {})[f"{m}x"] = {
                "time_ratio": round(r["wall_s"] / b["wall_s"], 3),
                "cpu_ratio": round(r["cpu_s"] / b["cpu_s"], 3),
                "data_ratio": m / base_m,
                "linear_or_better": r["wall_s"] / b["wall_s"] <= m / base_m * 1.05,
                "peak_memory_ratio": round(mem, 3),
            }
            ratios[name][f"{m}x"]["of_linear"] = round(r["wall_s"] / b["wall_s"] / (m / base_m), 3)
            log(
                f"{name} {m}×/{base_m}×: time ×{r['wall_s'] / b['wall_s']:.2f} for data ×{m / base_m:g} "
                f"({r['wall_s'] / b['wall_s'] / (m / base_m):.2f} of linear); CPU time ×{r['cpu_s'] / b['cpu_s']:.2f} "
                f"({r['cpu_s'] / b['cpu_s'] / (m / base_m):.2f} of linear); "
                f"peak memory{' per worker' if peak == 'worker_peak_mb' else ''} ×{mem:.2f}"
            )
    print(
        json.dumps(
            {
                "scale": args.scale,
                "provinces_1x": args.provinces,
                "as_of": args.as_of,
                "cpus": os.cpu_count(),
                "runs": {k: {f"{m}x": v for m, v in by.items()} for k, by in runs.items()},
                "ratios": ratios,
            }
        )
    )


if __name__ == "__main__":
    main()
