"""Fast paths of `geo.vntext` for the address parser, exact to the reference functions.

Addresses are short strings made of a few thousand distinct words, so normalising and folding per word
with a cache is much cheaper than per character. `normalize` here returns exactly what
`vntext.normalize` returns (a test checks it on arbitrary text): text that could hold control or other
special characters goes through the reference function; everything else is split at whitespace (which is
where the reference collapses spaces anyway) and each word is normalised once.
"""

from __future__ import annotations

import re

from geo.vntext import fold as _ref_fold
from geo.vntext import normalize as _ref_normalize

# Characters for which per-word work is the same as the reference: printable ASCII, tab and new line
# (kept by the reference as spaces; a carriage return it removes), Latin
# letters (without the soft hyphen, a format character) and combining diacritics.
_SAFE = re.compile(r"[\t\n\x20-\x7e\u00a0-\u00ac\u00ae-\u024f\u0300-\u036f\u1e00-\u1eff]*")
_CACHE_LIMIT = 500_000

_word_norm: dict[str, str] = {}
_word_fold: dict[str, str] = {}


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in list(range(0x41, 0x5B)) + list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):
        f = _ref_fold(chr(cp))
        if len(f) == 1 and f != chr(cp):
            table[cp] = f
    return table


_FOLD = _fold_table()


def ffold(s: str) -> str:
    """Fold text already in normal form (NFC), one character for one: index i of the result is character
    i of the input. Equal to `vntext.fold` for Vietnamese text."""
    return s.translate(_FOLD)


def normalize(text: object) -> str:
    """`vntext.normalize`, cached per word."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    s = str(text)
    if _SAFE.fullmatch(s) is None:
        return _ref_normalize(s)
    # within the safe characters, whitespace is tab, new line, space and no-break space: what both `\s`
    # and `str.split` split at
    words = s.split()
    if s.isascii():
        return " ".join(words)  # printable ASCII words are their own normal form
    get = _word_norm.get
    out = [w if w.isascii() else get(w) for w in words]  # ASCII words (house numbers) are never cached
    if None in out:
        for k, n in enumerate(out):
            if n is None:
                w = words[k]
                n = _word_norm.get(w)
                if n is None:
                    if len(_word_norm) > _CACHE_LIMIT:
                        _word_norm.clear()
                    n = _word_norm[w] = _ref_normalize(w)
                out[k] = n
    if "" in out:
        out = [n for n in out if n]
    return " ".join(out)


def fold_word(w: str) -> str:
    """Folded form of one token of normalised text (cached)."""
    if w.isascii():
        return w.lower()
    f = _word_fold.get(w)
    if f is None:
        if len(_word_fold) > _CACHE_LIMIT:
            _word_fold.clear()
        f = _word_fold[w] = _ref_fold(w)
    return f
