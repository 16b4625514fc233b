"""Turn a source's mapped fields into cleaned records plus, per row, what was corrected and what is bad.

Each field goes through its rule module in `risk.clean` (names, dates, IDs, phones, coded values); this
module only wires them to the record layout and adds the row-level rules (required fields, formulas,
control characters, over-long values).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from risk.clean.codes import map_codes
from risk.clean.dates import parse_dates
from risk.clean.ids import clean_ids
from risk.clean.names import clean_names
from risk.clean.phones import clean_phones
from risk.clean.reasons import codes_where, join_codes
from risk.clean.text import text_checks
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
    # The working columns are plain object arrays: pandas 3 would otherwise turn each back into its
    # Arrow string dtype on every assignment and out of it on every read (most of the cleaning time).
    f: dict[str, np.ndarray] = {}
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
        col = fields[c]
        if not len(col) or (col.nunique() == 1 and str(col.iloc[0]) == ""):
            f[c] = np.full(n, "", dtype=object)
            continue
        chk = text_checks(col, settings.max_field_chars, mojibake=c in MOJIBAKE_FIELDS)
        f[c] = chk["text"].to_numpy(dtype=object).copy()
        had_control |= chk["control"].to_numpy(bool)
        too_long |= chk["too_long"].to_numpy(bool)
        if event_kind and c in IDENTITY_FIELDS:
            hit = chk["formula"].to_numpy(bool)
            identity_formula |= hit
            if c == "full_name":
                name_formula = hit
            f[c][hit] = ""
        elif c in KEY_FIELDS:
            formula |= chk["formula"].to_numpy(bool)
        elif c in SOFT_FORMULA_FIELDS:
            hit = chk["formula_text"].to_numpy(bool)
            soft_formula |= hit
            f[c][hit] = ""
        if c == "address":
            address_mojibake = chk["mojibake"].to_numpy(bool)
            f[c][address_mojibake] = ""
        elif c in ("full_name", "family_name", "given_name", "middle_name"):
            mojibake |= chk["mojibake"].to_numpy(bool)

    def col(c: str) -> pd.Series:
        return pd.Series(f[c], index=idx, dtype=object)

    names = clean_names(col("full_name"))
    births = parse_dates(
        pd.Series(np.where(f["birth_date"] != "", f["birth_date"], f["birth_year"]), index=idx, dtype=object),
        kind="birth",
        latest=latest,
    )
    events = parse_dates(col("event_date"), kind="event", latest=latest, earliest=settings.epidemic_start)
    # Born after the event it records (vaccinated, tested, reported) cannot be.
    after_event = (births["date"] > events["date"]).to_numpy(dtype=bool)
    dob_dropped = np.zeros(n, dtype=bool)
    if event_kind:
        dob_dropped = after_event | births["bad"].astype(str).str.contains("|".join(DOB_BAD)).to_numpy()
        births = _drop_births(births, dob_dropped)
        after_event = np.zeros(n, dtype=bool)
    sex = map_codes(col("sex"), "sex", unknown_is_bad=False)
    ids = clean_ids(col("id_number"), births["year"], sex["value"])
    phones = clean_phones(col("phone"))
    exposure = parse_dates(
        col("exposure_date"), kind="event", latest=latest, earliest=settings.epidemic_start
    )

    required_missing = np.zeros(n, dtype=bool)
    for r in REQUIRED[kind]:
        if r == "full_name":
            continue
        required_missing |= f[r] == ""
    no_name = (names["full_name"].astype(str) == "").to_numpy()
    # An event row without a name is still someone's event when a CCCD consistent with the birth year
    # names the person (deterministic linkage's own key; the name is never guessed, linkage fills it);
    # without both it stays aside.
    nameless_ok = (
        event_kind
        & no_name
        & (ids["id_kind"].to_numpy(dtype=object) == "cccd")
        & ids["id_consistent"].to_numpy(dtype=bool)
        & births["year"].notna().to_numpy()
    )
    required_missing |= no_name & ~nameless_ok & ~name_formula
    formula |= no_name & ~nameless_ok & name_formula  # the name was a formula: say so, not "missing"

    coded = {c: map_codes(col(c), c) for c in CODED[kind]}
    out = pd.DataFrame(
        {
            "full_name_raw": fields["full_name"].astype(str).to_numpy(),
            "full_name": names["full_name"],
            "name_key": names["name_key"],
            "birth_date": births["date"],
            "birth_precision": births["precision"],
            "birth_year": births["year"],
            "sex": sex["value"],
            "id_number": ids["id_number"],
            "id_kind": ids["id_kind"],
            "phone": phones["phone"],
            "address_raw": f["address"],
            "event_date": events["date"],
            "site": f["site"],
            "contact_of": f["contact_of"],
            "source_ref": f["source_ref"],
            "household_ref": col("household_ref").astype(str).str.upper().str.replace(r"\s+", "", regex=True),
        },
        index=idx,
    )
    out["exposure_date"] = exposure["date"]
    for c, mapped in coded.items():
        out[c] = mapped["value"]
    if "pooled" in out:
        out["pooled"] = out["pooled"].map({"true": True, "false": False}).astype("boolean")
    out["corrections"] = join_codes(
        codes_where(had_control, "control_chars"),
        _codes(names["corrections"]),
        _codes(births["corrections"]),
        _codes(ids["corrections"]),
        _codes(phones["corrections"]),
        _codes(events["corrections"]),
        *(_codes(m["corrections"]) for m in coded.values()),
        codes_where(sex["value"].isna().to_numpy(), "sex_unknown"),
        codes_where((f["address"] == "") & ~address_mojibake, "address_missing"),
        codes_where(address_mojibake, "address_mojibake"),
        codes_where(soft_formula, "formula_dropped"),
        codes_where(identity_formula, "formula_identity_dropped"),
        codes_where(dob_dropped, "dob_dropped"),
        codes_where(nameless_ok, "name_missing"),
    )
    out["bad"] = join_codes(
        codes_where(required_missing, "missing_required"),
        codes_where(formula, "formula"),
        codes_where(too_long, "too_long"),
        codes_where(mojibake, "text_mojibake"),
        codes_where(after_event, "dob_after_event"),
        _codes(names["bad"]),
        _codes(births["bad"]) if not event_kind else np.full(n, "", dtype=object),
        _codes(events["bad"]),
        *(_codes(m["bad"]) for m in coded.values()),
    )
    out["id_consistent"] = ids["id_consistent"].to_numpy()
    for c in ("family_name", "middle_name", "given_name"):
        out[c] = names[c].to_numpy()
    return out


def _drop_births(births: pd.DataFrame, drop: np.ndarray) -> pd.DataFrame:
    """Birth dates that cannot be used removed (date, precision, year), their codes with them."""
    b = births.copy()
    b.loc[drop, "date"] = pd.NaT
    b.loc[drop, "precision"] = None
    b.loc[drop, "year"] = pd.NA
    b.loc[drop, "corrections"] = ""
    b.loc[drop, "bad"] = ""
    return b


def _codes(joined: pd.Series) -> np.ndarray:
    """Re-open a ';'-joined code column so it can be joined with others (per distinct value)."""
    codes, uniq = pd.factorize(np.asarray(joined, dtype=object), use_na_sentinel=False)
    reopened = np.array(["" if pd.isna(u) or str(u) == "" else f"{u};" for u in uniq], dtype=object)
    return reopened[codes] if len(uniq) else np.full(len(joined), "", dtype=object)
