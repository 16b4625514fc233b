"""Deterministic linkage of event records (doses, tests, cases, contacts) to persons.

Rules, strongest first; a record links only when its key points to exactly one person:
1. `id`: the same identity number (a CCCD already checked against birth year and sex, or a CMND);
2. `name_dob_phone`: folded name + birth year + phone;
3. `name_dob_ward`: folded name + full birth date + ward.
Vietnamese names repeat (Nguyễn is ~38 % of people): no rule links on the name alone, and a key shared
by several persons links nobody. What stays unlinked is left for probabilistic linkage and review.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RULES: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("id", ("id_number",), 1.0),
    ("name_dob_phone", ("name_key", "birth_year", "phone"), 0.99),
    ("name_dob_ward", ("name_key", "birth_date", "ward_id"), 0.97),
)


def _key(frame: pd.DataFrame, cols: tuple[str, ...]) -> pd.Series:
    parts = []
    valid = np.ones(len(frame), dtype=bool)
    for c in cols:
        col = frame[c]
        text = col.astype("string").fillna("")
        valid &= (text != "").to_numpy()
        parts.append(text)
    key = parts[0]
    for p in parts[1:]:
        key = key + "|" + p
    return key.where(valid, None)


def link_events(records: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
    """Links (record_id, person_id, probability, method) for the records that match one person."""
    people = persons.copy()
    if "ward_id" not in people:
        people["ward_id"] = None
    remaining = records
    out = []
    for method, cols, prob in RULES:
        if not len(remaining):
            break
        pk = _key(people, cols)
        counts = pk.value_counts()
        unique = counts[counts == 1].index
        lookup = pd.Series(people["person_id"].to_numpy(), index=pk.to_numpy())
        lookup = lookup[lookup.index.isin(unique)]
        rk = _key(remaining, cols)
        hit = rk.isin(lookup.index).to_numpy()
        if hit.any():
            out.append(
                pd.DataFrame(
                    {
                        "record_id": remaining["record_id"].to_numpy()[hit],
                        "person_id": lookup.reindex(rk[hit].to_numpy()).to_numpy(),
                        "probability": np.float32(prob),
                        "method": method,
                    }
                )
            )
        remaining = remaining[~hit]
    if not out:
        return pd.DataFrame(columns=["record_id", "person_id", "probability", "method"])
    return pd.concat(out, ignore_index=True)
