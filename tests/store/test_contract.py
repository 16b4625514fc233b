"""The store contract (`risk.store.base.Store`), checked on every backend by the same tests.

Each test runs once on the embedded store (a temporary directory) and once on PostGIS (a fresh schema of
RISKMAP_TEST_PG_DSN). What a backend must return is defined by the contract's own conversions
(`to_arrow` then `to_frame`), so both backends give identical frames, dtypes included.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from storedata import comparable, expected, rows, sample_frame
from storehelp import Location, Pause, crash_writer, fail_on_write, info, levels, on_write

from risk.store.base import BatchInfo, SnapshotInfo, Store, StoreError, check_filters, to_frame
from risk.store.postgis import PostgisStore, table_ddl
from risk.store.tables import TABLES, TableSpec

DATA_TABLES = [name for name, t in TABLES.items() if not t.snapshot]
SNAPSHOT_TABLES = [name for name, t in TABLES.items() if t.snapshot]
U63 = 1 << 63
U64_MAX = (1 << 64) - 1


def assert_frames(table: str, got: pd.DataFrame, want: pd.DataFrame) -> None:
    t = TABLES[table]
    assert list(got.columns) == list(want.columns)
    assert isinstance(got, gpd.GeoDataFrame) == isinstance(want, gpd.GeoDataFrame)
    if isinstance(want, gpd.GeoDataFrame):
        assert got.crs == want.crs == "EPSG:4326"
        assert got.geometry.name == want.geometry.name
    pd.testing.assert_frame_equal(comparable(t, got), comparable(t, want), check_exact=True)


def batch(sha: str = "a" * 64, **changes: Any) -> BatchInfo:
    base = BatchInfo(
        source="bv-cho-ray",
        kind="cases",
        file_name="ca_benh_2021-08-01.xlsx",
        content_sha256=sha,
        rows_in=5,
        accepted=3,
        corrected=1,
        quarantined=1,
        duplicates=0,
        report={"lỗi": {"Ngày sinh": 1}, "columns": ["Họ và tên", "SĐT"]},
    )
    return BatchInfo(**{**base.__dict__, **changes})


def records(first: int, n: int) -> pd.DataFrame:
    return sample_frame(TABLES["records"], n, first_key=first)


# -- round trips --------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", DATA_TABLES)
def test_every_table_round_trips_every_column_type(store: Store, table: str) -> None:
    df = sample_frame(TABLES[table])
    store.write_tables({table: df})
    got = store.read_table(table)
    assert_frames(table, got, expected(TABLES[table], df))
    assert store.count(table) == len(df)


@pytest.mark.parametrize("table", DATA_TABLES)
def test_reads_have_the_contract_dtypes_full_or_empty(store: Store, table: str) -> None:
    t = TABLES[table]
    want = to_frame(t, t.schema.empty_table()).dtypes
    empty = store.read_table(table)
    assert len(empty) == 0
    pd.testing.assert_series_equal(empty.dtypes, want)
    store.write_tables({table: sample_frame(t)})
    pd.testing.assert_series_equal(store.read_table(table).dtypes, want)


def test_awkward_values_survive_exactly(store: Store) -> None:
    """Spot checks that the samples hold what they should, so the round trips above prove something."""
    store.write_tables(
        {
            "households": sample_frame(TABLES["households"]),
            "records": sample_frame(TABLES["records"]),
            "links": sample_frame(TABLES["links"]),
        }
    )
    h = store.read_table("households")
    cells = set(h["h3_9"].dropna().tolist())
    assert {0, U63 - 1, U63, U64_MAX, U63 + 12345, 617_700_169_958_293_503} <= cells
    assert h["h3_9"].dtype == pd.UInt64Dtype() and h["h3_9"].isna().any()
    r = store.read_table("records")
    names = set(r["full_name"].dropna())
    assert {"", "NULL", "\\N", 'say "hi", then\nleave\r\n', "Nguyễn Thị Minh Khai", "😷 ca bệnh F0"} <= names
    assert r["full_name"].isna().sum() == 2
    assert r["pooled"].dtype == pd.BooleanDtype() and r["pooled"].isna().any()
    assert r["event_date"].min() == pd.Timestamp("0001-01-01")
    assert r["event_date"].max() == pd.Timestamp("9999-12-31")
    assert set(r["batch_id"].dropna()) >= {-(1 << 63), (1 << 63) - 1}
    times = store.read_table("links")["linked_at"].dropna()
    assert pd.Timestamp("1969-12-31 23:59:59.999999", tz="UTC") in set(times)
    assert pd.Timestamp("2021-08-01 07:30:01.123456", tz="UTC") in set(times)


def test_geometries_round_trip_as_multipolygons_in_wgs84(store: Store) -> None:
    square = shapely.box(106.6, 10.7, 106.7, 10.8)
    mercator = gpd.GeoSeries([square], crs=4326).to_crs(3857)
    store.write_tables(
        {
            "admin_units": gpd.GeoDataFrame(
                {"unit_id": ["a", "b", "c", "d"]},
                geometry=[square, shapely.MultiPolygon([square]), None, shapely.Polygon()],
                crs=4326,
            ),
            "groups": gpd.GeoDataFrame({"group_id": ["m"]}, geometry=mercator, crs=3857),
        }
    )
    units = store.read_table("admin_units").sort_values("unit_id")
    assert isinstance(units, gpd.GeoDataFrame) and units.crs == "EPSG:4326"
    assert list(units.geometry.geom_type[:2]) == ["MultiPolygon", "MultiPolygon"]
    assert units.geometry.iloc[0].equals(shapely.MultiPolygon([square]))
    assert units.geometry.iloc[2] is None
    assert units.geometry.iloc[3].is_empty
    group = store.read_table("groups").geometry.iloc[0]
    assert shapely.equals_exact(group, shapely.MultiPolygon([square]), tolerance=1e-9)


def test_geometry_may_come_as_wkb_bytes_or_arrow(store: Store) -> None:
    square = shapely.box(106.6, 10.7, 106.7, 10.8)
    multi = shapely.MultiPolygon([square])
    store.write_tables(
        {"admin_units": pd.DataFrame({"unit_id": ["a"], "geometry": [shapely.to_wkb(square)]})}
    )
    store.write_tables({"admin_units": pa.table({"unit_id": ["b"], "geometry": [shapely.to_wkb(multi)]})})
    got = store.read_table("admin_units")
    assert all(g.equals(multi) for g in got.geometry)


def test_missing_columns_are_null_and_arrow_input_is_accepted(store: Store) -> None:
    store.write_tables({"persons": pd.DataFrame({"person_id": [1], "full_name": ["Trần Văn Bình"]})})
    store.write_tables({"persons": pa.table({"person_id": pa.array([2], pa.int32()), "comorbid": [True]})})
    got = store.read_table("persons").sort_values("person_id").reset_index(drop=True)
    assert got["full_name"].tolist()[0] == "Trần Văn Bình" and pd.isna(got["full_name"][1])
    assert got["comorbid"].tolist() == [pd.NA, True]
    assert got["person_id"].dtype == pd.Int64Dtype()


def test_columns_are_selected_in_the_order_asked(store: Store) -> None:
    store.write_tables({"admin_units": sample_frame(TABLES["admin_units"], 5)})
    got = store.read_table("admin_units", columns=["name", "unit_id"])
    assert list(got.columns) == ["name", "unit_id"] and not isinstance(got, gpd.GeoDataFrame)
    assert isinstance(store.read_table("admin_units", columns=["geometry", "unit_id"]), gpd.GeoDataFrame)
    none = store.read_table("admin_units", columns=[])
    assert none.shape == (5, 0)


def test_another_store_on_the_same_data_sees_committed_writes(store: Store, open_store: Any) -> None:
    store.write_tables({"records": records(1, 3)})
    assert open_store().count("records") == 3


# -- filters ------------------------------------------------------------------------------------------

_T0 = dt.datetime(2021, 8, 1, 7, 30, 1, 123456, tzinfo=dt.UTC)
FILTER_CASES: dict[str, list[list[tuple[str, str, Any]]]] = {
    "records": [
        [("record_id", "=", 5)],
        [("record_id", "!=", 5)],
        [("record_id", "<", 5)],
        [("record_id", "<=", 5)],
        [("record_id", ">", 20)],
        [("record_id", ">=", 20)],
        [("record_id", "<", 5.0)],
        [("batch_id", "<", 0)],
        [("batch_id", ">=", (1 << 63) - 1)],
        [("batch_id", "=", -(1 << 63))],
        [("kind", "=", "")],
        [("kind", "!=", "")],
        [("kind", "=", "NULL")],
        [("kind", "=", "\\N")],
        [("kind", "<", "Nguyễn")],
        [("kind", ">=", "Đ")],
        [("kind", ">", "Z")],
        [("kind", "<", "a")],
        [("kind", "in", ["", "NULL", "zzz"])],
        [("kind", "not in", ["", "NULL"])],
        [("kind", "in", [])],
        [("kind", "not in", [])],
        [("kind", "is null", None)],
        [("kind", "not null", None)],
        [("event_date", "<", "2021-08-01")],
        [("event_date", "=", dt.date(2021, 8, 1))],
        [("event_date", ">=", pd.Timestamp("1970-01-01"))],
        [("event_date", "<=", dt.datetime(2021, 8, 1, 12))],
        [("event_date", "in", ["0001-01-01", "9999-12-31"])],
        [("event_date", "not in", [dt.date(2021, 8, 1)])],
        [("geocode_confidence", "=", 0.7)],
        [("geocode_confidence", "<", 0.7)],
        [("geocode_confidence", ">=", 0.7)],
        [("geocode_confidence", "<", 1e-29)],
        [("pooled", "=", True)],
        [("pooled", "!=", True)],
        [("pooled", "is null", None)],
        [("pooled", "in", [False])],
        [("pooled", "not in", [True])],
        [("birth_year", "in", [1990, -32768])],
        [("birth_year", ">", 0), ("pooled", "=", False)],
        [("kind", "not null", None), ("record_id", "<", 12), ("event_date", ">", "1900-01-01")],
    ],
    "households": [
        [("h3_9", "=", U63)],
        [("h3_9", "!=", U63)],
        [("h3_9", "<", U63)],
        [("h3_9", "<=", U63)],
        [("h3_9", ">", U63 - 1)],
        [("h3_9", ">=", U64_MAX)],
        [("h3_9", "<", 5)],
        [("h3_9", "<=", 5)],
        [("h3_9", ">", 5)],
        [("h3_9", ">=", 5)],
        [("h3_9", "<", U63 + 12345)],
        [("h3_9", ">", U63 + 1)],
        [("h3_9", "<", 0)],
        [("h3_9", "in", [0, U64_MAX, U63])],
        [("h3_9", "not in", [0, U64_MAX])],
        [("h3_9", "in", [])],
        [("h3_9", "is null", None)],
        [("size", "<", 0), ("h3_11", "not null", None)],
    ],
    "links": [
        [("linked_at", "<", dt.datetime(1970, 1, 1, tzinfo=dt.UTC))],
        [("linked_at", "=", _T0)],
        [("linked_at", "=", "2021-08-01T14:30:01.123456+07:00")],
        [("linked_at", ">", "2021-07-31T17:00:00")],
        [("linked_at", ">=", pd.Timestamp("2021-07-31 17:00:00", tz="UTC"))],
        [("linked_at", "in", [_T0, dt.datetime(1969, 12, 31, 23, 59, 59, 999999)])],
        [("linked_at", "not in", [_T0])],
        [("probability", "=", 0.7)],
        [("probability", ">", -2)],
    ],
}


def _holds(x: Any, op: str, v: Any) -> bool:
    """SQL semantics, spelled out in Python: comparisons never match null."""
    if op == "is null":
        return x is None
    if op == "not null":
        return x is not None
    if x is None:
        return False
    if op == "in":
        return x in v
    if op == "not in":
        return x not in v
    return {"=": x == v, "!=": x != v, "<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v}[op]


@pytest.mark.parametrize("table", list(FILTER_CASES))
def test_filters_of_every_operator_match_a_reference(store: Store, table: str) -> None:
    t = TABLES[table]
    df = sample_frame(t, 30)
    store.write_tables({table: df})
    reference = rows(t, df)
    key = t.key[0]
    wrong = []
    for filters in FILTER_CASES[table]:
        typed = check_filters(t, filters)
        want = sorted(r[key] for r in reference if all(_holds(r[c], op, v) for c, op, v in typed))
        got = sorted(store.read_table(table, columns=[key], filters=filters)[key].tolist())
        counted = store.count(table, filters=filters)
        if got != want or counted != len(want):
            wrong.append(f"{filters}: got {got} (count {counted}), want {want}")
    assert not wrong, "\n".join(wrong)
    assert any(len(store.read_table(table, filters=f)) for f in FILTER_CASES[table])


def test_filters_on_a_geometry_table_return_geodataframes(store: Store) -> None:
    store.write_tables({"admin_units": sample_frame(TABLES["admin_units"], 6)})
    got = store.read_table("admin_units", filters=[("unit_id", "in", ["k00001-ý", "k00002-ý"])])
    assert isinstance(got, gpd.GeoDataFrame) and len(got) == 2


# -- mistakes get clear errors ------------------------------------------------------------------------

MISTAKES: list[tuple[str, Callable[[Store], Any], str]] = [
    ("unknown table", lambda s: s.read_table("recrods"), "unknown table 'recrods'"),
    ("unknown table count", lambda s: s.count("nope"), "unknown table"),
    ("unknown table write", lambda s: s.write_tables({"nope": pd.DataFrame()}), "unknown table"),
    ("unknown column read", lambda s: s.read_table("records", columns=["nme"]), "no columns ['nme']"),
    (
        "unknown column write",
        lambda s: s.write_tables({"records": pd.DataFrame({"record_id": [1], "nme": ["x"]})}),
        "unknown columns ['nme']",
    ),
    ("unknown filter column", lambda s: s.read_table("records", filters=[("nme", "=", "x")]), "no column"),
    ("unknown operator", lambda s: s.read_table("records", filters=[("kind", "~", "x")]), "unknown operator"),
    (
        "short filter",
        lambda s: s.read_table("records", filters=[("kind", "=")]),
        "expected (column, op, value)",
    ),
    ("None compared", lambda s: s.count("records", filters=[("kind", "=", None)]), "use 'is null'"),
    ("in with text", lambda s: s.count("records", filters=[("kind", "in", "case")]), "needs a list"),
    ("text for int", lambda s: s.count("records", filters=[("record_id", "=", "x")]), "not a valid int64"),
    ("fraction for int", lambda s: s.count("records", filters=[("record_id", "<", 1.5)]), "not an integer"),
    ("bad date", lambda s: s.count("records", filters=[("event_date", "<", "01/08/2021")]), "ISO 8601"),
    ("negative cell", lambda s: s.count("households", filters=[("h3_9", "=", -1)]), "not a valid uint64"),
    ("cell too big", lambda s: s.count("households", filters=[("h3_9", "=", 1 << 64)]), "not a valid uint64"),
    ("geometry filter", lambda s: s.count("groups", filters=[("geometry", "=", b"")]), "geometry columns"),
    ("bad mode", lambda s: s.write_tables({"records": records(1, 1)}, mode="upsert"), "unknown write mode"),  # type: ignore[arg-type]
    (
        "snapshot via write_tables",
        lambda s: s.write_tables({"levels": pd.DataFrame()}),
        "is a snapshot table",
    ),
    ("snapshot via read_table", lambda s: s.read_table("levels"), "is a snapshot table"),
    ("snapshot via count", lambda s: s.count("levels"), "is a snapshot table"),
    (
        "table via write_snapshot",
        lambda s: s.write_snapshot(info(), {"records": records(1, 1)}),
        "not a snapshot",
    ),
    (
        "uncastable value",
        lambda s: s.write_tables({"records": pd.DataFrame({"record_id": ["x"]})}),
        "record_id",
    ),
    (
        "NUL in text",
        lambda s: s.write_tables({"records": pd.DataFrame({"record_id": [1], "phone": ["09\x0012"]})}),
        "NUL",
    ),
    (
        "point in a polygon column",
        lambda s: s.write_tables({"groups": pd.DataFrame({"geometry": [shapely.Point(1, 2)]})}),
        "expected MultiPolygon",
    ),
    (
        "not WKB",
        lambda s: s.write_tables({"groups": pd.DataFrame({"geometry": [b"\x01\x02garbage"]})}),
        "not a geometry",
    ),
    ("negative ids", lambda s: s.next_ids("x", -1), "negative"),
    ("publish missing", lambda s: s.publish_snapshot(999), "snapshot 999"),
    ("get missing", lambda s: s.get_snapshot(999), "no snapshot 999"),
    ("read missing snapshot", lambda s: s.read_snapshot(999, "levels"), "no snapshot 999"),
    ("unbalanced batch", lambda s: s.commit_batch(batch(rows_in=9), {}), "does not balance"),
]


@pytest.mark.parametrize(("mistake", "call", "message"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistakes_raise_store_errors_that_say_what_is_wrong(
    store: Store, mistake: str, call: Callable[[Store], Any], message: str
) -> None:
    with pytest.raises(StoreError, match=None) as err:
        call(store)
    assert message in str(err.value), str(err.value)


# -- append, replace, atomicity -----------------------------------------------------------------------


def test_append_adds_and_replace_swaps_only_the_tables_given(store: Store) -> None:
    store.write_tables({"records": records(1, 4), "persons": sample_frame(TABLES["persons"], 3)})
    store.write_tables({"records": records(5, 4)}, mode="append")
    assert store.count("records") == 8
    store.write_tables({"records": records(100, 2)}, mode="replace")
    assert sorted(store.read_table("records", columns=["record_id"])["record_id"]) == [100, 101]
    assert store.count("persons") == 3
    store.write_tables({"records": records(1, 0)}, mode="replace")
    assert store.count("records") == 0
    store.write_tables({})
    assert store.count("persons") == 3


def test_bad_data_in_the_second_table_leaves_nothing_of_the_first(store: Store) -> None:
    store.write_tables({"persons": sample_frame(TABLES["persons"], 2)})
    bad = pd.DataFrame({"record_id": [1, "not a number"]})
    with pytest.raises(StoreError):
        store.write_tables({"persons": sample_frame(TABLES["persons"], 5), "records": bad}, mode="replace")
    assert store.count("persons") == 2 and store.count("records") == 0


@pytest.mark.parametrize("mode", ["append", "replace"])
def test_a_write_failing_midway_leaves_the_old_state(
    store: Store, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    store.write_tables({"records": records(1, 3), "persons": sample_frame(TABLES["persons"], 2)})
    calls = fail_on_write(store, monkeypatch, 2)
    with pytest.raises(RuntimeError, match="injected fault"):
        store.write_tables(
            {"records": records(10, 5), "persons": sample_frame(TABLES["persons"], 4)}, mode=mode
        )
    assert len(calls) == 2  # the first table had been written when the second failed
    assert sorted(store.read_table("records", columns=["record_id"])["record_id"]) == [1, 2, 3]
    assert store.count("persons") == 2


def test_readers_see_the_old_rows_while_a_replace_is_under_way(store: Store, monkeypatch: Any) -> None:
    store.write_tables({"records": records(1, 3), "persons": sample_frame(TABLES["persons"], 2)})
    pause = Pause()
    on_write(store, monkeypatch, 2, pause)
    writer = threading.Thread(
        target=store.write_tables,
        args=({"records": records(50, 7), "persons": sample_frame(TABLES["persons"], 1)},),
        kwargs={"mode": "replace"},
    )
    writer.start()
    try:
        assert pause.reached.wait(60)
        assert sorted(store.read_table("records")["record_id"]) == [1, 2, 3]
        assert store.count("persons") == 2
    finally:
        pause.release.set()
        writer.join(60)
    assert store.count("records") == 7 and store.count("persons") == 1


# -- batches ------------------------------------------------------------------------------------------


def test_a_batch_lands_with_its_rows_and_account(store: Store) -> None:
    b = store.commit_batch(
        batch(), {"records": records(1, 3), "quarantine": sample_frame(TABLES["quarantine"], 1)}
    )
    assert b.batch_id is not None and b.committed_at is not None
    assert b.committed_at.utcoffset() == dt.timedelta(0)
    assert store.find_batch(b.content_sha256) == b
    assert store.find_batch("f" * 64) is None
    assert store.list_batches() == [b] and store.list_batches(source="bv-cho-ray") == [b]
    assert store.list_batches(source="other") == []
    assert b.report == {"lỗi": {"Ngày sinh": 1}, "columns": ["Họ và tên", "SĐT"]}
    assert store.count("records") == 3 and store.count("quarantine") == 1


def test_the_same_file_twice_is_one_batch(store: Store) -> None:
    first = store.commit_batch(batch(), {"records": records(1, 3)})
    again = store.commit_batch(batch(file_name="renamed.xlsx"), {"records": records(4, 3)})
    assert again == first
    assert store.count("records") == 3 and len(store.list_batches()) == 1


def test_batch_ids_are_given_or_drawn_and_never_reused(store: Store) -> None:
    given = store.commit_batch(batch("1" * 64, batch_id=41), {})
    drawn = store.commit_batch(batch("2" * 64), {})
    assert given.batch_id == 41 and drawn.batch_id not in (None, 41)
    with pytest.raises(StoreError, match="41"):
        store.commit_batch(batch("3" * 64, batch_id=41), {"records": records(1, 2)})
    assert store.count("records") == 0 and len(store.list_batches()) == 2


def test_report_json_is_strict_and_plain(store: Store) -> None:
    report = {
        "nan": float("nan"),
        "np": np.int64(3),
        "arr": np.array([1.5, 2.5]),
        "when": dt.date(2021, 8, 1),
    }
    b = store.commit_batch(batch(report=report), {})
    assert store.find_batch(b.content_sha256).report == {  # type: ignore[union-attr]
        "nan": None,
        "np": 3,
        "arr": [1.5, 2.5],
        "when": "2021-08-01",
    }


def test_an_unbalanced_or_failing_batch_leaves_nothing(store: Store, monkeypatch: Any) -> None:
    with pytest.raises(StoreError, match="does not balance"):
        store.commit_batch(batch(accepted=4), {"records": records(1, 3)})
    fail_on_write(store, monkeypatch, 2)
    with pytest.raises(RuntimeError):
        store.commit_batch(
            batch(), {"records": records(1, 3), "quarantine": sample_frame(TABLES["quarantine"], 1)}
        )
    assert store.list_batches() == [] and store.count("records") == 0 and store.count("quarantine") == 0
    monkeypatch.undo()
    store.commit_batch(batch(), {"records": records(1, 3)})
    assert store.count("records") == 3


def test_concurrent_commits_of_the_same_file_land_once(store: Store, open_store: Any) -> None:
    stores = [open_store() for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    results: list[BatchInfo] = []
    errors: list[BaseException] = []

    def commit(s: Store, first: int) -> None:
        try:
            barrier.wait(30)
            results.append(s.commit_batch(batch(), {"records": records(first, 50)}))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(s, 1000 * i)) for i, s in enumerate(stores)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors
    assert len({r.batch_id for r in results}) == 1 and len(results) == len(stores)
    assert len(store.list_batches()) == 1 and store.count("records") == 50


def test_concurrent_commits_of_different_files_all_land(store: Store, open_store: Any) -> None:
    stores = [open_store() for _ in range(4)]
    threads = [
        threading.Thread(target=s.commit_batch, args=(batch(str(i) * 64), {"records": records(100 * i, 10)}))
        for i, s in enumerate(stores)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert len(store.list_batches()) == 4 and store.count("records") == 40


# -- sequences ----------------------------------------------------------------------------------------


def test_sequences_reserve_consecutive_ranges(store: Store, open_store: Any) -> None:
    assert store.next_ids("person", 3) == 1
    assert store.next_ids("person", 2) == 4
    assert store.next_ids("household", 1) == 1
    assert store.next_ids("person", 0) == 6
    assert store.next_ids("person", 1) == 6
    assert open_store().next_ids("person", 1) == 7


def test_concurrent_reservations_never_overlap(store: Store, open_store: Any) -> None:
    stores = [open_store() for _ in range(4)]
    firsts: list[int] = []

    def reserve(s: Store) -> None:
        for _ in range(25):
            firsts.append(s.next_ids("record", 3))

    threads = [threading.Thread(target=reserve, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert sorted(firsts) == list(range(1, 3 * 100, 3))


# -- snapshots ----------------------------------------------------------------------------------------


def test_snapshot_tables_round_trip(store: Store) -> None:
    tables = {name: sample_frame(TABLES[name]) for name in SNAPSHOT_TABLES}
    written = store.write_snapshot(info(), tables)
    for name in SNAPSHOT_TABLES:
        got = store.read_snapshot(written.snapshot_id, name)  # type: ignore[arg-type]
        want = expected(TABLES[name], tables[name].assign(snapshot_id=written.snapshot_id))
        assert_frames(name, got, want)


def test_snapshot_lifecycle(store: Store) -> None:
    assert store.current_snapshot() is None and store.list_snapshots() == []
    first = store.write_snapshot(info(), {"levels": levels(5, 2)})
    assert first.snapshot_id is not None and first.created_at is not None
    assert (first.as_of, first.profile, first.profile_version, first.input_watermark, first.parent_id) == (
        dt.datetime(2021, 8, 1, 17, 0, tzinfo=dt.UTC),
        "moh-4800",
        "2021-10",
        7,
        None,
    )
    assert first.stats == info().stats and first.etag == f'"s{first.snapshot_id}"'
    assert store.current_snapshot() is None  # written is not published
    assert store.list_snapshots() == [first] and store.get_snapshot(first.snapshot_id) == first
    store.publish_snapshot(first.snapshot_id)
    assert store.current_snapshot() == first

    second = store.write_snapshot(info(parent_id=first.snapshot_id), {"levels": levels(3, 4)})
    assert second.snapshot_id > first.snapshot_id and second.parent_id == first.snapshot_id
    assert store.current_snapshot() == first
    store.publish_snapshot(second.snapshot_id)
    assert store.current_snapshot() == second
    assert [s.snapshot_id for s in store.list_snapshots()] == [first.snapshot_id, second.snapshot_id]
    old = store.read_snapshot(first.snapshot_id, "levels")
    assert len(old) == 5 and set(old["level"]) == {2} and set(old["snapshot_id"]) == {first.snapshot_id}
    store.publish_snapshot(first.snapshot_id)  # rolling back is publishing an older one
    assert store.current_snapshot() == first


def test_snapshots_are_immutable(store: Store) -> None:
    first = store.write_snapshot(info(), {"levels": levels(4, 1)})
    before = store.read_snapshot(first.snapshot_id, "levels")
    store.write_snapshot(info(), {"levels": levels(9, 3)})
    store.write_tables({"records": records(1, 2)}, mode="replace")
    assert_frames("levels", store.read_snapshot(first.snapshot_id, "levels"), before)
    assert store.get_snapshot(first.snapshot_id) == first


def test_snapshot_reads_filter_select_and_default_to_empty(store: Store) -> None:
    df = levels(6, 1)
    df["level"] = pd.array([1, 2, 3, 4, None, 2], dtype="Int8")
    s = store.write_snapshot(info(), {"levels": df.assign(snapshot_id=12345)})
    got = store.read_snapshot(
        s.snapshot_id, "levels", columns=["unit_id", "level"], filters=[("level", ">=", 2)]
    )
    assert list(got.columns) == ["unit_id", "level"] and sorted(got["level"]) == [2, 2, 3, 4]
    assert set(store.read_snapshot(s.snapshot_id, "levels")["snapshot_id"]) == {s.snapshot_id}
    bare = store.write_snapshot(info(), {})
    empty = store.read_snapshot(bare.snapshot_id, "levels")
    assert len(empty) == 0
    pd.testing.assert_series_equal(
        empty.dtypes, to_frame(TABLES["levels"], TABLES["levels"].schema.empty_table()).dtypes
    )


def test_snapshot_times_are_utc(store: Store) -> None:
    naive = store.write_snapshot(info(as_of=dt.datetime(2021, 8, 1, 12)), {})
    local = store.write_snapshot(
        info(as_of=dt.datetime(2021, 8, 1, 19, tzinfo=dt.timezone(dt.timedelta(hours=7)))), {}
    )
    day = store.write_snapshot(info(as_of=dt.date(2021, 8, 2)), {})
    assert naive.as_of == dt.datetime(2021, 8, 1, 12, tzinfo=dt.UTC) == local.as_of
    assert day.as_of == dt.datetime(2021, 8, 2, tzinfo=dt.UTC)
    assert all(s.as_of.utcoffset() == dt.timedelta(0) for s in store.list_snapshots())


def test_a_snapshot_is_invisible_until_complete(store: Store, open_store: Any, monkeypatch: Any) -> None:
    published = store.write_snapshot(info(), {"levels": levels(2)})
    store.publish_snapshot(published.snapshot_id)
    pause = Pause()
    on_write(store, monkeypatch, 1, pause)
    result: list[SnapshotInfo] = []
    writer = threading.Thread(
        target=lambda: result.append(store.write_snapshot(info(), {"levels": levels(7)}))
    )
    writer.start()
    try:
        assert pause.reached.wait(60)
        other = open_store()
        assert [s.snapshot_id for s in other.list_snapshots()] == [published.snapshot_id]
        assert other.current_snapshot() == published
        with pytest.raises(StoreError):
            other.publish_snapshot(published.snapshot_id + 1)
        assert len(other.read_snapshot(published.snapshot_id, "levels")) == 2
    finally:
        pause.release.set()
        writer.join(60)
    assert len(store.read_snapshot(result[0].snapshot_id, "levels")) == 7
    assert store.current_snapshot() == published


def test_a_failed_snapshot_leaves_no_trace(store: Store, monkeypatch: Any) -> None:
    fail_on_write(store, monkeypatch, 1)
    with pytest.raises(RuntimeError):
        store.write_snapshot(info(), {"levels": levels(3)})
    assert store.list_snapshots() == []
    monkeypatch.undo()
    with pytest.raises(StoreError):
        store.write_snapshot(info(), {"levels": pd.DataFrame({"level": ["high"]})})
    assert store.list_snapshots() == []
    ok = store.write_snapshot(info(), {"levels": levels(3)})
    assert store.list_snapshots() == [ok]


# -- crashes ------------------------------------------------------------------------------------------


def test_a_writer_killed_midway_leaves_nothing_visible(
    store: Store, location: Location, open_store: Any
) -> None:
    store.write_tables({"persons": sample_frame(TABLES["persons"], 2)})
    crash_writer(
        location,
        "store.write_tables({'persons': sample_frame(TABLES['persons'], 9), "
        "'records': sample_frame(TABLES['records'], 4)}, mode='replace')",
        call=2,
    )
    crash_writer(
        location,
        "store.write_snapshot(SnapshotInfo(dt.datetime(2021, 8, 1), 'p', '1', 0), "
        "{'levels': sample_frame(TABLES['levels'], 3)})",
        call=1,
    )
    after = open_store()
    after.migrate()
    assert after.count("persons") == 2 and after.count("records") == 0
    assert after.list_snapshots() == [] and after.current_snapshot() is None
    s = after.write_snapshot(info(), {"levels": levels(3)})
    assert len(after.read_snapshot(s.snapshot_id, "levels")) == 3


def test_the_samples_hold_what_csv_gets_wrong() -> None:
    """Guard for the samples themselves: the round trips above would prove little without these."""
    joined = "".join(v for v in sample_frame(TABLES["records"])["full_name"] if isinstance(v, str))
    for needle in ('"', ",", "\n", "\r", "\\", "\t", "ễ"):
        assert needle in joined


# -- geometry kinds and binary columns no table uses yet ----------------------------------------------

PROBES = (
    TableSpec(
        "probe_shapes",
        pa.schema([("probe_id", pa.int64()), ("digest", pa.binary()), ("geometry", pa.binary())]),
        key=("probe_id",),
        geometry="geometry",
        geometry_type="Geometry",
    ),
    TableSpec(
        "probe_points",
        pa.schema([("probe_id", pa.int64()), ("geometry", pa.binary())]),
        key=("probe_id",),
        geometry="geometry",
        geometry_type="Point",
    ),
)


@pytest.fixture
def probes(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Two extra tables, declared for this test only (and created, on PostGIS, by their DDL)."""
    for t in PROBES:
        monkeypatch.setitem(TABLES, t.name, t)
        if isinstance(store, PostgisStore):
            with store.connection() as conn:
                conn.execute(table_ddl(t).encode())
    return store


