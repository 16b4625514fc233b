import datetime as dt

import pandas as pd

from risk.clean.codes import map_codes, vocabulary
from risk.clean.dates import parse_dates
from risk.clean.ids import clean_ids
from risk.clean.names import clean_names
from risk.clean.phones import clean_phones


def test_names() -> None:
    out = clean_names(pd.Series(["NGUYỄN  VĂN AN", "nguyen van an", "=1+1", "Trần Thị Hoà"]))
    assert out["full_name"].tolist()[0] == "Nguyễn Văn An"
    assert out["name_key"].tolist()[:2] == ["nguyen van an", "nguyen van an"]
    assert "name_no_diacritics" in out["corrections"][1]
    assert (
        out["given_name"][3] == "Hòa" and out["family_name"][3] == "Trần" and out["middle_name"][3] == "Thị"
    )


def test_birth_dates_with_precision() -> None:
    s = pd.Series(
        ["05/07/1980", "1980", "01/01/1975", "31/02/1990", "1980-07-05", "29452", "07/1985", "12/12/2090"]
    )
    out = parse_dates(s, kind="birth")
    assert out["date"][0] == pd.Timestamp("1980-07-05")  # day first
    assert out["precision"].tolist() == ["day", "year", "year", "", "day", "day", "month", ""]
    assert out["corrections"][2] == "dob_placeholder"
    assert out["bad"][3] == "dob_impossible"
    assert out["date"][5] == pd.Timestamp("1980-08-19")  # Excel serial
    assert out["bad"][7] == "dob_future"


def test_event_dates_need_a_day_and_a_plausible_time() -> None:
    out = parse_dates(
        pd.Series(["05/08/2021", "2021", "01/11/2021", "05/08/2019"]),
        kind="event",
        latest=dt.date(2021, 10, 24),
        earliest=dt.date(2020, 1, 1),
    )
    assert out["bad"].tolist() == ["", "date_impossible", "date_future", "date_too_early"]


def test_ids_checked_against_birth_year_and_sex() -> None:
    raw = pd.Series(
        ["079080012345", "79080012345", "079 080 012 345", "023456789", "B1234567", "079180012345", "12"]
    )
    year = pd.Series([1980] * 7)
    sex = pd.Series(["M"] * 7)
    out = clean_ids(raw, year, sex)
    assert out["id_number"].tolist()[:3] == ["079080012345"] * 3
    assert out["id_kind"].tolist() == ["cccd", "cccd", "cccd", "cmnd", "passport", "cccd", ""]
    assert out["id_consistent"].tolist() == [True, True, True, False, False, False, False]
    assert "id_inconsistent" in out["corrections"][5]  # digit 4 = 1 means a woman
    assert "id_invalid" in out["corrections"][6]


def test_phones() -> None:
    out = clean_phones(pd.Series(["+84 909 123 456", "01681234567", "0123.456.7890", "028 3822 1234", "123"]))
    assert out["phone"].tolist() == ["0909123456", "0381234567", "0834567890", "02838221234", ""]
    assert "phone_invalid" in out["corrections"][4]


def test_codes_and_vocabulary_consistency() -> None:
    assert vocabulary()["dose_kind"]["m1"] == "mui_1"
    out = map_codes(pd.Series(["Mũi 1", "Nhắc lại", "Vero Cell", "xyz"]), "dose_kind")
    assert out["value"].tolist()[:2] == ["mui_1", "nhac_lai_1"]
    assert out["bad"].tolist()[3] == "code_unknown"


def _dose_fields(rows: list[dict[str, str]]) -> pd.DataFrame:
    from risk.ingest.sources import FIELDS

    base = {
        "full_name": "Nguyễn Văn An",
        "birth_date": "05/07/1980",
        "sex": "Nam",
        "id_number": "079080012345",
        "phone": "0909123456",
        "address": "12 Nguyễn Trãi, Phường Bến Thành",
        "vaccine": "AstraZeneca",
        "dose_kind": "Mũi 1",
        "event_date": "05/08/2021",
    }
    return pd.DataFrame([{f: {**base, **r}.get(f, "") for f in FIELDS} for r in rows])


def test_event_rows_drop_an_unusable_birth_date_and_keep_the_event() -> None:
    from risk.ingest.clean import clean_rows

    rows = [{"birth_date": v} for v in ("31/02/1980", "05/07/2030", "ngày sinh", "06/08/2021")]
    out = clean_rows(_dose_fields(rows), "dose", latest=dt.date(2021, 10, 24))
    assert out["bad"].tolist() == [""] * 4
    assert all("dob_dropped" in c.split(";") for c in out["corrections"])
    assert out["birth_date"].isna().all() and out["birth_year"].isna().all()
    # the CCCD is still checked against the sex, and used: it cannot be checked against a dropped year
    assert out["id_consistent"].all()
    # a registry row defines the person: the same birth dates keep it aside
    reg = clean_rows(
        _dose_fields(rows).assign(household_ref="HK-1", relation="Chủ hộ"),
        "registry",
        latest=dt.date(2021, 10, 24),
    )
    assert (reg["bad"] != "").all()


def test_formula_in_an_identity_field_of_an_event_row_is_dropped_not_kept() -> None:
    from risk.ingest.clean import clean_rows

    rows = [
        {"id_number": "=079080012345"},
        {"birth_date": "=DATE(1980,7,5)"},
        {"full_name": '=HYPERLINK("#";"Nguyễn Văn An")'},
        {"full_name": '=HYPERLINK("#";"Nguyễn Văn An")', "id_number": "023456789"},
    ]
    out = clean_rows(_dose_fields(rows), "dose", latest=dt.date(2021, 10, 24))
    assert out["bad"].tolist()[:3] == ["", "", ""]
    assert all("formula_identity_dropped" in c for c in out["corrections"][:3])
    assert out["id_number"][0] == "" and pd.isna(out["birth_date"][1]) and out["full_name"][2] == ""
    assert not out["full_name"].str.contains("HYPERLINK").any()
    # no name and no consistent CCCD to say whose dose it is: kept aside
    assert out["bad"][3] == "formula"


def test_nameless_event_row_needs_a_consistent_cccd_and_a_birth_year() -> None:
    from risk.ingest.clean import clean_rows

    rows = [
        {"full_name": ""},  # consistent CCCD, birth date: accepted, flagged
        {"full_name": "", "id_number": "079180012345"},  # CCCD says a woman born in the 1900s: not the record
        {"full_name": "", "id_number": "023456789"},  # a CMND carries no birth year or sex to check
        {"full_name": "", "birth_date": ""},
        {"full_name": "", "event_date": ""},
    ]
    out = clean_rows(_dose_fields(rows), "dose", latest=dt.date(2021, 10, 24))
    assert out["bad"][0] == "" and "name_missing" in out["corrections"][0]
    assert all("missing_required" in b for b in out["bad"][1:])
