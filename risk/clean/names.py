"""Person names: one normal form for display, a folded key for matching, the parts, and what was fixed.

Vietnamese names are family name first, given name last ("Nguyễn Văn An"). The original is kept by the
caller; the normal form is NFC, traditional tone placement (Hòa, not Hoà), Đ not Ð, single spaces and
title case. The folded key (no diacritics) is for matching only: names that differ only in tones are
different names.

The same rules as `geo.vntext.normalize` / `fold` (a test checks they agree), on a fast path: NFC and
translation tables in C, the tone-placement rewrite only for the few names that need it. Results are
cached per distinct raw value across files, so a weekly file's names cost only the ones not seen yet.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd

from geo.vntext import normalize as vn_normalize
from risk.clean.reasons import codes_where, join_codes

MAX_NAME_LENGTH = 80
_D_LOOKALIKES = str.maketrans(
    {"\u00d0": "\u0110", "\u0189": "\u0110", "\u00f0": "\u0111", "\u0256": "\u0111"}
)
# NFC text that may need the tone moved (oà, oé, uý … at a word's end, or a tone on the u of qu).
_MAY_NEED_TONE_MOVE = re.compile(r"[oOuU][àáảãạÀÁẢÃẠèéẻẽẹÈÉẺẼẸỳýỷỹỵỲÝỶỸỴ](?!\w)|[qQ][ùúủũụÙÚỦŨỤ]")
_SPACE = re.compile(r"\s+")


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in range(0x80, 0x2000):
        ch = chr(cp)
        if not ch.isalpha():
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if unicodedata.category(c) != "Mn")
        if base != ch and base.isascii():
            table[cp] = base
    table[ord("đ")] = "d"
    table[ord("Đ")] = "D"
    for cp in range(0x300, 0x370):  # stray combining marks
        table[cp] = ""
    return table


_FOLD = str.maketrans(_fold_table())


def normal_form(text: str) -> str:
    """NFC, Đ not Ð, traditional tone placement, single spaces (same as `geo.vntext.normalize` on
    text without control characters)."""
    s = unicodedata.normalize("NFC", text.translate(_D_LOOKALIKES))
    if _MAY_NEED_TONE_MOVE.search(s):
        s = vn_normalize(s)
    return _SPACE.sub(" ", s).strip()


def fold_fast(text: str) -> str:
    """Matching key of a normal-form string: no diacritics, đ → d, lower case."""
    return text.translate(_FOLD).lower()


# flags of one distinct raw name
_F_CHANGED, _F_INVALID, _F_NO_MARKS, _F_UNICODE, _F_TONE, _F_CASE, _F_SPACE, _F_D, _F_STRIPPED = range(9)


@lru_cache(maxsize=1 << 19)
def _one(text: str) -> tuple[str, str, str, str, str, int]:
    """(normal, key, family, middle, given, flags bitmask) of one raw name."""
    if not text:
        return ("", "", "", "", "", 0)
    flags = 0
    nfc = unicodedata.normalize("NFC", text)
    if nfc != text:
        flags |= 1 << _F_UNICODE
    if nfc.translate(_D_LOOKALIKES) != nfc:
        flags |= 1 << _F_D
    letters = "".join(ch for ch in nfc if ch.isalpha() or ch.isspace())
    if _SPACE.sub(" ", letters).strip() != _SPACE.sub(" ", nfc).strip():
        flags |= 1 << _F_STRIPPED
    spaced = _SPACE.sub(" ", nfc).strip()
    if spaced != nfc:
        flags |= 1 << _F_SPACE
    norm = normal_form(letters)
    if norm != _SPACE.sub(" ", unicodedata.normalize("NFC", letters.translate(_D_LOOKALIKES))).strip():
        flags |= 1 << _F_TONE
    words = norm.split(" ") if norm else []
    name = " ".join(w[:1].upper() + w[1:].lower() for w in words)
    if name != norm:
        flags |= 1 << _F_CASE
    if name != text:
        flags |= 1 << _F_CHANGED
    if text.strip() and not name:
        flags |= 1 << _F_INVALID
    key = fold_fast(name)
    if name and key == name.lower():
        flags |= 1 << _F_NO_MARKS
    parts = name.split(" ") if name else []
    family = parts[0] if parts else ""
    given = parts[-1] if len(parts) > 1 else ""
    middle = " ".join(parts[1:-1]) if len(parts) > 2 else ""
    return (name, key, family, middle, given, flags)


def name_table(uniq: np.ndarray) -> dict[str, np.ndarray]:
    """Per distinct name text (an object array of str): `full_name`, `name_key`, the parts, and the
    `corrections` and `bad` codes (';'-joined), aligned with `uniq`."""
    table = [_one(u) for u in uniq.tolist()]
    cols = list(zip(*table, strict=True)) if table else [()] * 6
    flags = np.asarray(cols[5], dtype=np.int64)

    def flag(bit: int) -> np.ndarray:
        return (flags >> bit) & 1 == 1

    invalid = flag(_F_INVALID)
    too_long = np.fromiter((len(u) > MAX_NAME_LENGTH for u in uniq.tolist()), dtype=bool, count=len(uniq))
    return {
        "full_name": np.asarray(cols[0], dtype=object),
        "name_key": np.asarray(cols[1], dtype=object),
        "family_name": np.asarray(cols[2], dtype=object),
        "middle_name": np.asarray(cols[3], dtype=object),
        "given_name": np.asarray(cols[4], dtype=object),
        "corrections": join_codes(
            codes_where(flag(_F_UNICODE) & ~invalid, "name_unicode"),
            codes_where(flag(_F_D) & ~invalid, "name_d_lookalike"),
            codes_where(flag(_F_TONE) & ~invalid, "name_tone_style"),
            codes_where(flag(_F_CASE) & ~invalid, "name_case"),
            codes_where(flag(_F_SPACE) & ~invalid, "name_spacing"),
            codes_where(flag(_F_STRIPPED) & ~invalid, "name_symbols"),
            codes_where(flag(_F_NO_MARKS), "name_no_diacritics"),
        ),
        "bad": join_codes(codes_where(invalid, "name_invalid"), codes_where(too_long, "too_long")),
    }


def clean_names(raw: pd.Series) -> pd.DataFrame:
    """Normal form, folded key, parts and reason codes for a column of names (one call per distinct value)."""
    text = raw.astype(object).where(raw.notna(), "").astype(str)
    codes, uniques = pd.factorize(text.to_numpy(dtype=object), use_na_sentinel=False)
    table = name_table(np.asarray(uniques, dtype=object))
    return pd.DataFrame({k: v[codes] for k, v in table.items()}, index=raw.index)
