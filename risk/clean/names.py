"""Person names: one normal form for display, a folded key for matching, the parts, and what was fixed.

Vietnamese names are family name first, given name last ("Nguyễn Văn An"). The original is kept by the
caller; the normal form is NFC, traditional tone placement, Đ not Ð, single spaces and title case. The
folded key (no diacritics) is for matching only: names that differ only in tones are different names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.vntext import fold, has_diacritics, title_case
from risk.clean.reasons import codes_where, join_codes

MAX_NAME_LENGTH = 80


def _one(raw: object) -> tuple[str, str, str, str, str, bool, bool, bool]:
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return ("", "", "", "", "", False, False, False)
    text = str(raw)
    letters = "".join(ch for ch in text if ch.isalpha() or ch == " ")
    name = title_case(letters)
    parts = name.split(" ") if name else []
    family = parts[0] if parts else ""
    given = parts[-1] if len(parts) > 1 else ""
    middle = " ".join(parts[1:-1]) if len(parts) > 2 else ""
    changed = name != text
    invalid = bool(text.strip()) and not name
    no_marks = bool(name) and not has_diacritics(name)
    return (name, fold(name), family, middle, given, changed, invalid, no_marks)


def clean_names(raw: pd.Series) -> pd.DataFrame:
    """Normal form, folded key, parts and reason codes for a column of names (one call per distinct value)."""
    codes, uniques = pd.factorize(raw.astype(object), use_na_sentinel=True)
    table = [_one(u) for u in uniques]
    cols = list(zip(*table, strict=True)) if table else [()] * 8
    empty = _one(None)

    def take(i: int) -> np.ndarray:
        values = np.array([*list(cols[i]), empty[i]], dtype=object)
        return values[np.where(codes >= 0, codes, len(values) - 1)]

    changed, invalid, no_marks = take(5).astype(bool), take(6).astype(bool), take(7).astype(bool)
    too_long = raw.astype(object).fillna("").astype(str).str.len().to_numpy() > MAX_NAME_LENGTH
    return pd.DataFrame(
        {
            "full_name": take(0),
            "name_key": take(1),
            "family_name": take(2),
            "middle_name": take(3),
            "given_name": take(4),
            "corrections": join_codes(
                codes_where(changed & ~invalid, "name_normalized"),
                codes_where(no_marks, "name_no_diacritics"),
            ),
            "bad": join_codes(codes_where(invalid, "name_invalid"), codes_where(too_long, "too_long")),
        },
        index=raw.index,
    )
