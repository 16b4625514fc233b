"""Turn a source's mapped fields into cleaned records plus, per row, what was corrected and what is bad.

Each field goes through its rule module in `risk.clean` (names, dates, IDs, phones, coded values); this
module only wires them to the record layout and adds the row-level rules (required fields, formulas,
control characters, over-long values).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from risk.clean.codes import code_table
from risk.clean.dates import date_table, year_array
from risk.clean.ids import id_consistent, id_table
from risk.clean.names import name_table
from risk.clean.phones import phone_table
from risk.clean.reasons import join_parts, mask_part, reopen_codes
from risk.clean.text import check_table, factorize_text, str_column
from risk.ingest.settings import ingest_settings
from risk.ingest.sources import FIELDS, REQUIRED

KEY_FIELDS = ("full_name", "id_number", "birth_date", "household_ref")
# Formulas elsewhere (address, phone) are suspicious but not fatal: the value is dropped, the row kept.
SOFT_FORMULA_FIELDS = ("address", "phone")
# In an event row (a dose, a test, a case, a contact) the event is the payload and name, ID and birth date
# only say whose it is: a formula or an unusable birth date there loses that one value (dropped with a
# flag, never kept), and linkage finds the person from the rest. A registry row defines a person, so
# there the same faults keep the row aside.
IDENTITY_FIELDS = ("full_name", "id_number", "birth_date")
DOB_BAD = ("dob_impossible", "dob_future", "dob_unreadable")
MOJIBAKE_FIELDS = ("full_name", "family_name", "middle_name", "given_name", "address")
CODED = {
    "dose": ("vaccine", "dose_kind"),
    "test": ("test_type", "result", "pooled"),
    "case": ("found_in", "isolation", "outcome"),
    "contact": ("isolation",),
    "registry": ("relation",),
}


def clean_rows(fields: pd.DataFrame, kind: str, *, latest: dt.date) -> pd.DataFrame:
    """Clean mapped fields of one kind; returns record columns plus `corrections` and `bad` code lists."""
    settings = ingest_settings()
    n = len(fields)
    idx = fields.index
    # Every field is held as (codes, text per distinct raw value): each rule runs once per distinct
    # value, row-level results are integer takes, and no pandas object is built per step (with pandas
    # 3 each would convert every row to its Arrow string dtype and back).
    cols: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    had_control = np.zeros(n, dtype=bool)
    too_long = np.zeros(n, dtype=bool)
    formula = np.zeros(n, dtype=bool)
    soft_formula = np.zeros(n, dtype=bool)
    mojibake = np.zeros(n, dtype=bool)
    address_mojibake = np.zeros(n, dtype=bool)
    event_kind = kind != "registry"
    identity_formula = np.zeros(n, dtype=bool)
    name_formula = np.zeros(n, dtype=bool)
    for c in FIELDS:
        codes, uniq = factorize_text(fields[c])
        if not n or (len(uniq) == 1 and uniq[0] == ""):
            cols[c] = (np.zeros(n, dtype=np.intp), np.array([""], dtype=object))
            continue
        chk = check_table(uniq, settings.max_field_chars, mojibake=c in MOJIBAKE_FIELDS)
        text = chk["text"].copy()
        had_control |= _rows(chk["control"], codes)
        too_long |= _rows(chk["too_long"], codes)
        if event_kind and c in IDENTITY_FIELDS:
            hit = _rows(chk["formula"], codes)
            identity_formula |= hit
            if c == "full_name":
                name_formula = hit
            text[chk["formula"]] = ""
        elif c in KEY_FIELDS:
            formula |= _rows(chk["formula"], codes)
        elif c in SOFT_FORMULA_FIELDS:
            soft_formula |= _rows(chk["formula_text"], codes)
            text[chk["formula_text"]] = ""
        if c == "address":
            address_mojibake = _rows(chk["mojibake"], codes)
            text[chk["mojibake"]] = ""
        elif c in ("full_name", "family_name", "given_name", "middle_name"):
            mojibake |= _rows(chk["mojibake"], codes)
        cols[c] = (codes, text)

    def empty(c: str) -> np.ndarray:
        codes, text = cols[c]
        return (text == "")[codes]

    name_codes, name_text = cols["full_name"]
    names = name_table(name_text)
    birth_codes, birth_text = _first_of(cols["birth_date"], cols["birth_year"])
    births = date_table(birth_text, "birth", latest)
    event_codes, event_text = cols["event_date"]
    events = date_table(event_text, "event", latest, settings.epidemic_start)
    birth_date = births["date"][birth_codes]
    event_date = events["date"][event_codes]
    birth_year = births["year"][birth_codes]
    # Born after the event it records (vaccinated, tested, reported) cannot be.
    after_event = birth_date > event_date
    dob_dropped = np.zeros(n, dtype=bool)
    birth_corr = (birth_codes, reopen_codes(births["corrections"]))
    birth_bad = (birth_codes, reopen_codes(births["bad"]))
    precision = births["precision"][birth_codes]
    if event_kind:
        unusable = np.array([any(b in v for b in DOB_BAD) for v in births["bad"].tolist()], dtype=bool)
        dob_dropped = after_event | _rows(unusable, birth_codes)
        # Birth dates that cannot be used removed (date, precision, year), their codes with them.
        birth_date[dob_dropped] = np.datetime64("NaT")
        precision[dob_dropped] = None
        birth_year[dob_dropped] = -1
        birth_corr = _blank_where(birth_corr, dob_dropped)
        after_event = np.zeros(n, dtype=bool)
    sex_codes, sex_text = cols["sex"]
    sex_table = code_table(sex_text, "sex", unknown_is_bad=False)
    sex_value = sex_table["value"][sex_codes]
    id_codes, id_text = cols["id_number"]
    ids = id_table(id_text)
    year = np.where(birth_year < 0, np.nan, birth_year.astype(float))
    consistent = id_consistent(ids, id_codes, year, sex_value)
    id_kind = ids["kind"][id_codes]
    phone_codes, phone_text = cols["phone"]
    phones = phone_table(phone_text)
    exposure_codes, exposure_text = cols["exposure_date"]
    exposure = date_table(exposure_text, "event", latest, settings.epidemic_start)

    required_missing = np.zeros(n, dtype=bool)
    for r in REQUIRED[kind]:
        if r == "full_name":
            continue
        required_missing |= empty(r)
    no_name = (names["full_name"] == "")[name_codes]
    # An event row without a name is still someone's event when a CCCD consistent with the birth year
    # names the person (deterministic linkage's own key; the name is never guessed, linkage fills it);
    # without both it stays aside.
    nameless_ok = event_kind & no_name & (id_kind == "cccd") & consistent & (birth_year >= 0)
    required_missing |= no_name & ~nameless_ok & ~name_formula
    formula |= no_name & ~nameless_ok & name_formula  # the name was a formula: say so, not "missing"

    coded = {c: (cols[c][0], code_table(cols[c][1], c)) for c in CODED[kind]}
    hh_codes, hh_text = cols["household_ref"]
    household = pd.Series(hh_text, dtype=object).astype(str).str.upper().str.replace(r"\s+", "", regex=True)
    full_name_raw = fields["full_name"].astype(str)
    out = pd.DataFrame(
        {
            # as pandas would infer it from the values (all missing: an object column)
            "full_name_raw": full_name_raw.array
            if full_name_raw.dtype == "str" and full_name_raw.count()
            else full_name_raw.to_numpy(),
            "full_name": str_column(names["full_name"], name_codes),
            "name_key": str_column(names["name_key"], name_codes),
            "birth_date": birth_date.astype("datetime64[s]"),
            "birth_precision": pd.array(precision, dtype=_STR) if n else precision,
            "birth_year": year_array(birth_year),
            "sex": str_column(sex_table["value"], sex_codes),
            "id_number": str_column(ids["number"], id_codes),
            "id_kind": str_column(ids["kind"], id_codes),
            "phone": str_column(phones["phone"], phone_codes),
            "address_raw": str_column(*cols["address"][::-1]),
            "event_date": event_date.astype("datetime64[s]"),
            "site": str_column(*cols["site"][::-1]),
            "contact_of": str_column(*cols["contact_of"][::-1]),
            "source_ref": str_column(*cols["source_ref"][::-1]),
            "household_ref": str_column(household.to_numpy(dtype=object), hh_codes),
        },
        index=idx,
    )
    out["exposure_date"] = exposure["date"][exposure_codes].astype("datetime64[s]")
    for c, (codes, mapped) in coded.items():
        out[c] = str_column(mapped["value"], codes)
    if "pooled" in out:
        out["pooled"] = out["pooled"].map({"true": True, "false": False}).astype("boolean")
    address_empty = empty("address")
    corrections = join_parts(
        n,
        [
            mask_part(had_control, "control_chars"),
            (name_codes, reopen_codes(names["corrections"])),
            birth_corr,
            (id_codes, reopen_codes(ids["corrections"])),
            mask_part((ids["kind"] == "cccd")[id_codes] & ~consistent, "id_inconsistent"),
            (phone_codes, reopen_codes(phones["corrections"])),
            (event_codes, reopen_codes(events["corrections"])),
            *((codes, reopen_codes(m["corrections"])) for codes, m in coded.values()),
            mask_part(pd.isna(sex_value), "sex_unknown"),
            mask_part(address_empty & ~address_mojibake, "address_missing"),
            mask_part(address_mojibake, "address_mojibake"),
            mask_part(soft_formula, "formula_dropped"),
            mask_part(identity_formula, "formula_identity_dropped"),
            mask_part(dob_dropped, "dob_dropped"),
            mask_part(nameless_ok, "name_missing"),
        ],
    )
    bad = join_parts(
        n,
        [
            mask_part(required_missing, "missing_required"),
            mask_part(formula, "formula"),
            mask_part(too_long, "too_long"),
            mask_part(mojibake, "text_mojibake"),
            mask_part(after_event, "dob_after_event"),
            (name_codes, reopen_codes(names["bad"])),
            *([birth_bad] if not event_kind else []),
            (event_codes, reopen_codes(events["bad"])),
            *((codes, reopen_codes(m["bad"])) for codes, m in coded.values()),
        ],
    )
    out["corrections"] = str_column(corrections[1], corrections[0])
    out["bad"] = str_column(bad[1], bad[0])
    out["id_consistent"] = consistent
    for c in ("family_name", "middle_name", "given_name"):
        out[c] = str_column(names[c], name_codes)
    if not n:  # no rows: the column types every caller has seen for an empty file
        out = out.astype(_EMPTY_TYPES)
    return out


_EMPTY_TYPES = {
    "full_name_raw": object,
    "birth_date": "datetime64[ns]",
    "event_date": "datetime64[ns]",
    "exposure_date": "datetime64[ns]",
    "household_ref": "str",
}


_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def _rows(flags: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """A per-distinct-value flag spread to the rows (all false without a take when none is set)."""
    return flags[codes] if flags.any() else np.zeros(len(codes), dtype=bool)


def _first_of(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per row a's text where it is not empty, else b's, as (codes, distinct texts)."""
    (ac, at), (bc, bt) = a, b
    if len(bt) == 1:
        return ac, np.where(at != "", at, bt[0]).astype(object)
    key, pairs = pd.factorize(ac.astype(np.int64) * len(bt) + bc)
    ai, bi = pairs // len(bt), pairs % len(bt)
    return key.astype(np.intp), np.where(at[ai] != "", at[ai], bt[bi]).astype(object)


def _blank_where(part: tuple[np.ndarray, np.ndarray], mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A `join_parts` part with nothing in the masked rows."""
    codes, labels = part
    return np.where(mask, len(labels), codes), np.append(labels, "").astype(object)
