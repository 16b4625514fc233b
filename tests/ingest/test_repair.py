"""Rows the reader could not split, rebuilt only where exactly one reading is valid."""

import datetime as dt
import tomllib
from pathlib import Path

import pandas as pd

from risk.ingest.pipeline import ingest_file
from risk.ingest.sources import parse_mapping
from risk.store.embedded import EmbeddedStore


def mapping_text(source_id: str, format_: str | None = None) -> str:
    """The test dose layout as mapping TOML (`format_` when the file type is fixed)."""
    fmt = f'format = "{format_}"\n' if format_ else ""
    return f"""
[source]
id = "{source_id}"
kind = "dose"
{fmt}[fields]
full_name = ["Họ và tên"]
birth_date = ["Ngày sinh"]
id_number = ["CCCD"]
address = ["Địa chỉ"]
vaccine = ["Vắc xin"]
dose_kind = ["Mũi"]
event_date = ["Ngày tiêm"]
site = ["Điểm tiêm"]
"""


MAPPING = parse_mapping(tomllib.loads(mapping_text("test-vax")))
HEADER = "STT,Họ và tên,Ngày sinh,CCCD,Địa chỉ,Vắc xin,Mũi,Ngày tiêm,Điểm tiêm\n"
ROWS = [
    # 1: well formed
    '1,Nguyễn Văn An,05/07/1980,079080012345,"12 Lê Lợi, Phường Bến Thành",AZ,Mũi 1,01/08/2021,"Trạm Y tế Phường 9, Quận 3"',
    # 2: address and site unquoted: 11 fields for 9, one reading puts AZ / Mũi 2 / a date in place
    "2,Trần Thị Bích,11/09/1987,079187012346,97 Hai Bà Trưng, Khu phố 1, Phường Sài Gòn,AZ,Mũi 2,02/08/2021,Trạm Y tế Phường 9, Quận 3",
    # 3: a quote opened and never closed, address unquoted
    '"3,Lê Văn Cường,01/02/1970,079070012347,5 Nguyễn Trãi, Phường Bến Thành,Pfizer,1,03/08/2021,Điểm tiêm Nhà thi đấu',
    # 4: cut short: stays unparseable
    "4,Phạm Văn Dũng,02/03/1999",
    # 5: one field too many but no reading puts a vaccine, a dose and a date in place: kept aside
    "5,Võ Thị Em,02/03/1999,079199012348,1 Lê Lợi, AZ,Mũi 9,Mũi 1,04/08/2021,Trạm",
]


def test_unquoted_free_text_rebuilt_when_one_reading_is_valid(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    f = tmp_path / "2021-W31.csv"
    f.write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    b = ingest_file(store, f, MAPPING, latest=dt.date(2021, 12, 1)).batch
    assert b.balanced and b.rows_in == 5 and b.quarantined == 2
    recs = store.read_table("records").sort_values("row_number").reset_index(drop=True)
    assert recs["row_number"].tolist() == [1, 2, 3]
    assert recs["address_raw"][1] == "97 Hai Bà Trưng, Khu phố 1, Phường Sài Gòn"
    assert recs["site"][1] == "Trạm Y tế Phường 9, Quận 3"
    assert recs["vaccine"].tolist() == ["astrazeneca", "astrazeneca", "pfizer"]
    assert pd.to_datetime(recs["event_date"]).dt.day.tolist() == [1, 2, 3]
    assert ["row_repaired" in c.split(";") for c in recs["corrections"]] == [False, True, True]
    q = store.read_table("quarantine").sort_values("row_number")
    assert q["row_number"].tolist() == [4, 5] and set(q["reasons"]) == {"unparseable"}


def test_two_valid_readings_stay_unparseable(tmp_path: Path) -> None:
    # address and site side by side: where one ends and the other starts cannot be told
    f = tmp_path / "2021-W31.csv"
    f.write_text(
        "STT,Họ và tên,Ngày sinh,CCCD,Vắc xin,Mũi,Ngày tiêm,Địa chỉ,Điểm tiêm\n"
        "1,Võ Thị Em,02/03/1999,079199012348,AZ,Mũi 1,04/08/2021,1 Lê Lợi, Phường 1,Trạm Y tế\n",
        encoding="utf-8",
    )
    store = EmbeddedStore(tmp_path / "store")
    b = ingest_file(store, f, MAPPING, latest=dt.date(2021, 12, 1)).batch
    assert b.balanced and b.quarantined == 1 and not len(store.read_table("records"))


def test_spreadsheet_row_shifted_right_is_read_back(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.strip().split(","))
    good = [
        "1",
        "Nguyễn Văn An",
        "05/07/1980",
        "079080012345",
        "12 Lê Lợi",
        "AZ",
        "Mũi 1",
        "01/08/2021",
        "Trạm 1",
    ]
    ws.append(good)
    ws.append(
        [
            "",
            "2",
            "Trần Thị Bích",
            "11/09/1987",
            "079187012346",
            "97 Hai Bà Trưng",
            "AZ",
            "Mũi 2",
            "02/08/2021",
        ]
    )
    ws.append(["", "3", "", "", "", "", "", "", "x"])  # nothing valid either way: kept aside
    f = tmp_path / "2021-W31.xlsx"
    wb.save(f)
    mapping = parse_mapping(tomllib.loads(mapping_text("test-vax-x", format_="xlsx")))
    b = ingest_file(EmbeddedStore(tmp_path / "s"), f, mapping, latest=dt.date(2021, 12, 1)).batch
    assert b.balanced and b.rows_in == 3 and b.quarantined == 1
    recs = EmbeddedStore(tmp_path / "s").read_table("records").sort_values("row_number")
    assert recs["full_name"].tolist() == ["Nguyễn Văn An", "Trần Thị Bích"]
    assert recs["site"].tolist() == ["Trạm 1", ""]
    assert "row_repaired" in recs["corrections"].iloc[1].split(";")
