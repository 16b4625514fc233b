import tomllib
from pathlib import Path

import pandas as pd
import pytest

from risk.ingest.errors import IngestError
from risk.ingest.pipeline import ingest_file
from risk.ingest.sources import SourceMapping, parse_mapping
from risk.store.embedded import EmbeddedStore

MAPPING = """
[source]
id = "test-vax"
kind = "dose"
[fields]
full_name = ["Họ và tên"]
birth_date = ["Ngày sinh"]
phone = ["SĐT"]
event_date = ["Ngày tiêm"]
vaccine = ["Vắc xin"]
dose_kind = ["Mũi"]
id_number = ["CCCD"]
address = ["Địa chỉ"]
"""
FEED = (
    "Họ và tên,Ngày sinh,SĐT,Ngày tiêm,Vắc xin,Mũi,CCCD,Địa chỉ\n"
    'Nguyễn Văn An,05/07/1980,0909123456,01/08/2021,AZ,Mũi 1,079080012345,"12 Lê Lợi, P. Bến Thành"\n'
    '"Trần Thị B,01/01/1990,0909\n'
    "LE VAN C,1975,01681234567,02/08/2021,Pfizer,2,,x\n"
    '=HYPERLINK("x"),1975,,02/08/2021,Pfizer,2,,x\n'
    "LE VAN C,1975,01681234567,02/08/2021,Pfizer,2,,x\n"
    "Phạm D,02/03/1999,,31/02/2021,Moderna,1,,\n"
    "Võ E,02/03/1999,,01/09/2021,Moderna,1,,\n"
)


@pytest.fixture
def mapping() -> SourceMapping:
    return parse_mapping(tomllib.loads(MAPPING))


def test_account_balances_and_bad_rows_are_kept(tmp_path: Path, mapping: SourceMapping) -> None:
    store = EmbeddedStore(tmp_path / "store")
    f = tmp_path / "w35.csv"
    f.write_text(FEED, encoding="utf-8")
    r = ingest_file(store, f, mapping)
    b = r.batch
    assert r.new and b.balanced
    assert (b.rows_in, b.accepted, b.corrected, b.quarantined, b.duplicates) == (7, 2, 1, 3, 1)
    q = store.read_table("quarantine")
    assert q["row_number"].tolist() == [2, 4, 6]
    assert q["reasons"].tolist() == ["unparseable", "formula", "date_impossible"]
    assert "31/02/2021" in q["raw"][2]  # raw values kept for correction
    recs = store.read_table("records")
    assert recs["row_number"].tolist() == [1, 3, 7]
    assert recs["vaccine"].tolist() == ["astrazeneca", "pfizer", "moderna"]
    assert recs["phone"][1] == "0381234567"


def test_same_file_twice_adds_nothing(tmp_path: Path, mapping: SourceMapping) -> None:
    store = EmbeddedStore(tmp_path / "store")
    f = tmp_path / "w35.csv"
    f.write_text(FEED, encoding="utf-8")
    first = ingest_file(store, f, mapping)
    n = store.count("records"), store.count("quarantine")
    again = ingest_file(store, f, mapping)
    assert not again.new and again.batch.batch_id == first.batch.batch_id
    assert (store.count("records"), store.count("quarantine")) == n
    # The same rows re-sent inside another file are duplicates, not new records.
    g = tmp_path / "w36.csv"
    g.write_text(FEED + "Đỗ F,1960,,02/09/2021,AZ,1,,\n", encoding="utf-8")
    third = ingest_file(store, g, mapping)
    assert third.batch.accepted + third.batch.corrected == 1
    assert third.batch.duplicates == 4  # 3 good rows re-sent + the in-file duplicate


def test_missing_required_column_names_file_and_column(tmp_path: Path, mapping: SourceMapping) -> None:
    store = EmbeddedStore(tmp_path / "store")
    f = tmp_path / "bad.csv"
    f.write_text("Họ và tên,Ngày sinh\nAn,1980\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"bad.csv.*column 'event_date'.*Ngày tiêm"):
        ingest_file(store, f, mapping)
    assert store.count("records") == 0 and not store.list_batches()


def test_compaction_keeps_rows_and_merges_segments(tmp_path: Path, mapping: SourceMapping) -> None:
    store = EmbeddedStore(tmp_path / "store")
    for i in range(9):
        f = tmp_path / f"w{i}.csv"
        f.write_text(
            FEED.replace("Võ E", f"Võ E{i}") + f"Đỗ F{i},1960,,02/09/2021,AZ,1,,\n", encoding="utf-8"
        )
        ingest_file(store, f, mapping)
    before = store.read_table("records").sort_values("record_id").reset_index(drop=True)
    assert store.compact("records") == 9
    after = store.read_table("records").sort_values("record_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    assert store.compact("records") == 0  # one segment left: nothing to merge


def test_parallel_ingest_matches_sequential(linked_city, tmp_path: Path) -> None:
    """Files prepared in worker processes commit exactly what one process would: same batches, accounts,
    records and quarantine (the linked city was ingested with two workers)."""
    import datetime as dt

    from api.cli.ingest import collect, compact
    from risk.ingest.pipeline import Ingestor
    from risk.ingest.place import RegistryPlacer
    from risk.reference import load_reference

    some = ("ho-khau", "tiem-chung-hcdc", "xet-nghiem-nhanh")  # a few sources keep the test short
    files = [fs for fs in collect([linked_city.city / "feeds"], None) if fs[1] in some]
    store = EmbeddedStore(tmp_path / "seq")
    load_reference(store, linked_city.city)
    session = Ingestor(store, placer=RegistryPlacer.from_store(store), latest=linked_city.latest)
    results = list(session.ingest_many(files, workers=1))
    assert all(not isinstance(r, Exception) and r.new for r in results)
    compact(store)
    par = EmbeddedStore(linked_city.store_dir)

    def accounts(s: EmbeddedStore) -> list[tuple]:
        return sorted(
            (b.file_name, b.source, b.rows_in, b.accepted, b.corrected, b.quarantined, b.duplicates)
            for b in s.list_batches()
            if b.source in some
        )

    assert accounts(store) == accounts(par)
    assert isinstance(linked_city.latest, dt.date)

    def rows(s: EmbeddedStore, table: str) -> pd.DataFrame:
        # batch ids differ between the two stores (the linked city has more sources): compare by file
        files = {b.batch_id: b.file_name for b in s.list_batches()}
        t = s.read_table(table, filters=[("source", "in", list(some))])
        t = t.assign(file=t["batch_id"].map(files)).drop(columns=["batch_id", "record_id"], errors="ignore")
        return t.sort_values(["source", "file", "row_number"]).reset_index(drop=True)

    for table in ("records", "quarantine"):
        a, b = rows(store, table), rows(par, table)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b)
    # the same files again add nothing, in parallel too
    again = list(Ingestor(store, latest=linked_city.latest).ingest_many(files, workers=2))
    assert not any(r.new for r in again)
