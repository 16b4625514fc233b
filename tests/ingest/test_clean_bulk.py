"""The bulk paths of reading and cleaning give exactly the answers of the per-value code they stand in for."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.clean import ids, phones
from risk.clean.dates import date_table, parse_one
from risk.clean.reasons import codes_where, join_codes, join_parts, mask_part, reopen_codes
from risk.clean.text import SMALL, _check_arrow, check_table, factorize_text, str_column
from risk.ingest.readers import _read_xlsx, _read_xlsx_pandas

DIGITS = st.text(alphabet="0123456789", min_size=0, max_size=13)
DMY = st.builds(
    lambda d, m, y: f"{d:02d}/{m:02d}/{y:04d}",
    st.integers(0, 35),
    st.integers(0, 14),
    st.integers(0, 9999),
)


def _values(draw_list: list[str]) -> np.ndarray:
    return np.array(list(dict.fromkeys(draw_list)), dtype=object)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(DMY, st.sampled_from(["01/01/1990", "29/02/2000", "29/02/1900", " 01/02/2020"])),
        max_size=50,
    )
)
def test_dates_in_bulk_equal_parse_one(values: list[str]) -> None:
    uniq = _values(values)
    latest, earliest = dt.date(2021, 12, 31), dt.date(2020, 1, 1)
    for kind, lo in (("birth", None), ("event", earliest)):
        t = date_table(uniq, kind, latest, lo)
        for i, v in enumerate(uniq.tolist()):
            d, precision, year, corr, bad = parse_one(v, kind, latest, lo)
            got = t["date"][i]
            assert (np.isnat(got) and d is None) or got == np.datetime64(d, "D")
            assert (t["precision"][i], t["year"][i], t["corrections"][i], t["bad"][i]) == (
                precision,
                -1 if year is None else year,
                corr,
                bad,
            )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(DIGITS, st.sampled_from(["079 201 001234", "B1234567", " 012345678", ""])), max_size=50
    )
)
def test_ids_in_bulk_equal_the_per_value_reading(values: list[str]) -> None:
    uniq = _values(values)
    t = ids.id_table(uniq)
    for i, v in enumerate(uniq.tolist()):
        want = ids._one(v)
        got = tuple(t[k][i] for k in ids._FORM)
        assert got[:7] == want[:7]
        assert all((np.isnan(a) and np.isnan(b)) or a == b for a, b in zip(got[7:], want[7:], strict=True))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(DIGITS, st.sampled_from(["+84 909 123 456", "01662345678", "0909.123.456"])), max_size=50
    )
)
def test_phones_in_bulk_equal_clean_one(values: list[str]) -> None:
    uniq = _values(values)
    t = phones.phone_table(uniq)
    assert [(p, c) for p, c in zip(t["phone"], t["corrections"], strict=True)] == [
        phones.clean_one(v) for v in uniq.tolist()
    ]


@settings(max_examples=10, deadline=None)
@given(st.lists(st.one_of(DIGITS, st.text(max_size=12)), max_size=40))
def test_text_checks_skip_plain_values_with_the_same_answers(values: list[str]) -> None:
    plain = [f"{i:06d}" for i in range(SMALL + 1)]  # enough distinct values for the Arrow path
    uniq = _values(plain + values)
    fast = check_table(uniq, 20, mojibake=True)
    slow = _check_arrow(pa.array(uniq, type=pa.string()), 20, True)
    for k in slow:
        assert fast[k].tolist() == slow[k].tolist(), k


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.sampled_from(["", "a", "a;b", "b;c", "c"])), max_size=30
    )
)
def test_join_parts_equals_join_codes(rows: list[tuple[bool, bool, str]]) -> None:
    n = len(rows)
    m1 = np.array([r[0] for r in rows], dtype=bool)
    m2 = np.array([r[1] for r in rows], dtype=bool)
    joined = np.array([r[2] for r in rows], dtype=object)
    want = join_codes(codes_where(m1, "name_case"), reopen_codes(joined), codes_where(m2, "name_case"))
    codes, uniq = pd.factorize(joined, use_na_sentinel=False)
    index, strings = join_parts(
        n,
        [
            mask_part(m1, "name_case"),
            (codes, reopen_codes(np.asarray(uniq, dtype=object))),
            mask_part(m2, "name_case"),
        ],
    )
    assert strings[index].tolist() == want.tolist()


def test_factorize_and_str_column_round_trip() -> None:
    s = pd.Series(["b", "a", "b", ""], dtype="str")
    codes, uniq = factorize_text(s)
    assert uniq[codes].tolist() == s.tolist()
    col = str_column(uniq, codes)
    assert pd.Series(col).equals(pd.Series(np.array(s.tolist(), dtype=object)))
    assert str_column(np.array([None], dtype=object), np.zeros(2, dtype=np.intp)).dtype == object


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_xlsx_cells_read_as_pandas_read_them(tmp_path: Path, seed: int) -> None:
    rnd = np.random.default_rng(seed)
    path = tmp_path / "a.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False})
    ws = wb.add_worksheet()
    fmt = wb.add_format({"num_format": "dd/mm/yyyy"})
    texts = ["", "NA", "null", " ", "Nguyễn Văn An", "=SUM(1)", "079201001234", "#N/A"]
    for c, h in enumerate(["Họ tên", "Ngày", "Số", "Họ tên"]):
        ws.write_string(0, c, h)
    for r in range(1, 40):
        for c in range(4):
            k = rnd.integers(0, 6)
            if k == 0:
                ws.write_string(r, c, texts[rnd.integers(0, len(texts))])
            elif k == 1 and c != 3:  # booleans beside numbers send a sheet to pandas
                ws.write_number(r, c, [1, 2.0, 1.5, 79201001234, -3][rnd.integers(0, 5)])
            elif k == 2 and c == 3:
                ws.write_boolean(r, c, bool(rnd.integers(0, 2)))
            elif k == 3:
                ws.write_datetime(
                    r, c, dt.datetime(2021, 5, int(rnd.integers(1, 28)), int(rnd.integers(0, 2)) * 13), fmt
                )
    wb.close()
    fast, slow = _read_xlsx(path, None), _read_xlsx_pandas(path, None)
    assert fast.data is not slow.data
    assert fast.header == slow.header
    pd.testing.assert_frame_equal(fast.data, slow.data, check_exact=True)
    assert fast.row_numbers.tolist() == slow.row_numbers.tolist()