def test_other_geometry_kinds_and_binary_columns_round_trip(probes: Store) -> None:
    shapes = pd.DataFrame(
        {
            "probe_id": [1, 2, 3, 4, 5],
            "digest": [b"", None, b"\x00\xff\\x", bytes(range(256)), b'\n\r,"'],
            "geometry": [
                shapely.Point(106.7, 10.77),
                shapely.LineString([(106.6, 10.7), (106.7, 10.8)]),
                shapely.box(106.6, 10.7, 106.7, 10.8),
                None,
                shapely.GeometryCollection([shapely.Point(1, 2), shapely.box(0, 0, 1, 1)]),
            ],
        }
    )
    points = pd.DataFrame(
        {"probe_id": [1, 2, 3], "geometry": [shapely.Point(106.7, 10.77), None, shapely.Point()]}
    )
    probes.write_tables({"probe_shapes": shapes, "probe_points": points})
    for t, df in zip(PROBES, (shapes, points), strict=True):
        assert_frames(t.name, probes.read_table(t.name), expected(t, df))
    assert probes.count("probe_shapes", filters=[("digest", "=", b"")]) == 1
    assert probes.count("probe_shapes", filters=[("digest", ">", b"\x00")]) == 3
    with pytest.raises(StoreError, match="expected Point"):
        probes.write_tables({"probe_points": pd.DataFrame({"geometry": [shapely.box(0, 0, 1, 1)]})})
