"""Cleaning and linkage quality against the synthetic city's ground truth.

    python benchmarks/linkage.py --scale 0.05            # generate (if missing), ingest, link, score
    python benchmarks/linkage.py --city var/city/s0.05 --store var/bench/linkage-store --reuse

Prints, against `truth/rows.parquet` and the truth tables:
* pairwise linkage precision and recall over accepted records (registry and events), with the share of
  event records linked, sent to review and put in new persons;
* doses per true person recovered exactly (all of a person's doses under one linked person, duplicates
  merged, nothing of anybody else);
* bad rows of the truth: quarantined, dropped as exact duplicates, or silently accepted (must be 0);
  good rows quarantined (share, must be ≤ 0.5 %), and why;
* swapped day/month birth dates and typo'd CCCDs: corrected through the link, flagged, or silently
  wrong; addresses placed on the true point.
Baseline in the same run: the deterministic ID-only linkage (exact consistent CCCD to a registry person),
what riskmap did before probabilistic linkage. The last line is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pairs(groups: pd.Series) -> int:
    n = groups.value_counts().to_numpy(dtype=np.int64)
    return int((n * (n - 1) // 2).sum())


def pairwise(pred: pd.Series, true: pd.Series) -> tuple[float, float, int, int]:
    both = pred.astype(str) + "|" + true.astype(str)
    tp = pairs(both)
    pp, tt = pairs(pred), pairs(true)
    return tp / max(pp, 1), tp / max(tt, 1), pp, tt


def load_status(store, truth: pd.DataFrame) -> pd.DataFrame:
    """Truth rows with what riskmap did to each: accepted (record_id), quarantined, or dropped."""
    batches = pd.DataFrame(
        [{"batch_id": b.batch_id, "file": b.file_name, "source": b.source} for b in store.list_batches()]
    )
    rec = store.read_table(
        "records",
        columns=[
            "record_id",
            "batch_id",
            "row_number",
            "kind",
            "birth_date",
            "birth_precision",
            "id_number",
            "event_date",
            "corrections",
            "point_id",
        ],
    ).merge(batches, on="batch_id")
    q = store.read_table("quarantine", columns=["batch_id", "row_number", "reasons"]).merge(
        batches, on="batch_id"
    )
    key = ["source", "file", "row_number"]
    t = truth.merge(rec.drop(columns=["batch_id"]), on=key, how="left", suffixes=("", "_rec"))
    t = t.merge(q[[*key, "reasons"]], on=key, how="left")
    t["status"] = np.where(
        t["record_id"].notna(), "accepted", np.where(t["reasons"].notna(), "quarantined", "dropped")
    )
    return t


# A bad row of the truth may be accepted only with its bad value gone and the record on its true person:
# the reason code that says what was done, the value not carried, and linked where the person's other
# records are. Anything else accepted counts as silently accepted.
FIX_CODE = {
    "dob_impossible": "dob_dropped",
    "formula": "formula_identity_dropped",
    "missing_required": "name_missing",
    "unparseable": "row_repaired",
}
# the truth's event date of each kind (a rebuilt row must carry it)
EVENT_DATE = {
    "doses": ("dose", "dose_id", "dose_date"),
    "tests": ("test", "test_id", "sample_date"),
    "cases": ("case", "case_id", "report_date"),
    "contacts": ("contact", "contact_id", "quarantine_start"),
}


def truth_event_dates(city: Path, t: pd.DataFrame) -> pd.Series:
    """The true event date of each truth row (NaT for registry rows)."""
    out = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns]")
    for table, (kind, id_col, date_col) in EVENT_DATE.items():
        d = pd.read_parquet(city / "truth" / f"{table}.parquet", columns=[id_col, date_col])
        m = (t["kind"] == kind).to_numpy()
        out[m] = pd.to_datetime(t.loc[m, "event_id"].map(d.set_index(id_col)[date_col])).to_numpy()
    return out


def corrected_correctly(t: pd.DataFrame, links: pd.DataFrame, true_date: pd.Series) -> np.ndarray:
    """Per truth row: accepted with its bad value removed (see FIX_CODE) and linked to its true person;
    a rebuilt row also with the true event date."""
    acc = t["status"].to_numpy(dtype=object) == "accepted"
    pred = t["record_id"].map(links.drop_duplicates("record_id").set_index("record_id")["person_id"])
    # the predicted person holding most of each true person's accepted records
    home = (
        pd.DataFrame({"true": t["person_id"], "pred": pred})[acc & pred.notna().to_numpy()]
        .groupby(["true", "pred"])
        .size()
        .reset_index(name="n")
        .sort_values(["true", "n"], ascending=[True, False])
        .drop_duplicates("true")
        .set_index("true")["pred"]
    )
    on_home = (pred == t["person_id"].map(home)).fillna(False).to_numpy(dtype=bool)
    corr = t["corrections"].fillna("").astype(str)
    reason = t["bad_reason"].fillna("").astype(str)
    code = reason.map(FIX_CODE).fillna("~none~")
    has_code = np.array([c in s.split(";") for c, s in zip(code, corr, strict=True)], dtype=bool)
    value_gone = np.where(
        (reason == "dob_impossible").to_numpy(), t["birth_date"].isna().to_numpy(), True
    ).astype(bool)
    rebuilt = (reason == "unparseable").to_numpy()
    date_ok = ~rebuilt | (
        (t["kind"] == "registry").to_numpy()
        | (pd.to_datetime(t["event_date"]).dt.normalize() == true_date).fillna(False).to_numpy(dtype=bool)
    )
    return acc & on_home & has_code & value_gone & date_ok


def score(store, city: Path) -> dict:
    truth = pd.read_parquet(city / "truth" / "rows.parquet")
    tp = pd.read_parquet(city / "truth" / "persons.parquet", columns=["person_id", "birth_date", "cccd"])
    tdoses = pd.read_parquet(city / "truth" / "doses.parquet", columns=["dose_id", "person_id"])
    t = load_status(store, truth)
    links = store.read_table("links", columns=["record_id", "person_id", "method", "same_as", "flags"])
    persons = store.read_table("persons", columns=["person_id", "birth_date", "id_number"])
    review = store.read_table("link_reviews", columns=["record_id"])
    out: dict = {}
    n_rows = len(t)
    bad = t["bad"].to_numpy(bool)
    dup_truth = t["errors"].str.contains("duplicate_exact").to_numpy(bool) & (t["duplicate_of"] != "")
    st = t["status"].to_numpy(dtype=object)
    out["rows"] = n_rows
    out["bad_rows"] = int(bad.sum())
    out["bad_quarantined"] = int((bad & (st == "quarantined")).sum())
    out["bad_dropped_as_duplicates"] = int((bad & (st == "dropped")).sum())
    fixed = corrected_correctly(t, links, truth_event_dates(city, t))
    # accepted with the bad value dropped and flagged, but linked to nobody: waiting on the review list
    # (kept aside for a person to decide, like quarantine; not used by any count)
    held = (
        t["record_id"].isin(review["record_id"]).to_numpy(dtype=bool)
        & ~t["record_id"].isin(links["record_id"]).to_numpy(dtype=bool)
        & ~fixed
    )
    out["bad_corrected_correctly"] = int((bad & (st == "accepted") & fixed).sum())
    out["bad_held_for_review"] = int((bad & (st == "accepted") & held).sum())
    out["bad_silently_accepted"] = int((bad & (st == "accepted") & ~fixed & ~held).sum())
    good = ~bad & ~dup_truth
    gq = good & (st == "quarantined")
    out["good_rows"] = int(good.sum())
    out["good_quarantined"] = int(gq.sum())
    out["good_quarantined_share"] = round(float(gq.sum() / max(good.sum(), 1)), 5)
    out["good_quarantined_by_reason"] = t.loc[gq, "reasons"].value_counts().head(10).to_dict()
    out["good_quarantined_by_truth_error"] = (
        t.loc[gq, "errors"].str.split(";").explode().value_counts().head(10).to_dict()
    )
    out["exact_duplicates_dropped"] = int((dup_truth & (st == "dropped")).sum())
    out["exact_duplicates_truth"] = int(dup_truth.sum())
    out["good_dropped_not_duplicates"] = int((good & (st == "dropped")).sum())
    out["bad_corrected_by_reason"] = (
        t.loc[bad & (st == "accepted") & fixed, "bad_reason"].value_counts().to_dict()
    )
    out["bad_accepted_by_reason"] = (
        t.loc[bad & (st == "accepted") & ~fixed & ~held, "bad_reason"].value_counts().to_dict()
    )

    acc = t[st == "accepted"].merge(links, on="record_id", how="left")
    pred = (
        acc["person_id_y"]
        .astype("Int64")
        .astype("string")
        .fillna("r" + acc["record_id"].astype("Int64").astype(str))
    )
    p, r, pp, tt = pairwise(pred, acc["person_id_x"])
    out["pairwise_precision"] = round(p, 5)
    out["pairwise_recall"] = round(r, 5)
    out["pairs_predicted"] = pp
    out["pairs_true"] = tt
    ev = acc[acc["kind_x"] != "registry"] if "kind_x" in acc else acc[acc["kind"] != "registry"]
    out["event_records"] = len(ev)
    out["event_linked_share"] = round(float(ev["person_id_y"].notna().mean()), 5)
    out["event_review"] = int(ev["record_id"].isin(review["record_id"]).sum())
    out["by_method"] = ev["method"].fillna("unlinked").value_counts().to_dict()

    # doses per true person
    d = acc[(acc["kind_x"] if "kind_x" in acc else acc["kind"]) == "dose"]
    d = d.assign(true_person=d["person_id_x"], pred=d["person_id_y"], dose=d["event_id"])
    true_n = tdoses.groupby("person_id").size()
    got_dose = d.groupby("true_person")["dose"].nunique()
    preds = d.groupby("true_person")["pred"].agg(lambda s: s.nunique(dropna=False) if s.notna().all() else -1)
    one_pred = d.dropna(subset=["pred"]).groupby("true_person")["pred"].first()
    pred_all = links.merge(
        store.read_table("records", columns=["record_id", "kind"], filters=[("kind", "=", "dose")]),
        on="record_id",
    )
    pred_distinct = pred_all[pred_all["same_as"].isna()].groupby("person_id").size()
    pred_owner = d.groupby("pred")["true_person"].nunique()
    people = true_n.index
    ok = (
        (preds.reindex(people) == 1)
        & (one_pred.reindex(people).map(pred_distinct).to_numpy() == true_n.to_numpy())
        & (one_pred.reindex(people).map(pred_owner).to_numpy() == 1)
    )
    complete = got_dose.reindex(people).fillna(0).to_numpy() == true_n.to_numpy()
    out["dose_persons"] = len(people)
    out["doses_exact_share"] = round(float(ok.mean()), 5)
    out["doses_exact_share_where_rows_usable"] = round(float(ok[complete].mean()), 5)
    out["dose_persons_with_a_quarantined_dose"] = int((~complete).sum())

    # swapped birth dates and typo'd IDs
    acc_t = acc.merge(
        tp.rename(columns={"person_id": "person_id_x", "birth_date": "true_dob"}),
        on="person_id_x",
        how="left",
    )
    acc_t = acc_t.merge(
        persons.rename(
            columns={"person_id": "person_id_y", "birth_date": "person_dob", "id_number": "person_id_number"}
        ),
        on="person_id_y",
        how="left",
    )
    flags = acc_t["flags"].fillna("").astype(str) + ";" + acc_t["corrections"].fillna("").astype(str)
    for code, fixed, flagged in (
        (
            "dob_day_month_swapped",
            pd.to_datetime(acc_t["person_dob"]) == pd.to_datetime(acc_t["true_dob"]),
            flags.str.contains("dob_swapped|dob_conflict|dob_ambiguous"),
        ),
        (
            "id_typo",
            (acc_t["person_id_number"].fillna("").astype(str) == acc_t["cccd"].fillna("").astype(str))
            & (acc_t["cccd"].fillna("").astype(str) != ""),
            flags.str.contains("id_typo|id_conflict|id_inconsistent"),
        ),
    ):
        m = acc_t["errors"].str.contains(code).to_numpy(bool)
        fx = fixed.to_numpy(bool) & m
        fl = flagged.to_numpy(bool) & m & ~fx
        out[f"{code}_accepted"] = int(m.sum())
        out[f"{code}_corrected"] = int(fx.sum())
        out[f"{code}_flagged"] = int(fl.sum())
        out[f"{code}_silent"] = int((m & ~fx & ~fl).sum())
    placed = acc["point_id_rec"] if "point_id_rec" in acc else acc["point_id"]
    tp_ = acc["point_id_x"] if "point_id_x" in acc else acc["point_id"]
    out["address_on_true_point"] = round(
        float((placed.astype("Int64") == tp_.astype("Int64")).fillna(False).mean()), 5
    )
    return out


def baseline_id_only(store, city: Path) -> dict:
    """The ID-only deterministic linkage in the same run (records → registry person by exact CCCD)."""
    truth = pd.read_parquet(city / "truth" / "rows.parquet")
    t = load_status(store, truth)
    acc = t[t["status"] == "accepted"]
    reg = acc[acc["kind"] == "registry"]
    reg_key = (
        reg[reg["id_number"].fillna("") != ""]
        .drop_duplicates("id_number")
        .set_index("id_number")["record_id"]
    )
    pred = acc["id_number"].map(reg_key)
    pred = pred.where(acc["id_number"].fillna("") != "")
    pred = pred.fillna(acc["record_id"]).astype(np.int64)
    pred = np.where(acc["kind"] == "registry", acc["record_id"], pred)
    p, r, _, _ = pairwise(pd.Series(np.asarray(pred)), acc["person_id"].reset_index(drop=True))
    return {"pairwise_precision": round(p, 5), "pairwise_recall": round(r, 5)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--city", type=Path, help="city folder (default var/city/s<scale>)")
    ap.add_argument("--store", type=Path, help="embedded store folder (default var/bench/linkage-s<scale>)")
    ap.add_argument("--reuse", action="store_true", help="reuse an ingested store (only relink and score)")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the store and ingest the files not ingested yet (ingest is idempotent by file hash and "
        "atomic per file, so a run stopped part way can go on; its timing figures then cover the last part only)",
    )
    ap.add_argument(
        "--ingest-only", action="store_true", help="stop after the ingest (to run it in parts with --resume)"
    )
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    city = args.city or ROOT / f"var/city/s{args.scale:g}"
    store_dir = args.store or ROOT / f"var/bench/linkage-s{args.scale:g}"
    if not (city / "manifest.json").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "api.cli",
                "generate",
                "--scale",
                str(args.scale),
                "--seed",
                str(args.seed),
                "--out",
                str(city),
                "--workers",
                str(args.workers),
            ],
            check=True,
            cwd=ROOT,
        )
    from api.cli.ingest import collect, compact
    from risk.ingest.pipeline import Ingestor
    from risk.ingest.place import RegistryPlacer
    from risk.link import relink
    from risk.reference import load_reference
    from risk.store.embedded import EmbeddedStore

    manifest = json.loads((city / "manifest.json").read_text())
    end = dt.date.fromisoformat(manifest.get("end") or manifest.get("config", {}).get("end") or "2021-11-30")
    # the feeds are as of the end of the last ISO week the city reaches (weekly files bound their own dates)
    end += dt.timedelta(days=7)
    figures: dict = {"load": os.getloadavg()[0]}
    if not args.reuse and not args.resume and store_dir.exists():
        import shutil

        shutil.rmtree(store_dir)
    store = EmbeddedStore(store_dir)
    t0 = time.perf_counter()
    if args.resume or not args.reuse or not store.list_batches():
        if not store.list_batches():
            load_reference(store, city)
        files = collect([city / "feeds"], None)
        session = Ingestor(store, latest=end)
        rows = 0
        placer_ready = False
        for f, sid in files:
            if not placer_ready and sid != "ho-khau":
                session.placer = RegistryPlacer.from_store(store, workers=args.workers)
                placer_ready = True
            elif session.placer is None:
                session.placer = RegistryPlacer.from_store(store, workers=args.workers)
            r = session.ingest(f, sid)
            rows += r.batch.rows_in
        compact(store)
        figures["ingest_seconds"] = round(time.perf_counter() - t0, 1)
        figures["ingest_rows"] = rows
        figures["ingest_rows_per_s"] = round(rows / (time.perf_counter() - t0))
        if args.ingest_only:
            print(json.dumps(figures, default=str))
            return
    t1 = time.perf_counter()
    res = relink(store)
    figures["link_seconds"] = round(time.perf_counter() - t1, 1)
    figures["link_summary"] = res.summary()
    figures.update(score(store, city))
    figures["baseline_id_only"] = baseline_id_only(store, city)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    figures["load_after"] = os.getloadavg()[0]
    b = figures["baseline_id_only"]
    print(
        f"city {city} ({manifest.get('config', {}).get('scale', args.scale)}), load {figures['load']:.1f} → {figures['load_after']:.1f}"
    )
    print(res.summary())
    print(
        f"pairwise precision {figures['pairwise_precision']:.4f} (target ≥ 0.995; ID-only baseline {b['pairwise_precision']:.4f}), "
        f"recall {figures['pairwise_recall']:.4f} (target ≥ 0.98; baseline {b['pairwise_recall']:.4f}, ×{figures['pairwise_recall'] / max(b['pairwise_recall'], 1e-9):.2f})"
    )
    print(
        f"doses per true person exact {figures['doses_exact_share']:.4f} (target ≥ 0.99); where every dose has a usable row "
        f"{figures['doses_exact_share_where_rows_usable']:.4f}"
    )
    print(
        f"bad rows {figures['bad_rows']}: quarantined {figures['bad_quarantined']}, exact duplicates of bad rows "
        f"{figures['bad_dropped_as_duplicates']}, corrected correctly (value dropped with its reason code, linked "
        f"to the true person) {figures['bad_corrected_correctly']}, held unlinked on the review list "
        f"{figures['bad_held_for_review']}, silently accepted {figures['bad_silently_accepted']} (target 0)"
    )
    print(
        f"good rows quarantined {figures['good_quarantined']} of {figures['good_rows']} = "
        f"{100 * figures['good_quarantined_share']:.3f} % (target ≤ 0.5 %)"
    )
    for code in ("dob_day_month_swapped", "id_typo"):
        print(
            f"{code}: accepted {figures[f'{code}_accepted']}, corrected through the link {figures[f'{code}_corrected']}, "
            f"flagged {figures[f'{code}_flagged']}, silent {figures[f'{code}_silent']}"
        )
    print(
        f"addresses on the true point {figures['address_on_true_point']:.4f}; peak RSS {figures['peak_rss_mb']} MB"
    )
    print(json.dumps(figures, default=str, ensure_ascii=False))


if __name__ == "__main__":
    main()
