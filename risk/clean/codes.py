"""Coded fields (sex, vaccine, dose kind, test type, result, where found, isolation, outcome, relation)
mapped onto controlled lists kept as data in `vocab.toml`."""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from geo.vntext import fold

VOCAB_FILE = Path(__file__).with_name("vocab.toml")


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, dict[str, str]]:
    """field → folded alias → canonical value."""
    with open(VOCAB_FILE, "rb") as fh:
        raw = tomllib.load(fh)
    out: dict[str, dict[str, str]] = {}
    for fieldname, values in raw.items():
        table: dict[str, str] = {}
        for canonical, aliases in values.items():
            for alias in [canonical, *aliases]:
                key = fold(alias)
                if key in table and table[key] != canonical:
                    raise ValueError(
                        f"vocab.toml: alias {alias!r} of {fieldname} means both {table[key]} and {canonical}"
                    )
                table[key] = canonical
        out[fieldname] = table
    return out


def canonical_values(fieldname: str) -> list[str]:
    return sorted(set(vocabulary()[fieldname].values()))


def code_table(uniq: np.ndarray, fieldname: str, *, unknown_is_bad: bool = True) -> dict[str, np.ndarray]:
    """Per distinct text (an object array of str): `value` (None when not in the list), `corrections`
    (`code_normalized`) and `bad` (`code_unknown` when not in the list), aligned with `uniq`."""
    table = vocabulary()[fieldname]
    folded = [fold(v).strip(" .:;,") for v in uniq.tolist()]
    value = np.array([_lookup(f, table) for f in folded], dtype=object)
    empty = np.array([f == "" for f in folded], dtype=bool)
    known = np.array([v is not None for v in value.tolist()], dtype=bool)
    changed = known & (uniq != np.where(known, value, "")) if len(uniq) else known
    unknown = ~empty & ~known
    return {
        "value": value,
        "corrections": np.where(changed, "code_normalized", "").astype(object),
        "bad": np.where(unknown & unknown_is_bad, "code_unknown", "").astype(object),
    }


def map_codes(raw: pd.Series, fieldname: str, *, unknown_is_bad: bool = True) -> pd.DataFrame:
    """Map a coded column; returns `value`, `corrections` and `bad` (`code_unknown` when not in the list)."""
    text = raw.astype(object).where(raw.notna(), "").astype(str)
    codes, uniq = pd.factorize(text.to_numpy(dtype=object), use_na_sentinel=False)
    t = code_table(np.asarray(uniq, dtype=object), fieldname, unknown_is_bad=unknown_is_bad)
    return pd.DataFrame({k: v[codes] for k, v in t.items()}, index=raw.index)


_PAREN = re.compile(r"\s*\(([^)]*)\)\s*")


def _lookup(folded: str, table: dict[str, str]) -> str | None:
    """The canonical value of a folded text: as a whole, else without or inside its brackets
    ("pfizer (comirnaty)" → pfizer)."""
    if folded in table:
        return table[folded]
    outside = _PAREN.sub(" ", folded).strip()
    inside = " ".join(_PAREN.findall(folded)).strip()
    for candidate in (outside, inside):
        if candidate in table:
            return table[candidate]
    return None
