"""Ingest and link 1 M vaccination rows end to end; Splink on the same records beside riskmap's linker.

    python benchmarks/ingest.py --city var/city/s0.05 --rows 1000000
    python benchmarks/ingest.py --city var/city/s0.05 --rows 200000 --no-splink

Takes the city's household registry (the population the doses link to: loaded first and timed apart)
and its dose files (three sources, weekly CSV/XLSX) in date order until `--rows` dose rows, into a fresh
embedded store; then a full relink. Prints rows/s of the dose ingest, of ingest + link (end to end), CPU
seconds (the machine is shared: wall time alone misleads), peak memory of this process and its children,
and the load average. Then Splink 5 (DuckDB) with a straightforward setup — folded first and last
names, birth date, sex, ID, phone and address point, term-frequency adjusted names, u by random
sampling, m by EM over two blocking rules, predictions at 0.999 clustered — on the same cleaned
records, and pairwise precision / recall of both against the generator's truth, side by side.
The last line is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DOSE_SOURCES = ("tiem-chung-hcdc", "tiem-chung-bv", "tiem-chung-tyt")


def cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def peak_mb() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(max(s.ru_maxrss, c.ru_maxrss) / 1024)


def _rows(result: object) -> int:
    if isinstance(result, Exception):  # a rejected file would make the figures meaningless
        raise result
    return result.batch.rows_in  # type: ignore[attr-defined]


def dose_files(city: Path, rows: int) -> list[tuple[Path, str, int]]:
    manifest = json.loads((city / "manifest.json").read_text())
    n_rows = {e["path"]: e["rows"] for e in manifest["files"]}
    files = []
    for src in DOSE_SOURCES:
        for f in sorted((city / "feeds" / src).iterdir()):
            files.append((f, src, n_rows.get(f"feeds/{src}/{f.name}", 0)))
    files.sort(key=lambda x: (x[0].stem, x[1]))  # week by week, as a city would receive them
    out, total = [], 0
    for f in files:
        if total >= rows:
            break
        out.append(f)
        total += f[2]
    return out


def splink_run(records: pd.DataFrame) -> tuple[pd.Series, float, dict]:
    """Cluster ids per record from Splink 5 with a straightforward setup; wall seconds; settings."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    df = pd.DataFrame(
        {
            "unique_id": records["record_id"].astype("int64"),
            "first_name": records["name_key"].str.rsplit(" ", n=1).str[-1],
            "surname": records["name_key"].str.split(" ", n=1).str[0],
            "dob": pd.to_datetime(records["birth_date"])
            .dt.strftime("%Y-%m-%d")
            .where(records["birth_precision"] == "day"),
            "birth_year": records["birth_year"].astype("Int64").astype("string"),
            "sex": records["sex"].replace("", None),
            "id_number": records["id_number"].replace("", None),
            "phone": records["phone"].replace("", None),
            "point_id": records["point_id"].astype("Int64").astype("string"),
        }
    )
    t = time.perf_counter()
    db = DuckDBAPI()
    sdf = db.register(df)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.ExactMatch("first_name").configure(term_frequency_adjustments=True),
            cl.ExactMatch("surname").configure(term_frequency_adjustments=True),
            cl.ExactMatch("dob"),
            cl.ExactMatch("birth_year"),
            cl.ExactMatch("sex"),
            cl.ExactMatch("id_number"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("point_id"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("id_number"),
            block_on("phone", "first_name"),
            block_on("point_id", "first_name"),
            block_on("surname", "first_name", "birth_year"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(sdf, settings, log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_number"), block_on("surname", "first_name", "dob")], recall=0.9
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("surname", "first_name", "birth_year")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id_number"))
    pred = linker.inference.predict(threshold_match_probability=0.999)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pred, threshold_match_probability=0.999
    )
    c = clusters.as_pandas_dataframe()[["unique_id", "cluster_id"]]
    seconds = time.perf_counter() - t
    return c.set_index("unique_id")["cluster_id"].astype(str), seconds, {"threshold": 0.999}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--city", type=Path, default=ROOT / "var/city/s0.05", help="city folder (riskmap generate)"
    )
    ap.add_argument("--rows", type=int, default=1_000_000, help="dose rows to ingest")
    ap.add_argument("--store", type=Path, default=ROOT / "var/bench/ingest-store")
    ap.add_argument("--workers", type=int, default=2, help="processes reading, cleaning and placing files")
    ap.add_argument("--no-splink", action="store_true", help="skip the Splink comparison")
    ap.add_argument(
        "--base-store",
        type=Path,
        help="a store with the reference and the registry loaded (not timed): built there when missing, "
        "then copied for each measured run (keeps a measured run short on a shared machine)",
    )
    args = ap.parse_args()
    import shutil

    from linkage import load_status, pairwise

    from api.cli.ingest import collect, compact
    from risk.ingest.pipeline import Ingestor
    from risk.ingest.place import RegistryPlacer
    from risk.link import relink
    from risk.link.settings import link_settings
    from risk.reference import load_reference
    from risk.store.embedded import EmbeddedStore

    city = args.city
    manifest = json.loads((city / "manifest.json").read_text())
    latest = dt.date.fromisoformat(manifest["end"]) + dt.timedelta(days=7)
    fig: dict = {"load_before": round(os.getloadavg()[0], 1), "city": str(city)}
    shutil.rmtree(args.store, ignore_errors=True)
    if args.base_store and (args.base_store / "catalog.sqlite").exists():
        shutil.copytree(args.base_store, args.store)  # reference and registry, prepared by an earlier run
        store = EmbeddedStore(args.store)
        fig["registry_prepared_apart"] = str(args.base_store)
    else:
        store = EmbeddedStore(args.base_store or args.store)
        load_reference(store, city)
    t = time.perf_counter()
    placer = RegistryPlacer.from_store(store, workers=args.workers)
    fig["setup_seconds"] = round(time.perf_counter() - t, 1)
    session = Ingestor(store, placer=placer, latest=latest)
    t, c = time.perf_counter(), cpu()
    reg_rows = 0
    for r in session.ingest_many(collect([city / "feeds" / "ho-khau"], None), workers=args.workers):
        reg_rows += _rows(r)  # already there (new=False) when the base store was copied
    fig["registry_rows"] = reg_rows
    fig["registry_seconds"] = round(time.perf_counter() - t, 1)
    fig["registry_cpu_seconds"] = round(cpu() - c, 1)
    if args.base_store and "registry_prepared_apart" not in fig:
        print(f"prepared {args.base_store} (reference and registry); run again to measure")
        return
    files = dose_files(city, args.rows)
    t, c = time.perf_counter(), cpu()
    rows = 0
    for r in session.ingest_many([(f, sid) for f, sid, _ in files], workers=args.workers):
        rows += _rows(r)
    compact(store)
    # the ingest session (address indexes, caches, row hashes) is done with: linking needs none of it
    del session, placer
    gc.collect()
    ingest_s, ingest_cpu = time.perf_counter() - t, cpu() - c
    t, c = time.perf_counter(), cpu()
    res = relink(store)
    link_s, link_cpu = time.perf_counter() - t, cpu() - c
    fig.update(
        {
            "dose_files": len(files),
            "dose_rows": rows,
            "ingest_seconds": round(ingest_s, 1),
            "ingest_cpu_seconds": round(ingest_cpu, 1),
            "ingest_rows_per_s": round(rows / ingest_s),
            "link_seconds": round(link_s, 1),
            "link_cpu_seconds": round(link_cpu, 1),
            "link_workers": link_settings().workers,
            "end_to_end_rows_per_s": round(rows / (ingest_s + link_s)),
            "end_to_end_rows_per_cpu_s": round(rows / (ingest_cpu + link_cpu)),
            "peak_mb": peak_mb(),
            "load_after": round(os.getloadavg()[0], 1),
            "link_summary": res.summary(),
        }
    )
    # quality of riskmap's links on these records, against the truth
    truth = pd.read_parquet(
        city / "truth" / "rows.parquet", filters=[("source", "in", ["ho-khau", *DOSE_SOURCES])]
    )
    status = load_status(store, truth)
    acc = status[status["status"] == "accepted"].reset_index(drop=True)
    links = store.read_table("links", columns=["record_id", "person_id"])
    ours = acc["record_id"].map(links.set_index("record_id")["person_id"]).astype("Int64").astype("string")
    ours = ours.fillna("r" + acc["record_id"].astype("Int64").astype(str))
    p, r, _, _ = pairwise(ours, acc["person_id"])
    fig["riskmap"] = {"precision": round(p, 5), "recall": round(r, 5), "seconds": round(link_s, 1)}
    if not args.no_splink:
        recs = store.read_table(
            "records",
            columns=[
                "record_id",
                "name_key",
                "birth_date",
                "birth_precision",
                "birth_year",
                "sex",
                "id_number",
                "phone",
                "point_id",
            ],
        )
        try:
            clusters, sp_s, _ = splink_run(recs)
            theirs = acc["record_id"].astype("int64").map(clusters).fillna("r" + acc["record_id"].astype(str))
            p2, r2, _, _ = pairwise(theirs, acc["person_id"])
            fig["splink"] = {"precision": round(p2, 5), "recall": round(r2, 5), "seconds": round(sp_s, 1)}
        except Exception as exc:  # report, do not hide, a failure of the comparison
            fig["splink"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        # riskmap's peak (`peak_mb`) was taken before Splink ran in this process; this one includes it
        fig["peak_mb_with_splink"] = peak_mb()
    print(f"city {city}: load {fig['load_before']} → {fig['load_after']} (2 cores, shared)")
    print(f"registry {reg_rows} rows in {fig['registry_seconds']} s ({fig['registry_cpu_seconds']} CPU s)")
    print(
        f"doses {rows} rows in {len(files)} files: ingest {fig['ingest_seconds']} s ({fig['ingest_rows_per_s']} rows/s, "
        f"{fig['ingest_cpu_seconds']} CPU s), link {fig['link_seconds']} s ({fig['link_workers']} threads); end to end {fig['end_to_end_rows_per_s']} rows/s "
        f"(target ≥ 10,000), {fig['end_to_end_rows_per_cpu_s']} rows per CPU second; peak {fig['peak_mb']} MB (target ≤ 6,144)"
    )
    rm, sp = fig["riskmap"], fig.get("splink", {})
    print(f"{'linker':<10}{'precision':>11}{'recall':>9}{'seconds':>9}")
    print(f"{'riskmap':<10}{rm['precision']:>11.4f}{rm['recall']:>9.4f}{rm['seconds']:>9.1f}")
    if "precision" in sp:
        print(f"{'splink 5':<10}{sp['precision']:>11.4f}{sp['recall']:>9.4f}{sp['seconds']:>9.1f}")
        print(f"riskmap/splink: speed ×{sp['seconds'] / max(rm['seconds'], 1e-9):.2f}")
        print(f"peak memory with Splink (DuckDB, same process) {fig['peak_mb_with_splink']} MB")
    elif sp:
        print(f"splink: {sp['error']}")
    print(json.dumps(fig, default=str, ensure_ascii=False))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
