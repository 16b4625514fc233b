"""A scored, map-ready embedded store of a generated city, built once from its truth and reused.

Shared by `benchmarks/map.py` and `benchmarks/export.py`: households, persons and records from the
city's truth (`risk.score.fromtruth`), two snapshots a week apart (the map's date selector and "changes
since" need a past one), and `map_units` prepared. Building it at full scale takes minutes; a store that
already has a published snapshot and `map_units` is used as it is.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

DAYS = ("2021-10-17", "2021-10-24")


def ensure_city_store(city: Path, store_dir: Path, days: tuple[str, ...] = DAYS, log=print) -> float:
    """Build the store unless it is complete; seconds spent building (0 when reused)."""
    from api.tiles.prepare import prepare_map_units
    from risk.score import score
    from risk.score.fromtruth import load_truth
    from risk.store.embedded import EmbeddedStore

    done = store_dir / "READY"
    if done.exists():
        return 0.0
    t = time.perf_counter()
    store = EmbeddedStore(store_dir)
    if not (store_dir / "TRUTH").exists():
        counts = load_truth(store, city)
        (store_dir / "TRUTH").write_text(str(counts))
        log(f"  truth loaded: {counts} in {time.perf_counter() - t:.0f} s")
    for day in days:
        t1 = time.perf_counter()
        res = score(store, dt.date.fromisoformat(day), "moh-4800")
        log(f"  scored {day}: snapshot {res.snapshot.snapshot_id} in {time.perf_counter() - t1:.0f} s")
    t1 = time.perf_counter()
    prepare_map_units(store)
    log(f"  map_units prepared in {time.perf_counter() - t1:.0f} s")
    store.close()
    done.write_text("ok")
    return time.perf_counter() - t


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(ensure_city_store(Path(sys.argv[1]), Path(sys.argv[2])))
