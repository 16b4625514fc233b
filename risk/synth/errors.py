"""The error kinds feed rows carry, their default shares, and vectorised ways to make them.

`ERROR_KINDS` is the one table of defaults: each kind's share is the probability that an *eligible* row
gets it (a name without an `oa`/`uy` syllable cannot change tone style; a person without a CMND cannot
show it), before the source's own habits (`SOURCE_FACTORS`) and `--error-rate` multiply it. Kinds of one
field that exclude each other are drawn together (at most one of them per row). A row's errors are a
bitmask (bit i = ERROR_KINDS[i]); `summary.json` reports the shares that resulted.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import compress

import numpy as np


@dataclass(frozen=True)
class ErrorKind:
    code: str
    field: str
    share: float  # default probability for an eligible row
    bad: bool  # the row cannot be used as is (ground truth bad = true)
    fix: str  # what cleaning can do: yes, flag, linkable, ambiguous, duplicate, bad
    what: str


ERROR_KINDS: tuple[ErrorKind, ...] = (
    ErrorKind("name_no_diacritics", "name", 0.040, False, "yes", "Nguyen Van An"),
    ErrorKind("name_case", "name", 0.040, False, "yes", "NGUYỄN VĂN AN, nguyễn văn an"),
    ErrorKind("name_spacing", "name", 0.020, False, "yes", "doubled, leading or trailing spaces"),
    ErrorKind("name_nfd", "name", 0.015, False, "yes", "decomposed Unicode (NFD)"),
    ErrorKind("name_tone_style", "name", 0.300, False, "yes", "Hoà for Hòa (names with oa/oe/uy only)"),
    ErrorKind("name_typo", "name", 0.010, False, "linkable", "one letter changed, dropped or swapped"),
    ErrorKind(
        "dob_day_month_swapped", "dob", 0.020, False, "ambiguous", "07/05/1980 for 5 Jul 1980 (both ≤ 12)"
    ),
    ErrorKind("dob_year_only", "dob", 0.030, False, "flag", "1980"),
    ErrorKind("dob_placeholder", "dob", 0.010, False, "flag", "01/01/1980 for a real date"),
    ErrorKind(
        "dob_format", "dob", 0.020, False, "yes", "1980-07-05, 5/7/80, 05-07-1980, 05.07.1980, Excel serial"
    ),
    ErrorKind("dob_impossible", "dob", 0.002, True, "bad", "31/02/1980, a birth after the file's week"),
    ErrorKind("id_missing", "id", 0.030, False, "linkable", "empty ID although the person has one"),
    ErrorKind("id_typo", "id", 0.010, False, "flag", "one digit wrong"),
    ErrorKind("id_cmnd", "id", 0.120, False, "yes", "the old 9-digit CMND instead of the CCCD"),
    ErrorKind("id_spaces", "id", 0.020, False, "yes", "079 080 012 345, or leading zeros lost"),
    ErrorKind("phone_plus84", "phone", 0.030, False, "yes", "+84 909 123 456, 84909123456"),
    ErrorKind("phone_old_prefix", "phone", 0.040, False, "yes", "pre-2018 11-digit mobile (0168…)"),
    ErrorKind("phone_format", "phone", 0.040, False, "yes", "0909.123.456, 0909 123 456, 0909-123-456"),
    ErrorKind("addr_abbrev", "address", 0.200, False, "yes", "P., Q., Đ., KP, TP.HCM, HCM"),
    ErrorKind("addr_no_diacritics", "address", 0.050, False, "yes", "So 5 Nguyen Trai"),
    ErrorKind("addr_old_ward", "address", 0.100, False, "yes", "the 2021–2024 ward and district (P.7, Q.3)"),
    ErrorKind("addr_missing_ward", "address", 0.010, False, "geocoder", "no ward at all"),
    ErrorKind("date_format", "date", 0.020, False, "yes", "the event date in another format"),
    ErrorKind("date_future", "date", 0.001, True, "bad", "event date after the file's week"),
    ErrorKind("date_impossible", "date", 0.001, True, "bad", "31/09/2021, 00/08/2021, 15/13/2021"),
    ErrorKind(
        "vaccine_alias", "vaccine", 0.100, False, "yes", "AZ, Astra, Pfizer-BioNTech, Vero Cell, Sinopharm"
    ),
    ErrorKind("dose_kind_alias", "dose_kind", 0.080, False, "yes", "M1, 1, mui 2, Bổ sung, Nhắc lại"),
    ErrorKind(
        "duplicate_cross_site", "row", 0.020, False, "duplicate", "the same dose reported by a second site"
    ),
    ErrorKind("duplicate_exact", "row", 0.003, False, "duplicate", "the same row twice in one file"),
    ErrorKind("unparseable", "row", 0.002, True, "bad", "broken quoting, wrong number of fields, garbage"),
    ErrorKind("missing_required", "row", 0.002, True, "bad", "no name, or no event date"),
    ErrorKind("formula", "row", 0.001, False, "bad in a key field", "a cell starting with =, +, -, @"),
)
CODES = tuple(k.code for k in ERROR_KINDS)
BIT = {k.code: np.int64(1) << np.int64(i) for i, k in enumerate(ERROR_KINDS)}
KIND = {k.code: k for k in ERROR_KINDS}
# bad rows name one reason, the first of these that applies
BAD_PRIORITY = (
    "unparseable",
    "missing_required",
    "formula",
    "dob_impossible",
    "date_impossible",
    "date_future",
)

# Source habits: multipliers of the defaults (a ward station's list is typed from paper forms …).
SOURCE_FACTORS: dict[str, dict[str, float]] = {
    "ho-khau": {"*": 0.5, "addr_old_ward": 0.0, "dob_year_only": 0.3},
    "tiem-chung-hcdc": {},
    "tiem-chung-bv": {"name_case": 2.0},
    "tiem-chung-tyt": {
        "dob_year_only": 15.0,
        "name_no_diacritics": 2.0,
        "addr_no_diacritics": 2.0,
        "addr_abbrev": 1.5,
    },
    "xet-nghiem-cdc": {"dob_year_only": 5.0},
    "xet-nghiem-nhanh": {"dob_year_only": 20.0, "name_case": 2.0, "id_missing": 2.0},
    "ca-benh": {},
    "tiep-xuc": {"phone_format": 2.0, "id_missing": 2.0},
}
# kinds drawn together (at most one per row)
EXCLUSIVE = (
    ("dob_day_month_swapped", "dob_year_only", "dob_placeholder", "dob_format", "dob_impossible"),
    ("id_missing", "id_typo", "id_cmnd", "id_spaces"),
    ("phone_plus84", "phone_old_prefix", "phone_format"),
    ("addr_old_ward", "addr_missing_ward"),
    ("date_format", "date_future", "date_impossible"),
    ("unparseable", "missing_required", "formula"),
    ("name_no_diacritics", "name_nfd", "name_tone_style"),
)
# kinds planned elsewhere (they add rows rather than change one)
ROW_ADDING = ("duplicate_cross_site", "duplicate_exact")
MAX_SHARE = 0.95


def share(code: str, source: str, error_rate: float) -> float:
    """The configured probability of a kind for an eligible row of a source."""
    f = SOURCE_FACTORS.get(source, {})
    factor = f.get(code, f.get("*", 1.0))
    return min(MAX_SHARE, KIND[code].share * factor * error_rate)


def plan(
    rng: np.random.Generator, n: int, eligible: dict[str, np.ndarray], source: str, error_rate: float
) -> np.ndarray:
    """Error bitmask per row: independent kinds by Bernoulli, exclusive groups by one categorical draw."""
    mask = np.zeros(n, dtype=np.int64)
    if n == 0 or error_rate <= 0:
        return mask
    grouped = {c for g in EXCLUSIVE for c in g}
    for code in CODES:
        if code in grouped or code in ROW_ADDING or code not in eligible:
            continue
        p = share(code, source, error_rate)
        hit = eligible[code] & (rng.random(n) < p)
        mask[hit] |= BIT[code]
    for group in EXCLUSIVE:
        codes = [c for c in group if c in eligible]
        if not codes:
            continue
        probs = np.column_stack([np.where(eligible[c], share(c, source, error_rate), 0.0) for c in codes])
        total = probs.sum(axis=1)
        scale = np.where(total > MAX_SHARE, MAX_SHARE / np.maximum(total, 1e-12), 1.0)
        cum = np.cumsum(probs * scale[:, None], axis=1)
        u = rng.random(n)
        pick = (cum < u[:, None]).sum(axis=1)
        for i, c in enumerate(codes):
            mask[pick == i] |= BIT[c]
    return mask


def has(mask: np.ndarray, code: str) -> np.ndarray:
    return (mask & BIT[code]) != 0


def codes_of(mask: np.ndarray) -> np.ndarray:
    """';'-joined codes per row (computed once per distinct mask)."""
    uniq, inv = np.unique(mask, return_inverse=True)
    bits = ((uniq[:, None] >> np.arange(len(CODES), dtype=np.int64)) & 1).astype(bool).tolist()
    text = np.array([";".join(compress(CODES, row)) for row in bits], dtype=object)
    return text[inv]


def bad_reason(mask: np.ndarray, formula_in_key: np.ndarray) -> np.ndarray:
    """The reason that makes each row bad ('' for usable rows)."""
    out = np.full(len(mask), "", dtype=object)
    for code in reversed(BAD_PRIORITY):
        hit = has(mask, code)
        if code == "formula":
            hit &= formula_in_key
        out[hit] = code
    return out


# ---------------------------------------------------------------------------------------------------
# text transformations (applied to small vocabularies, or vectorised over rows)

_TONES = "\u0300\u0301\u0303\u0309\u0323"
_NEW_STYLE = re.compile(
    r"(?<![qQ])([oO])([" + _TONES + r"])([aAeE])(?!\w)|(?<![qQ])([uU])([" + _TONES + r"])([yY])(?!\w)"
)


def strip_diacritics(text: str) -> str:
    """'Nguyễn Văn Đạt' → 'Nguyen Van Dat' (case kept, unlike geo.vntext.fold)."""
    s = unicodedata.normalize("NFD", text)
    s = "".join(ch for ch in s if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", s.replace("đ", "d").replace("Đ", "D"))


def new_tone_style(text: str) -> str:
    """'Hòa' → 'Hoà', 'Thủy' → 'Thuỷ': the tone on the second vowel of open oa/oe/uy syllables."""
    s = unicodedata.normalize("NFD", text)

    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(1) + m.group(3) + m.group(2)
        return m.group(4) + m.group(6) + m.group(5)

    return unicodedata.normalize("NFC", _NEW_STYLE.sub(repl, s))


_LETTERS = np.array(
    [ord(c) for c in "aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạéèẻẽẹíìỉĩịóòỏõọúùủũụýỳỷỹỵ"], dtype=np.uint32
)


def typo(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One letter changed, dropped or swapped with the next, per string (vectorised on code points)."""
    if not len(values):
        return values
    arr = np.asarray(values, dtype=str)
    width = max(arr.dtype.itemsize // 4, 2)
    arr = arr.astype(f"<U{width + 1}")
    codes = arr.view(np.uint32).reshape(len(arr), width + 1).copy()
    length = (codes != 0).sum(axis=1)
    letter = (codes != 0) & (codes != 32)
    # a random letter position per row (not the first: initials are rarely mistyped)
    score = np.where(letter, rng.random(codes.shape), -1.0)
    score[:, 0] = np.where(length > 1, -0.5, score[:, 0])
    pos = score.argmax(axis=1)
    rows = np.arange(len(arr))
    op = rng.integers(0, 3, len(arr))
    can_swap = (pos + 1 < length) & (codes[rows, np.minimum(pos + 1, width)] != 32)
    op = np.where((op == 2) & ~can_swap, 0, op)
    # change: another letter (an ASCII capital for a capital)
    orig = codes[rows, pos]
    new = _LETTERS[rng.integers(0, len(_LETTERS), len(arr))]
    is_upper = (orig >= 65) & (orig <= 90)
    new = np.where(is_upper, np.uint32(65) + rng.integers(0, 26, len(arr)).astype(np.uint32), new)
    new = np.where(new == orig, np.where(orig == 97, 101, 97), new).astype(np.uint32)
    change = op == 0
    codes[rows[change], pos[change]] = new[change]
    swap = op == 2
    a = codes[rows[swap], pos[swap]].copy()
    codes[rows[swap], pos[swap]] = codes[rows[swap], pos[swap] + 1]
    codes[rows[swap], pos[swap] + 1] = a
    drop = op == 1
    if drop.any():
        cols = np.arange(width + 1)
        src = np.where(
            cols[None, :] >= pos[drop][:, None], np.minimum(cols[None, :] + 1, width), cols[None, :]
        )
        shifted = np.take_along_axis(codes[drop], src, axis=1)
        shifted[:, -1] = 0
        codes[drop] = shifted
    out = codes.reshape(-1).view(f"<U{width + 1}")
    return out.astype(object)


def digit_typo(values: np.ndarray, digits: int, rng: np.random.Generator) -> np.ndarray:
    """One digit of each fixed-width number changed (int64 in, int64 out)."""
    pos = rng.integers(0, digits, len(values))
    place = np.int64(10) ** pos.astype(np.int64)
    old = (values // place) % 10
    new = (old + rng.integers(1, 10, len(values))) % 10
    return values + (new - old) * place
