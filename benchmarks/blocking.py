"""Benchmark: linkage candidate pairs against the number of records, at 1×, 2× and 4× a country.

    python benchmarks/blocking.py --city var/city/scale-s0.002

The persons of a synthetic city (`truth/persons.parquet`, names cleaned as ingest cleans them) are copied
into m provinces (m = 1, 2, 4): each copy keeps every name and birth date (names and dates repeat across
a country: the hard case for blocking) but has its own wards, address points, CCCD province digits and
phone numbers. Each person is also one record to link, so records = persons. `risk.link.probabilistic`'s
`candidates` blocks records against persons on its six keys; a key shared by more than `MAX_BLOCK`
persons blocks nothing, so a record has at most 6 × `MAX_BLOCK` candidates whatever the country's size.

Two ways, each at every multiple: **by-province** (what `candidates` does with more than one province:
name keys scoped by province, ID, phone and address point national) and **national-names** (the same
keys unscoped, the baseline measured in the same run). Printed: records, candidate pairs, pairs per
record, blocking time, keys dropped as too common; then pairs(m×)/pairs(1×) against m (linear: ≤ m). The
machine is shared: the load average is printed beside the figures. The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load() -> float:
    return round(os.getloadavg()[0], 2)


def city_people(city: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    from risk.clean.names import clean_names

    p = pq.read_table(
        city / "truth/persons.parquet",
        columns=["person_id", "household_id", "full_name", "sex", "birth_date", "cccd", "phone"],
    ).to_pandas()
    h = pq.read_table(city / "truth/households.parquet", columns=["household_id", "point_id", "ward_code"])
    p = p.merge(h.to_pandas(), on="household_id", how="left")
    names = clean_names(p["full_name"])
    birth = pd.to_datetime(p["birth_date"])
    return pd.DataFrame(
        {
            "name_key": names["name_key"].to_numpy(),
            "birth_date": birth,
            "birth_precision": np.where(birth.notna(), "day", ""),
            "birth_year": birth.dt.year,
            "sex": p["sex"],
            "id_number": p["cccd"].replace("", None),
            "phone": p["phone"].replace("", None),
            "point_id": p["point_id"].astype("int64"),
            "ward_id": "hcmc-2025:" + p["ward_code"].astype(str),
            "province": "79",
        }
    )


def country_people(base: pd.DataFrame, provinces: int) -> pd.DataFrame:
    """`provinces` copies: same names and dates, each with its own places, CCCD province digits and phones."""
    parts = []
    for k in range(provinces):
        c = base.copy()
        if k:
            c["ward_id"] = f"p{k:02d}/" + c["ward_id"]
            c["province"] = f"p{k:02d}"
            c["point_id"] = c["point_id"] + (k << 40)
            ids = c["id_number"].fillna("")
            c["id_number"] = np.where(ids != "", f"{k:03d}" + ids.str[3:], None)
            ph = c["phone"].fillna("")
            c["phone"] = np.where(ph != "", ph.str[:2] + f"{k:02d}" + ph.str[4:], None)
        parts.append(c)
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--city", type=Path, default=ROOT / "var/city/scale-s0.002", help="a generated city")
    ap.add_argument("--multiples", default="1,2,4")
    args = ap.parse_args()
    if not (args.city / "truth/persons.parquet").is_file():
        sys.exit(
            f"error: {args.city} is not a generated city (riskmap generate --scale 0.002 --out {args.city})"
        )
    from risk.link.probabilistic import MAX_BLOCK, _keys, candidates, prepare, provinces_of

    base = city_people(args.city)
    runs: dict[str, dict[int, dict]] = {"by-province": {}, "national-names": {}}
    for m in (int(x) for x in args.multiples.split(",")):
        people = country_people(base, m)
        for mode in runs:
            frame = people if mode == "by-province" else people.assign(province="")
            a = prepare(frame)
            t = time.perf_counter()
            rec, _ = candidates(a, a)
            secs = time.perf_counter() - t
            scoped = len(provinces_of(a)) > 1
            dropped = {}
            for k, v in _keys(a, scoped).items():
                sizes = pd.Series(v[v != ""]).value_counts()
                dropped[k] = int((sizes > MAX_BLOCK).sum())
            per = np.bincount(rec, minlength=len(people))
            r = runs[mode][m] = {
                "records": len(people),
                "pairs": len(rec),
                "pairs_per_record": round(len(rec) / len(people), 2),
                "max_candidates_of_a_record": int(per.max()),
                "seconds": round(secs, 2),
                "keys_dropped_as_too_common": {k: v for k, v in dropped.items() if v},
                "load": load(),
            }
            print(
                f"{m}× {mode}: {r['records']} records, {r['pairs']} candidate pairs ({r['pairs_per_record']} "
                f"per record, at most {r['max_candidates_of_a_record']}), {secs:.1f} s, too-common keys "
                f"{r['keys_dropped_as_too_common']} [load {r['load']}]",
                flush=True,
            )
    ratios: dict[str, dict] = {}
    for mode, by_m in runs.items():
        base_m = min(by_m)
        for m, r in by_m.items():
            if m == base_m:
                continue
            pr = r["pairs"] / by_m[base_m]["pairs"]
            ratios.setdefault(mode, {})[f"{m}x"] = {
                "pairs_ratio": round(pr, 3),
                "records_ratio": r["records"] / by_m[base_m]["records"],
                "time_ratio": round(r["seconds"] / max(by_m[base_m]["seconds"], 1e-9), 3),
            }
            print(f"{mode} {m}×/{base_m}×: pairs ×{pr:.2f} for records ×{m / base_m:g}", flush=True)
    out = {"max_block": MAX_BLOCK, "runs": {k: {f"{m}x": r for m, r in v.items()} for k, v in runs.items()}}
    print(json.dumps({**out, "ratios": ratios}))


if __name__ == "__main__":
    main()
