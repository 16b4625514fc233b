"""Benchmark the geocoder and point-in-ward assignment on a generated city, against baselines run alongside.

    python benchmarks/geocode.py --scale 0.05            # generates var/city/s0.05-seed42 if missing
    python benchmarks/geocode.py --city var/city/demo --points 4500000

Figures:
* geocoder throughput over every address of every feed file (rows/s and distinct addresses/s, wall and CPU),
  beside the baseline of an exact lookup of the folded full address (what a registry join without parsing
  does);
* accuracy per address error kind from the generator's ground truth (`truth/rows.parquet`): share placed
  on the true address point, in the true ward, in a wrong ward, and exact-tier precision; the same for the
  baseline;
* old geography: rows written with 2021–2024 ward and district names, split by whether that old ward went
  whole into one 2025 ward or was split (then: placed right by the registry, flagged, or placed wrong), and
  the share of whole-merged old wards whose name and district alone resolve to the right ward;
* point-in-ward for N points: `geo.h3wards.WardLocator` vs a plain `geopandas.sjoin`, same points, same run.

The last line printed is a JSON object of all figures.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.gazetteer import load_crosswalk, load_gazetteer
from geo.geocode import Geocoder, prepare_registry
from geo.h3wards import WardLocator
from geo.vntext import fold, map_unique

ADDRESS_HEADERS = ("địa chỉ", "dia_chi")
DATE_HEADERS = ("ngày tiêm", "ngay_tiem", "ngày lấy mẫu", "ngày test", "ngày báo cáo", "ngay_tiep_xuc")


def cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def ensure_city(args: argparse.Namespace) -> Path:
    if args.city:
        return Path(args.city)
    out = Path("var/city") / f"s{args.scale:g}-seed{args.seed}"
    if (out / "manifest.json").exists():
        return out
    from risk.synth import SynthConfig, generate

    print(f"generating the city at scale {args.scale} into {out} …", flush=True)
    t = time.time()
    generate(SynthConfig(scale=args.scale, seed=args.seed, out=out, workers=args.workers))
    print(f"  generated in {time.time() - t:.0f} s", flush=True)
    return out


def _read_feed(path: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A feed file's rows as text with their 1-based row numbers (rows that cannot be read are left out)."""
    from risk.ingest.readers import read_rows

    raw = read_rows(path)
    if len(raw.data.columns) == 1 and ";" in raw.data.columns[0]:
        # a semicolon-separated CSV (the reader expects commas): split it here
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
        header = next(csv.reader(lines[:1], delimiter=";"))
        keep = []
        for k, line in enumerate(lines[1:], start=1):
            try:
                row = next(csv.reader([line], delimiter=";"))
            except (csv.Error, StopIteration):
                continue  # a broken row (the generator's `unparseable`): left out, as ingest quarantines it
            if len(row) == len(header):
                keep.append((k, row))
        return pd.DataFrame([r for _, r in keep], columns=header), np.array([k for k, _ in keep])
    return raw.data, raw.row_numbers


def read_feeds(city: Path) -> pd.DataFrame:
    """Every feed row's address and event date, with the truth of the row (point, error codes)."""
    frames = []
    for path in sorted(glob.glob(str(city / "feeds" / "*" / "*"))):
        data, rn = _read_feed(path)
        cols = {c.lower(): c for c in data.columns}
        acol = next((cols[c] for c in cols if c.startswith(ADDRESS_HEADERS)), None)
        if acol is None:
            continue
        dcol = next((cols[c] for c in cols if c.startswith(DATE_HEADERS)), None)
        frames.append(
            pd.DataFrame(
                {
                    "source": Path(path).parent.name,
                    "file": Path(path).name,
                    "row_number": rn,
                    "text": data[acol].to_numpy(dtype=object),
                    "date": data[dcol].to_numpy(dtype=object) if dcol else None,
                }
            )
        )
    feed = pd.concat(frames, ignore_index=True)
    truth = pd.read_parquet(
        city / "truth" / "rows.parquet", columns=["source", "file", "row_number", "point_id", "errors"]
    )
    feed = feed.merge(truth, on=["source", "file", "row_number"], how="left", validate="one_to_one")
    feed["date"] = pd.to_datetime(feed["date"], dayfirst=True, errors="coerce", format="mixed")
    return feed


def accuracy(feed: pd.DataFrame, point: pd.Series, ward: pd.Series, tier: pd.Series) -> dict:
    """Per address error kind (rows with none: `clean`; `all`: every row): placed on the true point / in the
    true ward / in a wrong ward, and exact-tier precision."""
    df = pd.DataFrame(
        {
            "p": (point == feed["point_id"]).fillna(False).astype(bool),
            "w": (ward == feed["true_ward"]).fillna(False).astype(bool),
            "exact": (tier == "exact").to_numpy(),
        }
    )
    df["x"] = ward.notna().to_numpy() & ~df["w"]
    kinds = (
        feed["errors"]
        .fillna("")
        .str.split(";")
        .map(lambda e: [k for k in e if k.startswith("addr_")] or ["clean"])
    )
    groups = [("all", df), *df.assign(kind=kinds.to_numpy()).explode("kind").groupby("kind")]
    out = {}
    for kind, g in groups:
        ex = g[g["exact"]]
        out[kind] = {
            "rows": len(g),
            "true_point": round(float(g["p"].mean()), 5),
            "true_ward": round(float(g["w"].mean()), 5),
            "wrong_ward": round(float(g["x"].mean()), 5),
            "exact_precision": round(float(ex["p"].mean()), 5) if len(ex) else None,
        }
    return out


