"""Random and hostile values through every parser and the cleaner: nothing crashes, every row is
accounted for (rows in = accepted + corrected + quarantined + duplicates)."""

from __future__ import annotations

import json
import tomllib
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.vntext import fold, normalize
from risk.clean.names import fold_fast, normal_form
from risk.clean.text import looks_mojibake
from risk.ingest.clean import clean_rows
from risk.ingest.errors import IngestError
from risk.ingest.pipeline import ingest_file
from risk.ingest.sources import FIELDS, parse_mapping
from risk.store.embedded import EmbeddedStore

HEADERS = ["Họ và tên", "Ngày sinh", "CCCD", "SĐT", "Địa chỉ", "Vắc xin", "Mũi", "Ngày tiêm"]
MAPPING = parse_mapping(
    tomllib.loads(
        """
[source]
id = "hostile"
kind = "dose"
[fields]
full_name = ["Họ và tên"]
birth_date = ["Ngày sinh"]
id_number = ["CCCD"]
phone = ["SĐT"]
address = ["Địa chỉ"]
vaccine = ["Vắc xin"]
dose_kind = ["Mũi"]
event_date = ["Ngày tiêm"]
"""
    )
)
HOSTILE = st.sampled_from(
    [
        "",
        " ",
        '=HYPERLINK("http://x";"Nguyễn Văn An")',
        "@SUM(A1:A9)",
        "+cmd|' /C calc'!A0",
        "-2+3",
        "\x00\x01\x1b[31m",
        "a" * 5000,
        "NguyÔn V¨n An",  # TCVN3 read as Latin-1
        "Nguyeãn Vaên An",  # VNI read as Latin-1
        unicodedata.normalize("NFD", "Trần Thị Hoà"),
        "ÐẶNG VĂN ÐỨC",
        "31/02/2021",
        "00/00/0000",
        "99999999999999999999",
        "1e308",
        "NaN",
        "None",
        "null",
        '"',
        '""',
        ",,,",
        ";;",
        "\t",
        "\u200b\ufeff",
        "𝔑𝔤𝔲𝔶𝔢𝔫",
        "中文名字",
        "🙂",
    ]
)
VALUE = st.one_of(HOSTILE, st.text(max_size=60), st.text(alphabet=st.characters(codec="utf-8"), max_size=20))


def _csv_cell(v: str) -> str:
    v = v.replace("\r", " ").replace("\n", " ")
    return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"') else v


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(VALUE, min_size=len(HEADERS), max_size=len(HEADERS)), max_size=12))
def test_clean_rows_never_crash(rows: list[list[str]]) -> None:
    frame = pd.DataFrame(rows, columns=HEADERS) if rows else pd.DataFrame(columns=HEADERS)
    fields = pd.DataFrame({f: [""] * len(frame) for f in FIELDS})
    for h, f in zip(
        HEADERS,
        ["full_name", "birth_date", "id_number", "phone", "address", "vaccine", "dose_kind", "event_date"],
        strict=True,
    ):
        fields[f] = frame[h].astype(str).to_numpy() if len(frame) else []
    out = clean_rows(fields, "dose", latest=pd.Timestamp("2021-12-31").date())
    assert len(out) == len(frame)
    assert out["bad"].map(type).eq(str).all() and out["corrections"].map(type).eq(str).all()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(VALUE, min_size=len(HEADERS), max_size=len(HEADERS)), max_size=10), data=st.data()
)
def test_every_row_accounted_for(
    tmp_path_factory: pytest.TempPathFactory, fmt: str, rows: list[list[str]], data
) -> None:
    d = tmp_path_factory.mktemp("hostile")
    path = d / f"f.{fmt}"
    garbage = data.draw(st.lists(st.text(max_size=40), max_size=3))
    if fmt == "csv":
        lines = [",".join(HEADERS)] + [",".join(_csv_cell(v) for v in r) for r in rows]
        lines += [g.replace("\n", " ").replace("\r", " ") for g in garbage]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    elif fmt == "jsonl":
        lines = [json.dumps(dict(zip(HEADERS, r, strict=True)), ensure_ascii=False) for r in rows]
        lines += [g.replace("\n", " ").replace("\r", " ") for g in garbage]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    else:
        wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False})
        ws = wb.add_worksheet()
        ws.write_row(0, 0, HEADERS)
        for i, r in enumerate(rows, start=1):
            for j, v in enumerate(r):
                ws.write_string(i, j, "".join(c for c in v if c.isprintable() or c == " ")[:32000])
        wb.close()
    store = EmbeddedStore(d / "store")
    try:
        result = ingest_file(store, path, MAPPING, latest=pd.Timestamp("2021-12-31").date())
    except IngestError as exc:
        # a whole file can be refused (no header, missing columns, not UTF-8) but only with a reason
        assert str(exc)
        assert store.count("records") == 0
        return
    b = result.batch
    assert b.balanced
    assert b.rows_in == store.count("records") + store.count("quarantine") + b.duplicates
    if fmt != "xlsx":
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()[1 if fmt == "csv" else 0 :]
        assert b.rows_in == sum(1 for t in text if t.strip())


def test_utf8_with_legacy_mojibake_is_kept_aside_with_a_reason(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_text(
        ",".join(HEADERS) + "\n"
        "NguyÔn V¨n An,05/07/1980,,,1 Lê Lợi,AZ,1,01/08/2021\n"
        "Nguyễn Văn An,05/07/1980,,,Sè 1 Lª Lîi,AZ,1,01/08/2021\n",
        encoding="utf-8",
    )
    store = EmbeddedStore(tmp_path / "s")
    r = ingest_file(store, f, MAPPING, latest=pd.Timestamp("2021-12-31").date())
    assert (r.batch.quarantined, r.batch.accepted + r.batch.corrected) == (1, 1)
    q = store.read_table("quarantine")
    assert q["reasons"].tolist() == ["text_mojibake"] and "TCVN3" in q["message"][0]
    rec = store.read_table("records")
    assert "address_mojibake" in rec["corrections"][0] and rec["address_raw"][0] == ""


def test_legacy_encoded_file_is_rejected_whole(tmp_path: Path) -> None:
    f = tmp_path / "legacy.csv"
    f.write_bytes(
        (",".join(HEADERS) + "\nNguyễn Văn An,1980,,,,AZ,1,01/08/2021\n").encode("cp1258", "replace")
    )
    store = EmbeddedStore(tmp_path / "s")
    with pytest.raises(IngestError, match="legacy Vietnamese encoding"):
        ingest_file(store, f, MAPPING)
    assert not store.list_batches()


NAMEISH = st.text(
    alphabet=st.sampled_from(
        [*"aăâeêioôơuưyđAĂÂEÊIOÔƠUƯYĐÐnghtqkl ", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"]
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(NAMEISH)
def test_fast_name_forms_agree_with_vntext(text: str) -> None:
    assert normal_form(text) == normalize(text)
    assert fold_fast(normal_form(text)) == fold(text)


def test_mojibake_detector() -> None:
    for bad in ("NguyÔn V¨n An", "Nguyeãn Vaên An", "Traàn Thò Hoaø"):
        assert looks_mojibake(bad), bad
    for good in (
        "Nguyễn Văn An",
        "Hoàng Thị Thuỷ",
        "Nguyễn Thị Hoâi Kim",
        "Müller Hans",
        "Xuân Lộc",
        "Nguyen Van An",
    ):
        assert not looks_mojibake(good), good
