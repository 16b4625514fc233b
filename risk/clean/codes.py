"""Coded fields (sex, vaccine, dose kind, test type, result, where found, isolation, outcome, relation)
mapped onto controlled lists kept as data in `vocab.toml`."""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path

import pandas as pd

from geo.vntext import fold, map_unique
from risk.clean.reasons import codes_where, join_codes

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


def map_codes(raw: pd.Series, fieldname: str, *, unknown_is_bad: bool = True) -> pd.DataFrame:
    """Map a coded column; returns `value`, `corrections` and `bad` (`code_unknown` when not in the list)."""
    table = vocabulary()[fieldname]
    text = raw.astype(object).where(raw.notna(), "").astype(str)
    folded = map_unique(text, lambda v: fold(v).strip(" .:;,"))
    value = map_unique(folded, lambda v: _lookup(str(v), table))
    empty = (folded == "").to_numpy()
    known = value.notna().to_numpy()
    changed = known & (text.to_numpy(dtype=object) != value.fillna("").to_numpy(dtype=object))
    unknown = ~empty & ~known
    return pd.DataFrame(
        {
            "value": value.where(value.notna(), None).to_numpy(dtype=object),
            "corrections": join_codes(codes_where(changed, "code_normalized")),
            "bad": join_codes(codes_where(unknown & unknown_is_bad, "code_unknown")),
        },
        index=raw.index,
    )


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
