"""Ward leaders' household lists (XLSX, CSV), the printable ward map and `riskmap export households`:
content, filters, scope (a leader of ward A gets 403 for ward B and never sees B's households) and audit."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import openpyxl
import pandas as pd
from PIL import Image

from api.audit import query
from api.householdlist import HEADERS, neutralise
from api.security import Principal
from geo.tiles import tile_of
from tests.api import servecity
from tests.api.conftest import COMMAND_CENTRE, ward_leader

SG = servecity.SAI_GON


def _current(city: servecity.ServeCity, ward: str) -> pd.DataFrame:
    hl = city.household_levels[city.snapshots[-1]]
    return hl[hl["ward_id"] == ward]


def _xlsx(client, **params) -> openpyxl.Workbook:
    r = client.get("/v1/exports/households.xlsx", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    return openpyxl.load_workbook(io.BytesIO(r.content), read_only=False)


def test_xlsx_of_a_ward_one_sheet_per_group(served) -> None:
    client, caller, city = served
    caller.principal = ward_leader(SG)
    wb = _xlsx(client, ward=SG)
    want = _current(city, SG)
    assert wb.sheetnames[0] == "Tổng hợp"
    groups = city.groups[city.groups["ward_id"] == SG]
    listed = want["group_id"].dropna().unique()
    assert len(wb.sheetnames) - 1 == len(listed) + int(want["group_id"].isna().any())
    numbers, rows = [], 0
    for name in wb.sheetnames[1:]:
        ws = wb[name]
        assert [c.value for c in ws[1]] == HEADERS
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
        assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
        body = list(ws.iter_rows(min_row=2, values_only=True))
        rows += len(body)
        numbers += [r[0] for r in body]
        assert {r[3] for r in body} <= set(groups["name"]) | {None, ""}
    assert rows == len(want)
    assert numbers == list(range(1, len(want) + 1))  # STT runs across the ward in list order
    summary = wb["Tổng hợp"]
    total = next(r for r in summary.iter_rows(values_only=True) if r[0] == "Tổng cộng / Total")
    assert total[1] == len(want) and total[5] == int((want["level"] == 4).sum())


def test_filters_and_csv(served) -> None:
    client, caller, city = served
    caller.principal = ward_leader(SG)
    want = _current(city, SG)
    r = client.get("/v1/exports/households.csv", params={"ward": SG, "level": "4"})
    assert r.status_code == 200
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel shows Vietnamese
    frame = pd.read_csv(io.BytesIO(r.content), encoding="utf-8-sig")
    assert list(frame.columns) == HEADERS
    assert len(frame) == int((want["level"] == 4).sum()) and set(frame["Mức theo dõi"]) == {4}
    assert frame["Cần theo dõi"].str.contains("F0").all()  # level 4 households of the test city are F0
    r = client.get("/v1/exports/households.csv", params={"ward": SG, "flag": "f0"})
    assert len(pd.read_csv(io.BytesIO(r.content), encoding="utf-8-sig")) == int(want["flag_f0"].sum())
    group = want["group_id"].dropna().iloc[0]
    wb = _xlsx(client, ward=SG, group=group)
    assert len(wb.sheetnames) == 2
    assert wb.worksheets[1].max_row - 1 == int((want["group_id"] == group).sum())
    assert client.get("/v1/exports/households.csv", params={"ward": SG, "flag": "nope"}).status_code == 422


def test_formula_cells_are_neutralised() -> None:
    s = pd.Series(['=HYPERLINK("x")', "+84 90", "-1", "@SUM(A1)", "12 Lê Lợi", 3, None])
    assert neutralise(s).tolist() == [
        '\'=HYPERLINK("x")',
        "'+84 90",
        "'-1",
        "'@SUM(A1)",
        "12 Lê Lợi",
        3,
        None,
    ]


def test_ward_b_is_403_and_never_seen(served) -> None:
    client, caller, city = served
    other = city.wards[1]
    caller.principal = ward_leader(SG)
    for path in (
        "/v1/exports/households.xlsx",
        "/v1/exports/households.csv",
        "/v1/exports/households/map.png",
    ):
        assert client.get(path, params={"ward": other}).status_code == 403, path
    hh = city.households
    b = hh[hh["ward_id"] == other]
    # a household tile wholly inside ward B
    touched = None
    for lon, lat in zip(b["lon"], b["lat"], strict=True):
        x, y = tile_of(lon, lat, 16)
        r = client.get(f"/tiles/households/16/{x}/{y}.mvt")
        if r.status_code == 403:
            touched = (x, y)
            break
    assert touched is not None, "no household tile of ward B answered 403"
    # the leader's own list holds only ward A's households
    r = client.get("/v1/exports/households.csv", params={"ward": SG})
    refs = set(pd.read_csv(io.BytesIO(r.content), encoding="utf-8-sig")["Mã hộ"])
    assert refs == set(hh.loc[hh["ward_id"] == SG, "household_ref"])
    caller.principal = Principal("public-ish", frozenset({"public"}), via="key:x")
    assert client.get("/v1/exports/households.csv", params={"ward": SG}).status_code == 403


def test_exports_are_audited(served, city_store) -> None:
    client, caller, city = served
    store, _ = city_store
    caller.principal = replace(COMMAND_CENTRE, via="key:cc")
    r = client.get("/v1/exports/households.csv", params={"ward": SG, "level": "3,4"})
    assert r.status_code == 200
    caller.principal = replace(ward_leader(SG), via="key:leader")
    assert client.get("/v1/exports/households.csv", params={"ward": city.wards[2]}).status_code == 403
    client.app.state.audit.flush()
    log = query(store, action="export.households")
    mine = [d for d in log.to_dict("records") if d["actor"] == "cc"]
    assert mine, log
    detail = json.loads(mine[0]["detail"])
    want = _current(city, SG)
    assert detail["rows"] == int(want["level"].isin([3, 4]).sum())
    assert detail["filter"]["levels"] == [3, 4] and detail["filter"]["ward"] == SG
    assert mine[0]["outcome"] == "200" and mine[0]["target"].startswith("/v1/exports/households.csv?ward=")
    refused = log[(log["actor"] == f"leader-{SG}") & (log["outcome"] == "403")]
    assert len(refused) >= 1


def test_printable_ward_map(served) -> None:
    client, caller, city = served
    caller.principal = ward_leader(SG)
    r = client.get("/v1/exports/households/map.png", params={"ward": SG, "flag": "f0"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
    assert img.shape[:2] == (1240, 1754)
    red = np.all(np.abs(img - [183, 28, 28]) <= 3, axis=-1).sum()  # F0 household dots
    assert red > 20 * int(_current(city, SG)["flag_f0"].sum()) * 0.5


def test_cli_export_households(city_store, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from api.cli import app as cli_app

    store, city = city_store
    monkeypatch.setenv("RISKMAP_STORE_PATH", str(store.path))
    out = tmp_path / "list.xlsx"
    res = CliRunner().invoke(
        cli_app, ["export", "households", "--ward", SG, "--level", "4", "--actor", "tester", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    n = int((_current(city, SG)["level"] == 4).sum())
    assert f"wrote {n} households" in res.output
    wb = openpyxl.load_workbook(out, read_only=True)
    assert sum(ws.max_row - 1 for ws in wb.worksheets[1:]) == n
    entry = query(store, actor="tester", action="export.households").iloc[0]
    assert json.loads(entry["detail"])["rows"] == n
