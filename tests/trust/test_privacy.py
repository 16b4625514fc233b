"""Privacy helpers and retention: masking, opaque ids, pseudonymising or deleting old personal records."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from api import audit
from risk.privacy import RECORD_PERSONAL, apply_retention, mask_id, mask_phone, opaque_id, resolve_id
from risk.store.embedded import EmbeddedStore
from tests.trust.trustcity import TrustCity


def test_masks() -> None:
    phones = pd.Series(["0903123456", None, "", "12", "02838123456"], dtype=object)
    assert mask_phone(phones).tolist()[0] == "090****456"
    assert mask_phone(phones).tolist()[3:] == ["**", "028*****456"]
    assert pd.isna(mask_phone(phones).tolist()[1]) and mask_phone(phones).tolist()[2] == ""
    ids = pd.Series(["079190001234", "023456789"], dtype=object)
    assert mask_id(ids).tolist() == ["*********234", "******789"]


def test_opaque_ids_round_trip_and_reject_forgeries() -> None:
    key = "ab" * 32
    tokens = opaque_id([1, 2, 3, 1 << 40], key=key)
    assert len(set(tokens)) == 4 and all(t.startswith("h_") and len(t) == 34 for t in tokens)
    assert [resolve_id(t, key=key) for t in tokens] == [1, 2, 3, 1 << 40]
    assert opaque_id(1, key=key) == tokens[0]  # stable
    assert "1" not in tokens[0][2:6] or tokens[0] != "h_" + "0" * 31 + "1"
    assert resolve_id(tokens[0], key="cd" * 32) is None  # another key
    assert resolve_id(tokens[0], kind="p", key=key) is None  # another kind
    assert resolve_id("h_" + "f" * 32, key=key) is None
    for junk in ("", "h_", "h_zz", "1", "h_" + "0" * 33, None):
        assert resolve_id(junk, key=key) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="64 hex"):
        opaque_id(1, key="short")


def _copy(trust_city: TrustCity, tmp_path: Path) -> EmbeddedStore:
    shutil.copytree(trust_city.store.path, tmp_path / "store")
    return EmbeddedStore(tmp_path / "store")


def test_retention_pseudonymises_old_records_only(trust_city: TrustCity, tmp_path: Path) -> None:
    store = _copy(trust_city, tmp_path)
    before = store.read_table("records")
    # doses of 1 Aug and 1 Sep; cases of 20-21 Oct 2021: keep 60 days from 2021-10-25 → cutoff 26 Aug
    dry = apply_retention(store, 60, "pseudonymise", today=dt.date(2021, 10, 25), dry_run=True)
    result = apply_retention(store, 60, "pseudonymise", today=dt.date(2021, 10, 25))
    assert result.cutoff == dt.date(2021, 8, 26) and dry.records == result.records
    after = store.read_table("records").set_index("record_id").loc[before["record_id"]]
    old = (before["kind"] != "registry").to_numpy() & (before["event_date"] < "2021-08-26").to_numpy()
    assert result.records == int(old.sum()) > 0
    for c in RECORD_PERSONAL:
        assert after.loc[old, c].isna().all(), c
    kept = ~old & before[list(RECORD_PERSONAL)].notna().any(axis=1).to_numpy()
    assert after.loc[kept, "id_number"].notna().sum() == before.loc[kept, "id_number"].notna().sum()
    assert (
        after["event_date"].fillna(pd.Timestamp(0))
        == before.set_index("record_id").loc[after.index, "event_date"].fillna(pd.Timestamp(0))
    ).all()
    assert store.count("records") == len(before)  # pseudonymised, not deleted
    again = apply_retention(store, 60, "pseudonymise", today=dt.date(2021, 10, 25))
    assert again.records == result.records  # harmless to repeat
    assert (
        store.read_table("records")[list(RECORD_PERSONAL)].notna().sum().sum()
        == after[list(RECORD_PERSONAL)].notna().sum().sum()
    )


def test_retention_delete_removes_records_and_their_links(trust_city: TrustCity, tmp_path: Path) -> None:
    store = _copy(trust_city, tmp_path)
    n_rec, n_links = store.count("records"), store.count("links")
    r = apply_retention(store, 60, "delete", today=dt.date(2021, 10, 25))
    assert r.records > 0 and r.links == r.records  # every old dose was linked
    assert store.count("records") == n_rec - r.records and store.count("links") == n_links - r.links
    assert store.count("records", filters=[("kind", "=", "dose"), ("event_date", "<", "2021-08-26")]) == 0


def test_retention_command_is_audited(trust_city: TrustCity, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    store = _copy(trust_city, tmp_path)
    head = store.audit_head()[0]
    env = {"RISKMAP_STORE_BACKEND": "embedded", "RISKMAP_STORE_PATH": str(tmp_path / "store")}
    r = CliRunner().invoke(app, ["retention", "run", "--days", "60", "--today", "2021-10-25"], env=env)
    assert r.exit_code == 0, r.output
    assert "pseudonymised" in r.output
    entry = audit.query(store, action="retention.run")
    assert len(entry) == 1 and int(entry["seq"].iloc[0]) == head + 1
    bad = CliRunner().invoke(app, ["retention", "run", "--mode", "shred"], env=env)
    assert bad.exit_code == 2 and "pseudonymise or delete" in bad.output and "Traceback" not in bad.output
