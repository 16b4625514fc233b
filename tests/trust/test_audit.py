"""The audit log: what is recorded, who may read it, and that an edited or deleted entry is detected."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api import audit
from risk.store.base import Store
from risk.store.embedded import EmbeddedStore
from risk.store.postgis import PostgisStore
from tests.trust.test_access_matrix import household_router
from tests.trust.trustcity import SAI_GON, TAN_DINH, TrustCity, make_app


def test_logins_household_views_and_refusals_are_recorded(trust_city: TrustCity) -> None:
    app = make_app(trust_city)
    app.include_router(household_router())
    c = trust_city.callers
    before = trust_city.store.audit_head()[0]
    with TestClient(app, raise_server_exceptions=False) as client:
        assert (
            client.get(
                "/test/households", params={"ward_id": SAI_GON}, headers=c["leader_saigon"].headers
            ).status_code
            == 200
        )
        assert (
            client.get("/test/households", params={"ward_id": TAN_DINH}, headers=c["app"].headers).status_code
            == 403
        )
        assert (
            client.get(
                "/healthz", headers={"Authorization": "Bearer rk_000000000000_" + "y" * 43}
            ).status_code
            == 401
        )
        assert client.get("/v1/audit", headers=c["app"].headers).status_code == 403
        assert client.get("/v1/audit").status_code == 401
        app.state.audit.flush()
        r = client.get("/v1/audit", params={"limit": 200}, headers=c["admin"].headers)
        assert r.status_code == 200
        entries = [e for e in r.json()["entries"] if e["seq"] > before]
    by = {(e["action"], e["actor"], e["outcome"]) for e in entries}
    assert ("auth.login", "leader_saigon", "ok") in by
    assert ("household.view", "leader_saigon", "200") in by
    assert ("household.view", "app", "403") in by
    assert ("auth.failed", "anonymous", "denied") in by
    assert ("audit.read", "app", "403") in by and ("audit.read", "public", "401") in by
    view = next(e for e in entries if e["action"] == "household.view" and e["actor"] == "leader_saigon")
    assert view["target"] == f"/test/households?ward_id={SAI_GON.replace(':', '%3A')}"
    assert view["detail"]["via"].startswith("key:") and view["ip"]
    assert audit.verify(trust_city.store).ok


def test_buffered_entries_survive_an_unreachable_store(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s")
    writer = audit.AuditWriter(store)
    real = store.append_audit
    store.append_audit = lambda frame: (_ for _ in ()).throw(RuntimeError("down"))  # type: ignore[method-assign]
    writer.record(actor="a", action="household.view", target="/x")
    writer.record(actor="b", action="export", target="/y")
    assert writer.flush() == 0 and writer.pending == 2
    store.append_audit = real  # type: ignore[method-assign]
    assert writer.flush() == 2 and writer.pending == 0
    assert store.read_table("audit_log").sort_values("seq")["actor"].tolist() == ["a", "b"]


def _seed(store: Store) -> None:
    for i in range(6):
        audit.append(store, f"user{i}", "key.create", f"k{i}", detail={"i": i})
    assert audit.verify(store).ok


def _cli_verify(path: Path):
    """`riskmap audit verify` on an embedded store, in this process (typer's runner)."""
    from typer.testing import CliRunner

    from api.cli import app

    env = {"RISKMAP_STORE_BACKEND": "embedded", "RISKMAP_STORE_PATH": str(path)}
    return CliRunner().invoke(app, ["audit", "verify"], env=env)


def test_tampering_is_detected_on_the_embedded_store(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    _seed(store)
    assert _cli_verify(tmp_path / "store").exit_code == 0
    log = store.read_table("audit_log").sort_values("seq").reset_index(drop=True)

    edited = log.copy()
    edited.loc[2, "actor"] = "innocent"
    store.write_tables({"audit_log": edited}, mode="replace")
    v = audit.verify(store)
    assert not v.ok and any("entry 3: content changed" in p for p in v.problems)
    r = _cli_verify(tmp_path / "store")
    assert r.exit_code == 1 and "entry 3" in r.output and "Traceback" not in r.output

    store.write_tables({"audit_log": log.drop(index=3)}, mode="replace")
    v = audit.verify(store)
    assert not v.ok and any("entry 4 is missing" in p for p in v.problems)

    store.write_tables({"audit_log": log.iloc[:-1]}, mode="replace")  # the tail: only the head knows
    v = audit.verify(store)
    assert not v.ok and any("head says 6" in p for p in v.problems)

    store.write_tables({"audit_log": log}, mode="replace")
    assert audit.verify(store).ok


def test_tampering_is_detected_on_postgis(pg_dsn: str, pg_schema: str) -> None:
    import psycopg

    store = PostgisStore(pg_dsn, schema=pg_schema)
    store.migrate()
    try:
        _seed(store)
        with psycopg.connect(pg_dsn, autocommit=True) as con:
            con.execute(f'UPDATE "{pg_schema}".audit_log SET target = %s WHERE seq = 2', ["k99"])
        assert any("entry 2: content changed" in p for p in audit.verify(store).problems)
        with psycopg.connect(pg_dsn, autocommit=True) as con:
            con.execute(f'UPDATE "{pg_schema}".audit_log SET target = %s WHERE seq = 2', ["k1"])
            assert audit.verify(store).ok
            con.execute(f'DELETE FROM "{pg_schema}".audit_log WHERE seq = 5')
        assert any("entry 5 is missing" in p for p in audit.verify(store).problems)
        with psycopg.connect(pg_dsn, autocommit=True) as con:
            con.execute(f'DELETE FROM "{pg_schema}".audit_log WHERE seq = 6')
        problems = audit.verify(store).problems
        assert any("head says 6" in p for p in problems)
    finally:
        store.close()


def test_query_filters(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "q")
    _seed(store)
    audit.append(store, "admin", "key.revoke", "k1")
    got = audit.query(store, action="key.revoke")
    assert got["actor"].tolist() == ["admin"]
    assert audit.query(store, actor="user3")["target"].tolist() == ["k3"]
    assert len(audit.query(store, limit=2)) == 2
    assert audit.query(store, since=pd.Timestamp.now(tz="UTC") + pd.Timedelta(hours=1)).empty
    with pytest.raises(Exception, match="ISO 8601"):
        audit.query(store, since="yesterday")  # type: ignore[arg-type]
