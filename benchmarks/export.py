"""Benchmark: a ward leader's XLSX household list of the city's largest ward, at full scale.

    python benchmarks/export.py --city /path/to/city/s1 --store var/bench/map/s1

Same store as `benchmarks/map.py` (built once from the city's truth). Two sizes: the largest ward and a
ward with about a quarter of its households. For each, a fresh server process (as `riskmap serve` runs
it, every request a ward leader of that ward) serves `GET /v1/exports/households.xlsx?ward=…`; the
server's peak memory is reset just before the request (`/proc/PID/clear_refs`) and read after it
(VmHWM), so the figure is what the export itself adds. Flat means the large ward's peak is not ~4×
the small one's. The file is then opened with openpyxl and checked: one sheet per neighbourhood group
plus the summary, every household of the ward in the snapshot exactly once, `STT` 1…n.

Baseline measured in the same run: the same server's peak over a request for the ward's level
(`/v1/units/ward/…`), i.e. what any request costs. Load average beside every figure; JSON last line.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import serverproc  # noqa: E402
from benchmarks.mapcity import ensure_city_store  # noqa: E402


def load() -> float:
    return round(os.getloadavg()[0], 2)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def pick_wards(store_dir: Path) -> tuple[tuple[str, int], tuple[str, int]]:
    """(largest ward, households), (a ward with about a quarter of that, households)."""
    from risk.store.embedded import EmbeddedStore

    counts = EmbeddedStore(store_dir).read_table("households", columns=["ward_id"])["ward_id"].value_counts()
    big = (str(counts.index[0]), int(counts.iloc[0]))
    small_id = (counts - counts.iloc[0] / 4).abs().idxmin()
    return big, (str(small_id), int(counts[small_id]))


def expected(store_dir: Path, ward: str) -> set[str]:
    """Household refs of the ward in the current snapshot (what the list must hold)."""
    from risk.store.embedded import EmbeddedStore

    s = EmbeddedStore(store_dir)
    sid = s.current_snapshot().snapshot_id
    ids = s.read_snapshot(sid, "household_levels", columns=["household_id"], filters=[("ward_id", "=", ward)])
    hh = s.read_table(
        "households",
        columns=["household_id", "household_ref"],
        filters=[("household_id", "in", ids["household_id"].tolist())],
    )
    return set(hh["household_ref"])


def check(content: bytes, want: set[str]) -> dict:
    import openpyxl

    t = time.perf_counter()
    wb = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    refs: list[str] = []
    numbers: list[int] = []
    for name in wb.sheetnames[1:]:
        for row in wb[name].iter_rows(min_row=2, values_only=True):
            numbers.append(row[0])
            refs.append(row[1])
    ok = (
        sorted(numbers) == list(range(1, len(want) + 1)) and len(refs) == len(set(refs)) and set(refs) == want
    )
    return {
        "openpyxl_s": round(time.perf_counter() - t, 1),
        "sheets": len(wb.sheetnames),
        "rows": len(refs),
        "expected_rows": len(want),
        "right_rows": ok,
    }


def measure(store: Path, ward: str) -> dict:
    proc, url = serverproc.start(store, "ward_leader", ward)
    try:
        with httpx.Client(base_url=url, timeout=600) as c:
            c.get("/v1/snapshots/current")
            rss0, _ = serverproc.memory_mb(proc.pid)
            reset_peak(proc.pid)
            c.get(f"/v1/units/ward/{ward}")
            _, base_peak = serverproc.memory_mb(proc.pid)
            rss1, _ = serverproc.memory_mb(proc.pid)
            reset_peak(proc.pid)
            t = time.perf_counter()
            first = None
            buf = io.BytesIO()
            with c.stream("GET", "/v1/exports/households.xlsx", params={"ward": ward}) as r:
                r.raise_for_status()
                for chunk in r.iter_bytes():
                    first = first or time.perf_counter() - t
                    buf.write(chunk)
            seconds = time.perf_counter() - t
            _, peak = serverproc.memory_mb(proc.pid)
    finally:
        serverproc.stop(proc)
    return {
        "seconds": round(seconds, 2),
        "first_byte_s": round(first or seconds, 2),
        "bytes": buf.tell(),
        "rss_before_mb": round(rss1, 1),
        "peak_mb": round(peak, 1),
        "export_peak_over_rss_mb": round(peak - rss1, 1),
        "baseline_peak_over_rss_mb": round(base_peak - rss0, 1),
        "content": buf.getvalue(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--city", type=Path, default=Path("var/city/s1"), help="generated city (full scale)")
    ap.add_argument(
        "--store", type=Path, default=Path("var/bench/map/s1"), help="embedded store (built if missing)"
    )
    args = ap.parse_args()
    print(f"load {load()}: store {args.store}", flush=True)
    ensure_city_store(args.city, args.store)
    (big, n_big), (small, n_small) = pick_wards(args.store)
    print(f"  largest ward {big}: {n_big} households; smaller ward {small}: {n_small}", flush=True)
    out: dict[str, object] = {}
    for label, ward in (("small", small), ("large", big)):
        m = measure(args.store, ward)
        content = m.pop("content")
        m.update(check(content, expected(args.store, ward)), ward=ward)
        print(
            f"  {label} ward {ward}: {m['rows']} rows in {m['seconds']} s (first byte {m['first_byte_s']} s), "
            f"{m['bytes'] / 1e6:.1f} MB; server peak over its RSS: export {m['export_peak_over_rss_mb']} MB, "
            f"a plain request {m['baseline_peak_over_rss_mb']} MB; openpyxl: {m['sheets']} sheets, "
            f"right rows: {m['right_rows']} (load {load()})",
            flush=True,
        )
        out[label] = m
    s, lg = out["small"], out["large"]
    rows_ratio = lg["rows"] / max(s["rows"], 1)  # type: ignore[index]
    mem_ratio = lg["export_peak_over_rss_mb"] / max(s["export_peak_over_rss_mb"], 1)  # type: ignore[index]
    print(f"rows × {rows_ratio:.2f}, export peak memory × {mem_ratio:.2f} (flat: well below the rows ratio)")
    out.update(rows_ratio=round(rows_ratio, 2), peak_ratio=round(mem_ratio, 2), load=load())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
