from pathlib import Path

import pytest
import xlsxwriter

from risk.ingest.errors import IngestError
from risk.ingest.readers import read_rows


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_keeps_every_row_and_text_as_written(tmp_path: Path) -> None:
    f = write(
        tmp_path / "a.csv",
        'Họ và tên,Ngày sinh,SĐT\nNguyễn Văn An,05/07/1980,0909123456\n"Trần Thị B,01/01/1990,0909\n'
        "Lê Văn C,1975,0168123456,extra\n\nPhạm D,02/03/1999,\n",
    )
    rows = read_rows(f)
    assert rows.header == ["Họ và tên", "Ngày sinh", "SĐT"]
    assert rows.data["SĐT"].tolist() == ["0909123456", ""]  # leading zero kept, no type guessing
    assert rows.row_numbers.tolist() == [1, 5]
    assert rows.unparseable["row_number"].tolist() == [2, 3]  # one stray quote spoils only its own line
    assert rows.rows_in == 4


def test_csv_with_bom(tmp_path: Path) -> None:
    rows = read_rows(write(tmp_path / "b.csv", "\ufeffHọ và tên\nAn\n"))
    assert rows.header == ["Họ và tên"] and rows.encoding == "utf-8-sig"


def test_legacy_encoding_is_rejected_with_where(tmp_path: Path) -> None:
    f = tmp_path / "legacy.csv"
    f.write_bytes("Họ tên\nNguyễn Văn An\n".encode("cp1258", errors="replace"))
    with pytest.raises(IngestError, match=r"legacy.csv.*not UTF-8.*line 1.*re-save it as UTF-8"):
        read_rows(f)


def test_xlsx_and_jsonl(tmp_path: Path) -> None:
    x = tmp_path / "a.xlsx"
    wb = xlsxwriter.Workbook(str(x))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["Họ và tên", "CCCD", "Ngày"])
    ws.write_row(1, 0, ["An", 79080012345, "05/08/2021"])
    ws.write_row(3, 0, ["Bình", "079080012346", "06/08/2021"])
    wb.close()
    rows = read_rows(x)
    assert rows.data["CCCD"].tolist() == ["79080012345", "079080012346"]
    assert rows.row_numbers.tolist() == [1, 3]  # the blank row 2 is not a row
    j = write(tmp_path / "a.jsonl", '{"ho_ten": "An", "n": 1}\n{broken\n\n["x"]\n{"ho_ten": "C"}\n')
    rows = read_rows(j)
    assert rows.data["ho_ten"].tolist() == ["An", "C"]
    assert rows.row_numbers.tolist() == [1, 5]
    assert rows.unparseable["row_number"].tolist() == [2, 4]


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        read_rows(tmp_path / "nope.csv")
    with pytest.raises(IngestError, match="extension"):
        read_rows(write(tmp_path / "x.doc", "a"))