def old_geography(feed: pd.DataFrame, res: pd.DataFrame, points: pd.DataFrame) -> dict:
    """Rows that use the 2021–2024 ward and district names, by whether that ward was merged whole or split."""
    cw = load_crosswalk("hcmc-2021", "hcmc-2025")
    n_targets = cw.groupby("from_unit_id")["to_unit_id"].nunique()
    old_of_point = points.set_index("point_id")["old_ward_code"]
    sel = feed["errors"].fillna("").str.contains("addr_old_ward")
    old = ("hcmc-2021:" + feed.loc[sel, "point_id"].map(old_of_point).astype(str)).map(n_targets)
    whole = sel.copy()
    whole[sel] = old.to_numpy() == 1
    split = sel & ~whole
    right = (res["ward_id"] == feed["true_ward"]).fillna(False).astype(bool)
    placed = res["ward_id"].notna()
    flagged = res["flags"].str.contains("ambiguous_split|ambiguous_address|ambiguous_ward", regex=True)
    out = {
        "rows_whole": int(whole.sum()),
        "whole_true_ward": round(float(right[whole].mean()), 5) if whole.any() else None,
        "rows_split": int(split.sum()),
        "split_true_ward_by_registry": round(float(right[split].mean()), 5) if split.any() else None,
        "split_flagged_unplaced": round(float((~placed & flagged)[split].mean()), 5) if split.any() else None,
        "split_wrong_ward": round(float((placed & ~right)[split].mean()), 5) if split.any() else None,
    }
    # every whole-merged old ward, by its name and district alone (no registry): resolved to the right ward?
    from geo.resolve import default_resolver

    g = load_gazetteer("hcmc-2021")
    r = default_resolver()
    ok = total = 0
    for uid, w in g.wards.iterrows():
        if n_targets.get(uid) != 1:
            continue
        want = cw.loc[cw["from_unit_id"] == uid, "to_unit_id"].iloc[0]
        d = g.units.loc[w["parent_id"]]
        total += 1
        ok += r.resolve(w["full_name"], d["full_name"], on="2021-08-01").ward_id == want
    out["whole_wards_resolved_by_name"] = round(ok / total, 5)
    out["whole_wards"] = total
    return out


