"""Vietnamese text normalisation shared by address parsing, name cleaning and matching.

Three forms of any Vietnamese string are used across riskmap:

* the *original*, kept as received;
* the *normal form* (`normalize`): Unicode NFC, one tone-mark style (the traditional one used by most
  official names: "Hòa", "Thủy"), Đ not Ð, single spaces;
* the *folded key* (`fold`): diacritics removed, đ → d, lower case. Only for matching and blocking, never
  for display: names that differ only in tones are different names.

Per-record work is done on unique values (`map_unique`), so millions of rows that repeat a few thousand
names cost a few thousand calls.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

# Combining tone marks (the five tones other than level). Vowel-quality marks (circumflex, breve, horn)
# are not tones and stay on their letter.
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
_SPACES = re.compile(r"\s+")
# Control characters (C0 but tab/newline, DEL, C1) and the invisible format characters that turn up in
# pasted text: soft hyphen, zero-width and bidirectional marks, word joiners, byte-order marks.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb]"
)
# Characters that look like Đ/đ but are not (Icelandic eth, African D with stroke).
_D_LOOKALIKES = str.maketrans(
    {"\u00d0": "\u0110", "\u0189": "\u0110", "\u00f0": "\u0111", "\u0256": "\u0111"}
)
# Open syllables whose tone the "new" style puts on the second vowel: oa, oe, uy (not after q). The
# second vowel is plain: in NFD a dot below sorts before a circumflex, so "oậ" must not read as "oa".
_OPEN_PAIRS = re.compile(
    r"(?<![qQ])([oOuU])([aAeEyY])([\u0300\u0301\u0303\u0309\u0323])(?![\w\u0302\u0306\u031b])",
    flags=re.UNICODE,
)

# "qu" is a consonant: a tone written on its u belongs to the next vowel (Qúy → Quý).
_QU_TONE = re.compile(
    r"([qQ][uU])([\u0300\u0301\u0303\u0309\u0323])([aAeEiIoOyY][\u0302\u0306\u031b]?)", flags=re.UNICODE
)


def _move_tone_to_first(word_nfd: str) -> str:
    """hoà → hòa, thuỷ → thủy (NFD in, NFD out); closed syllables (hoàng) are left alone."""

    def repl(m: re.Match[str]) -> str:
        first, second, tone = m.group(1), m.group(2), m.group(3)
        # "o" + "a" only when the pair is oa/oe; "u" + "y" only for uy.
        if first.lower() == "o" and second.lower() not in "ae":
            return m.group(0)
        if first.lower() == "u" and second.lower() != "y":
            return m.group(0)
        return first + tone + second

    word_nfd = _QU_TONE.sub(lambda m: m.group(1) + m.group(3) + m.group(2), word_nfd)
    return _OPEN_PAIRS.sub(repl, word_nfd)


def normalize(text: object) -> str:
    """Normal form of a Vietnamese string for storage and display ("" for missing)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    s = str(text)
    if s.isascii():  # most feed values: no marks to move, only spacing and control characters
        return _SPACES.sub(" ", _CONTROL.sub("", s)).strip()
    s = _CONTROL.sub("", s.translate(_D_LOOKALIKES))
    s = unicodedata.normalize("NFD", s)
    s = _move_tone_to_first(s)
    s = unicodedata.normalize("NFC", s)
    return _SPACES.sub(" ", s).strip()


def fold(text: object) -> str:
    """Matching key: no diacritics, đ → d, lower case, single spaces."""
    s = normalize(text)
    s = unicodedata.normalize("NFD", s)
    s = "".join(ch for ch in s if unicodedata.category(ch) != "Mn")
    s = s.replace("đ", "d").replace("Đ", "D")
    return s.lower()


def strip_tones(text: object) -> str:
    """Remove only the tone marks, keeping vowel quality (ă, â, ê, ô, ơ, ư, đ): a common feed error."""
    s = unicodedata.normalize("NFD", normalize(text))
    s = "".join(ch for ch in s if ch not in _TONES)
    return unicodedata.normalize("NFC", s)


def title_case(text: object) -> str:
    """Vietnamese title case ("NGUYỄN văn AN" → "Nguyễn Văn An"), on the normal form."""
    return " ".join(w[:1].upper() + w[1:].lower() for w in normalize(text).split(" ") if w)


def has_diacritics(text: object) -> bool:
    """True when the string carries any Vietnamese diacritic (or đ)."""
    s = normalize(text)
    return fold(s) != s.lower()


def map_unique(values: pd.Series | np.ndarray | list, func: Callable[[object], object]) -> pd.Series:
    """Apply a per-string function once per distinct value and broadcast the result back."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.array([func(u) for u in uniques], dtype=object)
    out = np.empty(len(series), dtype=object)
    valid = codes >= 0
    out[valid] = mapped[codes[valid]]
    out[~valid] = func(None)
    return pd.Series(out, index=series.index, dtype=object)
