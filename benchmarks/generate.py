"""Benchmark: how long and how much memory the synthetic city takes, extrapolated to full scale.

Runs `risk.synth.generate` in child processes (a baseline at a tenth of the scale first, then the
requested scale), measures wall time per stage, the peak resident memory of the generator process and the
peak summed over it and its worker processes (polled from /proc), and extrapolates both to scale 1.0 with a
straight line through the two runs (fixed costs + per-person costs). The last line printed is a JSON object
with every figure.

    python benchmarks/generate.py --scale 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from risk.synth import SynthConfig, generate
args = json.loads(sys.argv[1])
stages, state = {}, {"stage": None, "since": time.perf_counter()}
t0 = state["since"]
def tick(stage, done, total):
    # a stage lasts from the previous stage's last tick to its own last tick
    now = time.perf_counter()
    if stage != state["stage"]:
        state["base"] = state["last"] if state["stage"] else t0
        state["stage"] = stage
    state["last"] = now
    stages[stage] = now - state["base"]
cfg = SynthConfig(seed=args["seed"], scale=args["scale"], out=Path(args["out"]), wards=args["wards"],
                  feeds=args["feeds"], workers=args["workers"])
out = generate(cfg, progress=tick)
wall = time.perf_counter() - t0
summary = json.loads((out / "summary.json").read_text())
feed_rows = summary["feeds"]["rows_total"] if summary.get("feeds") else 0
size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
print(json.dumps({"wall_s": wall, "stages_s": stages, "counts": summary["counts"], "feed_rows": feed_rows,
                  "bytes": size, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _tree_pss_mb(pid: int) -> float:
    """Proportional set size of a process and all its descendants (Linux /proc): shared pages of forked
    workers are counted once in total, unlike a sum of resident sizes."""
    total = 0
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total / 2**20


def run_once(scale: float, out: Path, args: argparse.Namespace) -> dict:
    payload = {
        "seed": args.seed,
        "scale": scale,
        "out": str(out),
        "wards": args.wards,
        "feeds": args.feeds,
        "workers": args.workers,
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(payload)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    peak = [0.0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_pss_mb(proc.pid))
            done.wait(0.25)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stdout, _ = proc.communicate()
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    done.set()
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"generation at scale {scale} failed (exit {proc.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    # CPU seconds of the generator and its workers: unlike wall time, not inflated by other load
    result.update(
        scale=scale, process_s=elapsed, cpu_s=cpu, tree_peak_pss_mb=peak[0], load=os.getloadavg()[0]
    )
    return result


def _line(a: dict, b: dict, key: str, at: float) -> float:
    """Value at scale `at` on the straight line through two runs (never below the larger run's per-scale)."""
    slope = (b[key] - a[key]) / (b["scale"] - a["scale"])
    return a[key] + slope * (at - a["scale"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scale", type=float, default=0.1, help="scale to measure (default 0.1)")
    p.add_argument(
        "--baseline-scale",
        type=float,
        default=None,
        help="baseline run in the same benchmark (default: scale / 10, at least 0.001)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / "var" / "bench" / "generate",
        help="output folder (default var/bench/generate/); runs go to s<scale>/ below it",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--wards", default="all", help="all | old-city | comma-separated 2025 ward codes")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--no-feeds", dest="feeds", action="store_false", help="truth only, no feed files")
    args = p.parse_args(argv)

    base_scale = args.baseline_scale or max(0.001, round(args.scale / 10, 6))
    print(
        f"riskmap synthetic city benchmark: scale {args.scale} (baseline {base_scale}), wards={args.wards}, "
        f"feeds={args.feeds}, workers={args.workers}, cores={os.cpu_count()}",
        flush=True,
    )
    base = run_once(base_scale, args.out / f"s{base_scale:g}", args)
    print(
        f"  baseline {base_scale:g}: {base['counts']['persons']:,} persons in {base['wall_s']:.1f} s, "
        f"peak {base['maxrss_mb']:.0f} MB (all processes {base['tree_peak_pss_mb']:.0f} MB PSS)",
        flush=True,
    )
    main_run = run_once(args.scale, args.out / f"s{args.scale:g}", args)
    persons = main_run["counts"]["persons"]
    print(
        f"  scale {args.scale:g}: {persons:,} persons, {main_run['counts']['households']:,} households, "
        f"{main_run['feed_rows']:,} feed rows, {main_run['bytes'] / 2**30:.2f} GiB written"
    )
    print(
        f"    CPU {main_run['cpu_s']:.0f} s (generator and workers); load average at the end "
        f"{main_run['load']:.1f} on {os.cpu_count()} cores (other work on the machine slows the wall time)"
    )
    print(
        f"    wall {main_run['wall_s']:.1f} s; stages "
        + ", ".join(f"{k} {v:.1f} s" for k, v in main_run["stages_s"].items())
    )
    print(
        f"    peak memory: generator {main_run['maxrss_mb']:.0f} MB, "
        f"workers {main_run['children_maxrss_mb']:.0f} MB, "
        f"all processes {main_run['tree_peak_pss_mb']:.0f} MB PSS"
    )
    per_person_us = main_run["wall_s"] / persons * 1e6
    base_rate = base["wall_s"] / base["counts"]["persons"] * 1e6
    print(
        f"    {per_person_us:.1f} µs per person (baseline {base_rate:.1f} µs: "
        f"ratio {base_rate / per_person_us:.2f}; fixed costs weigh more on small runs)"
    )
    full_s = _line(base, main_run, "wall_s", 1.0)
    full_cpu = _line(base, main_run, "cpu_s", 1.0)
    linear_s = main_run["wall_s"] / args.scale
    full_mb = _line(base, main_run, "tree_peak_pss_mb", 1.0)
    full_gen_mb = _line(base, main_run, "maxrss_mb", 1.0)
    print(
        f"  extrapolated to scale 1.0 (~14.5 M persons): {full_s / 60:.1f} min (proportional: "
        f"{linear_s / 60:.1f} min; {full_cpu / 60:.0f} CPU-min), peak memory ~{full_gen_mb / 1024:.1f} GB "
        f"generator, ~{full_mb / 1024:.1f} GB all processes (PSS)"
    )
    figures = {
        "scale": args.scale,
        "baseline_scale": base_scale,
        "wards": args.wards,
        "feeds": args.feeds,
        "workers": args.workers,
        "cores": os.cpu_count(),
        "persons": persons,
        "households": main_run["counts"]["households"],
        "feed_rows": main_run["feed_rows"],
        "bytes_written": main_run["bytes"],
        "wall_s": round(main_run["wall_s"], 2),
        "cpu_s": round(main_run["cpu_s"], 1),
        "load_average": round(main_run["load"], 2),
        "stages_s": {k: round(v, 2) for k, v in main_run["stages_s"].items()},
        "peak_rss_mb": round(main_run["maxrss_mb"], 1),
        "workers_peak_rss_mb": round(main_run["children_maxrss_mb"], 1),
        "tree_peak_pss_mb": round(main_run["tree_peak_pss_mb"], 1),
        "us_per_person": round(per_person_us, 2),
        "baseline": {
            "persons": base["counts"]["persons"],
            "wall_s": round(base["wall_s"], 2),
            "cpu_s": round(base["cpu_s"], 1),
            "peak_rss_mb": round(base["maxrss_mb"], 1),
            "us_per_person": round(base_rate, 2),
        },
        "baseline_ratio": round(base_rate / per_person_us, 3),
        "full_scale_estimate": {
            "cpu_s": round(full_cpu, 1),
            "wall_s": round(full_s, 1),
            "wall_s_proportional": round(linear_s, 1),
            "peak_rss_mb": round(full_gen_mb, 1),
            "tree_peak_pss_mb": round(full_mb, 1),
        },
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