def baseline_exact(feed: pd.DataFrame, points: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The registry join without parsing: the folded full address looked up in the folded registry."""
    reg = points.assign(k=map_unique(points["address"], fold).to_numpy()).drop_duplicates("k").set_index("k")
    keys = map_unique(feed["text"].fillna("").astype(str), fold)
    hit = reg.reindex(keys.to_numpy())
    point = pd.Series(hit["point_id"].to_numpy(), index=feed.index).astype("Int64")
    ward = pd.Series(("hcmc-2025:" + hit["ward_code"]).to_numpy(), index=feed.index)
    tier = pd.Series(np.where(point.notna(), "exact", "unmatched"), index=feed.index)
    return point, ward, tier


def point_in_ward(points: pd.DataFrame, n: int, n_sjoin: int, seed: int) -> dict:
    import geopandas as gpd

    wards = load_gazetteer("hcmc-2025", full_detail=True).wards.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    # households cluster where the address points are; a tenth fall anywhere in the city's box
    k = rng.integers(0, len(points), n)
    lon = points["lon"].to_numpy()[k] + rng.normal(0, 0.002, n)
    lat = points["lat"].to_numpy()[k] + rng.normal(0, 0.002, n)
    far = rng.random(n) < 0.1
    minx, miny, maxx, maxy = wards.total_bounds
    lon[far] = rng.uniform(minx, maxx, far.sum())
    lat[far] = rng.uniform(miny, maxy, far.sum())
    t = time.perf_counter()
    loc = WardLocator(wards)
    build = time.perf_counter() - t
    t = time.perf_counter()
    got = loc.assign(lon, lat)
    assign = time.perf_counter() - t
    m = min(n, n_sjoin)
    t = time.perf_counter()
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon[:m], lat[:m]), crs="EPSG:4326")
    joined = gpd.sjoin(pts, wards[["unit_id", "geometry"]], predicate="within", how="left")
    joined = joined[~joined.index.duplicated()]
    sjoin = time.perf_counter() - t
    want = np.full(m, -1)
    hit = joined["index_right"].notna().to_numpy()
    want[hit] = joined["index_right"].to_numpy()[hit].astype(int)
    return {
        "points": n,
        "locator_build_s": round(build, 2),
        "locator_assign_s": round(assign, 2),
        "locator_total_s": round(build + assign, 2),
        "locator_points_per_s": round(n / assign),
        "boundary_cell_share": round(loc.boundary_share, 4),
        "sjoin_points": m,
        "sjoin_s": round(sjoin, 2),
        "sjoin_points_per_s": round(m / sjoin),
        "speedup_vs_sjoin": round((m / sjoin and (n / (build + assign)) / (m / sjoin)), 1),
        "agreement_with_sjoin": round(float((got[:m] == want).mean()), 6),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scale", type=float, default=0.05, help="generated city scale (default 0.05)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--city", help="an existing city folder (made by the generator) instead of generating one"
    )
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="geocoder processes")
    ap.add_argument("--rows", type=int, default=0, help="geocode only the first N feed rows (0: all)")
    ap.add_argument("--points", type=int, default=4_500_000, help="points for point-in-ward (default 4.5 M)")
    ap.add_argument("--sjoin-points", type=int, default=0, help="points for the sjoin baseline (0: as many)")
    ap.add_argument("--skip-geocode", action="store_true", help="only the point-in-ward part")
    ap.add_argument("--save", help="write every feed row with its result and truth to this Parquet file")
    args = ap.parse_args(argv)
    figures: dict = {
        "scale": args.scale,
        "seed": args.seed,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    city = ensure_city(args)
    figures["city"] = str(city)
    manifest = city / "manifest.json"
    if manifest.exists():
        figures["scale"] = json.loads(manifest.read_text()).get("scale", args.scale)
    points = pd.read_parquet(city / "reference" / "address_points.parquet")
    print(f"city {city}: {len(points):,} address points; load average {figures['load_avg_1m']}", flush=True)

    if not args.skip_geocode:
        feed = read_feeds(city)
        if args.rows:
            feed = feed.head(args.rows).copy()
        feed["true_ward"] = "hcmc-2025:" + feed["point_id"].map(points.set_index("point_id")["ward_code"])
        distinct = int(feed["text"].nunique())
        print(f"feeds: {len(feed):,} rows, {distinct:,} distinct addresses", flush=True)
        t = time.perf_counter()
        registry = prepare_registry(points)
        geocoder = Geocoder(registry, workers=args.workers)
        build = time.perf_counter() - t
        t, c = time.perf_counter(), cpu_seconds()
        res = geocoder.geocode(feed["text"], feed["date"])
        wall, cpu = time.perf_counter() - t, cpu_seconds() - c
        t = time.perf_counter()
        b_point, b_ward, b_tier = baseline_exact(feed, points)
        b_wall = time.perf_counter() - t
        if args.save:
            pd.concat([feed, res.add_prefix("g_")], axis=1).to_parquet(args.save)
        acc = accuracy(feed, res["point_id"], res["ward_id"], res["tier"])
        b_acc = accuracy(feed, b_point, b_ward, b_tier)
        figures["geocode"] = {
            "rows": len(feed),
            "distinct": distinct,
            "build_s": round(build, 2),
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "rows_per_s": round(len(feed) / wall),
            "distinct_per_s": round(distinct / wall),
            "rows_per_cpu_s": round(len(feed) / cpu),
            "tiers": {k: int(v) for k, v in res["tier"].value_counts().items()},
            "accuracy": acc,
            "baseline_exact_fold": {
                "wall_s": round(b_wall, 2),
                "rows_per_s": round(len(feed) / b_wall),
                "accuracy": b_acc,
            },
            "old_geography": old_geography(feed, res, points),
        }
        g = figures["geocode"]
        print(
            f"geocoder: built in {build:.1f} s; {len(feed):,} rows in {wall:.1f} s wall, {cpu:.1f} s CPU "
            f"→ {g['rows_per_s']:,} rows/s ({g['distinct_per_s']:,} distinct/s, {g['rows_per_cpu_s']:,} rows "
            f"per CPU-second); baseline exact join {g['baseline_exact_fold']['rows_per_s']:,} rows/s"
        )
        print("accuracy per address error kind (geocoder | baseline exact join):")
        for kind, a in acc.items():
            b = b_acc.get(kind, {})
            print(
                f"  {kind:20s} rows {a['rows']:>9,}  true point {a['true_point']:.4f} | {b.get('true_point', 0):.4f}"
                f"  true ward {a['true_ward']:.4f} | {b.get('true_ward', 0):.4f}  wrong ward {a['wrong_ward']:.4f}"
                f"  exact precision {a['exact_precision']}"
            )
        print(f"old geography: {g['old_geography']}")
        print(f"tiers: {g['tiers']}", flush=True)

    pw = point_in_ward(points, args.points, args.sjoin_points or args.points, args.seed)
    figures["point_in_ward"] = pw
    print(
        f"point-in-ward, {pw['points']:,} points: locator {pw['locator_total_s']} s (build {pw['locator_build_s']} s"
        f" + assign {pw['locator_assign_s']} s) vs geopandas.sjoin {pw['sjoin_s']} s for {pw['sjoin_points']:,}"
        f" points → {pw['speedup_vs_sjoin']}× faster; agreement {pw['agreement_with_sjoin']}"
    )
    print(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
