"""Quarantined rows are corrected and re-submitted through an export; the HTTP batch endpoint respects
capture scopes. (Killing an ingest mid-write: tests/trust/test_faults.py, on both backends.)"""

from __future__ import annotations

from pathlib import Path

import httpx

from risk.store.embedded import EmbeddedStore

FIXABLE = {"date_impossible", "date_future", "missing_required"}


def test_corrections_roundtrip(city_copy, tmp_path: Path) -> None:
    from risk.ingest.corrections import export_quarantine, quarantine_frame
    from risk.ingest.pipeline import Ingestor
    from risk.ingest.quality import open_quarantine, quality_report
    from risk.ingest.sources import get_source

    store = EmbeddedStore(city_copy.store_dir)
    # the source whose quarantine holds the most rows a site can fix (a bad event date, a missing name)
    best = None
    for src in sorted({b.source for b in store.list_batches()} - {"ho-khau"}):
        if get_source(src).format != "csv":  # the corrected file goes back as CSV
            continue
        frame = quarantine_frame(store, src)
        if not len(frame):
            continue
        only = frame["Reasons"].map(lambda r: set(str(r).split(";")) <= FIXABLE)
        if best is None or only.sum() > best[2].sum():
            best = (src, frame, only)
    assert best is not None and best[2].sum() > 0
    src, frame, only = best
    mapping = get_source(src)
    before = open_quarantine(store, source=src)
    assert {"Mã lô gốc", "Dòng gốc", "Lý do cách ly"} <= set(frame.columns)
    xlsx = tmp_path / "q.xlsx"
    assert export_quarantine(store, src, xlsx) == len(before)
    fixed = frame[only].copy()
    date_col = next(h for h in mapping.fields["event_date"] if h in fixed.columns)
    name_col = next(h for h in mapping.fields["full_name"] if h in fixed.columns)
    fixed[date_col] = "15/09/2021"
    fixed.loc[fixed[name_col] == "", name_col] = "Nguyễn Văn Sửa"
    path = tmp_path / "corrections-2021-W38.csv"
    body = fixed.drop(columns=["Tệp gốc", "Reasons", "Lý do cách ly"]).to_csv(
        index=False, sep=";" if src == "ca-benh" else ","
    )
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    r = Ingestor(store, latest=city_copy.latest).ingest(path, src)
    assert r.new and r.batch.balanced
    assert r.batch.accepted + r.batch.corrected == len(fixed), r.batch.report["quarantine_reasons"]
    res = store.read_table("quarantine_resolutions")
    assert len(res) == len(fixed) and (res["resolved_batch_id"] == r.batch.batch_id).all()
    assert (res["status"] == "resolved").all()
    after = open_quarantine(store, source=src)
    assert len(after) == len(before) - len(fixed)
    rep = quality_report(store, source=src)["sources"][0]
    assert rep["open_quarantine"] == len(after) and rep["balanced"]


def test_http_batch_ingest_respects_capture_scope(city_copy, live_server, tmp_path: Path) -> None:
    from api.app import create_app
    from api.security import Principal, authenticate

    app = create_app(store=EmbeddedStore(city_copy.store_dir))
    steward = Principal(
        "station-26740",
        frozenset({"data_steward"}),
        capture_units=frozenset({"hcmc-2025:26740"}),
        via="key:test",
    )
    app.dependency_overrides[authenticate] = lambda: steward
    f = next((city_copy.city / "feeds" / "tiem-chung-tyt").glob("*.csv"))
    lines = f.read_text(encoding="utf-8").splitlines()
    # the same week re-numbered (new row numbers, so new rows): both wards' people are in it
    body = "\n".join([lines[0]] + ["9" + ln for ln in lines[1:] if ln[:1].isdigit()]).encode() + b"\n"
    with live_server(app) as srv:
        r = httpx.post(
            f"{srv.url}/v1/ingest/tiem-chung-tyt",
            params={"filename": "http-" + f.name},
            content=body,
            timeout=300,
        )
        assert r.status_code == 200, r.text
        out = r.json()
        acc = out["account"]
        assert acc["rows_in"] == acc["accepted"] + acc["corrected"] + acc["quarantined"] + acc["duplicates"]
        reasons = {x["code"] for x in out["report"]["quarantine_reasons"]}
        store = EmbeddedStore(city_copy.store_dir)
        q = store.read_table("quarantine", filters=[("batch_id", "=", acc["batch_id"])])
        outside = q[q["reasons"].str.contains("outside_capture_scope")]
        assert (outside["ward_id"] != "hcmc-2025:26740").all()
        recs = store.read_table("records", filters=[("batch_id", "=", acc["batch_id"])])
        assert recs["ward_id"].isin(["hcmc-2025:26740"]).all() or recs["ward_id"].isna().any()
        assert "outside_capture_scope" in reasons or recs["ward_id"].eq("hcmc-2025:26740").all()
        b = httpx.get(f"{srv.url}/v1/ingest/batches/{acc['batch_id']}", timeout=60)
        assert b.status_code == 200 and b.json()["batch_id"] == acc["batch_id"]
        app.dependency_overrides.clear()
        r = httpx.post(
            f"{srv.url}/v1/ingest/tiem-chung-tyt", params={"filename": "x.csv"}, content=body, timeout=60
        )
        assert r.status_code == 401
        viewer = Principal("leader", frozenset({"ward_leader"}), via="key:test")
        app.dependency_overrides[authenticate] = lambda: viewer
        r = httpx.post(
            f"{srv.url}/v1/ingest/tiem-chung-tyt", params={"filename": "x.csv"}, content=body, timeout=60
        )
        assert r.status_code == 403
