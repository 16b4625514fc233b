"""`riskmap geocode FILE` against a registry written into a temporary embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_registry: pd.DataFrame) -> Path:
    from risk.store import StoreSettings, open_store

    path = tmp_path / "store"
    store = open_store(StoreSettings(path=path))
    store.migrate()
    store.write_tables({"address_points": fake_registry})
    store.close()
    monkeypatch.setenv("RISKMAP_STORE_PATH", str(path))
    monkeypatch.setenv("RISKMAP_STORE_BACKEND", "embedded")
    return path


def test_geocode_command_writes_results_and_reports_tiers(
    store_env: Path, tmp_path: Path, noisy: pd.DataFrame
) -> None:
    feed = tmp_path / "feed.csv"
    rows = noisy.head(300)
    pd.DataFrame(
        {"Họ và tên": "x", "Địa chỉ": rows["text"], "Ngày tiêm": rows["date"].dt.strftime("%d/%m/%Y")}
    ).to_csv(feed, index=False)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(
        app, ["geocode", str(feed), "--date-column", "Ngày tiêm", "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["rows"] == 300 and report["column"] == "Địa chỉ"
    assert sum(report["tiers"].values()) == 300 and report["tiers"]["exact"] > 270
    assert sum(sum(w.values()) - w["total"] for w in report["wards"].values()) == 300
    written = pd.read_csv(out, dtype=str)
    assert len(written) == 300 and {"geo_point_id", "geo_ward_id", "geo_tier"} <= set(written.columns)
    hit = written["geo_point_id"].astype(float) == rows["point_id"].to_numpy()
    assert hit.mean() > 0.95


def test_geocode_command_table_and_errors(store_env: Path, tmp_path: Path, fake_points: pd.DataFrame) -> None:
    feed = tmp_path / "feed.csv"
    pd.DataFrame({"address": fake_points["address"].head(20)}).to_csv(feed, index=False)
    res = CliRunner().invoke(app, ["geocode", str(feed)])
    assert res.exit_code == 0, res.output
    assert "match tiers per ward" in res.output and "exact" in res.output
    res = CliRunner().invoke(app, ["geocode", str(feed), "--column", "nope"])
    assert res.exit_code == 2 and "no column" in res.output
    other = tmp_path / "other.csv"
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(other, index=False)
    res = CliRunner().invoke(app, ["geocode", str(other)])
    assert res.exit_code == 2 and "--column" in res.output


def test_geocode_command_needs_a_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKMAP_STORE_PATH", str(tmp_path / "empty"))
    feed = tmp_path / "feed.csv"
    pd.DataFrame({"address": ["12 Lê Lợi"]}).to_csv(feed, index=False)
    res = CliRunner().invoke(app, ["geocode", str(feed)])
    assert res.exit_code == 2 and "address points" in res.output
