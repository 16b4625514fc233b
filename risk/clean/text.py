"""Checks on raw text values that apply to any field: control characters, spreadsheet formulas, values
too long to be real, and Vietnamese typed in a legacy encoding (TCVN3/ABC, VNI) that reached us as
UTF-8 mojibake ("NguyÔn V¨n An", "Nguyeãn Vaên An").

A file in a legacy encoding is rejected by the reader (it is not valid UTF-8). Mojibake *inside* valid
UTF-8 happens when such text was pasted into a Unicode spreadsheet: the bytes were decoded once with the
wrong table and saved again. It cannot be repaired with certainty, so it is detected per value and the
row is kept aside with a clear reason instead of being matched as a garbled name.

Every check runs once per distinct value (`by_distinct`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
# A spreadsheet would run these as formulas (OWASP's CSV-injection list); in key fields they are never
# real values. `formula_text` excludes signed numbers ("+84 909 123 456"), which phones legitimately are.
FORMULA = re.compile(r"^\s*[=@+\-]")
_SIGNED_NUMBER = re.compile(r"^\s*[+\-][\d\s.]*$")

# Latin-1 characters that legacy tables produce and Vietnamese never uses (TCVN3 puts ă â ê ô ơ ư đ and
# many toned vowels on ¨ © ª « ¬ ­ ® µ ¶ · ¸ ¹ …; VNI puts tones on ø û ï ö ä ë ò…).
_TCVN3_MARKS = set("¨©ª«¬®µ¶·¸¹")  # never in a real name or address, foreign or not
_LEGACY_MARKS = set("¯°±²³´º»¼½¾¿ÄÅÆÇËÎÏÑÖ×ØÛÜÞßäåæçëîïñö÷øûüþÿ")  # twice in one value: legacy text
# VNI: a base vowel followed by a separate tone/hat character ("Vaên" for Văn, "Nguyeãn" for Nguyễn).
_VNI_PAIR = re.compile(r"[aeAE][àáảãạâăêôơưầấẩẫậằắẳẵặềếểễệồốổỗộờớởỡợ]|[oO][âêôÂÊÔ]")


def looks_mojibake(text: str) -> bool:
    """True for text that looks like TCVN3/VNI Vietnamese decoded with the wrong table."""
    if not text or text.isascii():
        return False
    return bool(_MOJIBAKE_PY.search(unicodedata.normalize("NFC", text)))


def by_distinct(values: pd.Series, func: Callable[[pd.Series], pd.DataFrame]) -> pd.DataFrame:
    """Run a vectorised cleaning function on the distinct values of a column and spread the result back.

    Feeds repeat values (names, dates, vaccines, addresses): a million rows hold a few hundred thousand
    distinct names and a few thousand dates, so this cuts the work by the repetition factor.
    """
    arr = values.to_numpy(dtype=object, na_value="")
    codes, uniques = pd.factorize(arr, use_na_sentinel=False)
    if len(uniques) and not all(isinstance(u, str) for u in uniques[:5]):
        uniques = np.array([str(u) for u in uniques], dtype=object)
    out = func(pd.Series(uniques, dtype=object))
    # text results stay object arrays: letting pandas infer its Arrow string dtype here would convert
    # every row's value to Arrow and back again in the caller
    spread = {}
    for c in out.columns:
        taken = out[c].to_numpy()[codes]
        spread[c] = pd.Series(taken, index=values.index, dtype=object) if taken.dtype == object else taken
    return pd.DataFrame(spread, index=values.index)


_RX_CONTROL = r"[\x{00}-\x{08}\x{0b}\x{0c}\x{0e}-\x{1f}\x{7f}\x{200b}-\x{200f}\x{2028}\x{2029}\x{feff}]"
_RX_FORMULA = r"^\s*[=@+\-]"
_RX_SIGNED_NUMBER = r"^\s*[+\-][\d\s.]*$"
# One stray odd pair is a typo ("Hoâi"); legacy text garbles most words, so it takes two (or one TCVN3
# mark, which no keyboard produces).
_ODD = "[a-zà-ỹ][ÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝĂĐĨŨƠƯ][a-zà-ỹ]|" + _VNI_PAIR.pattern
_LEGACY = "[" + "".join(sorted(_LEGACY_MARKS)) + "]"
_RX_MOJIBAKE = "|".join(
    [
        "[" + "".join(sorted(_TCVN3_MARKS)) + "]",
        _LEGACY + ".*" + _LEGACY,
        f"(?:{_ODD}).*(?:{_ODD})",
        f"{_LEGACY}.*(?:{_ODD})|(?:{_ODD}).*{_LEGACY}",
    ]
)
_MOJIBAKE_PY = re.compile(_RX_MOJIBAKE)


SMALL = 2_000  # below this many distinct values a cached Python check beats Arrow's per-call cost
_FORMULA_PY = re.compile(_RX_FORMULA)
_SIGNED_PY = re.compile(_RX_SIGNED_NUMBER)


@lru_cache(maxsize=1 << 18)
def _check_one(v: str, max_chars: int, mojibake: bool) -> tuple[str, bool, bool, bool, bool, bool]:
    control = bool(CONTROL.search(v))
    text = CONTROL.sub(" ", v).strip() if control else v.strip()
    formula = bool(_FORMULA_PY.match(text))
    return (
        text,
        control,
        len(v) > max_chars,
        formula,
        formula and not _SIGNED_PY.match(text),
        mojibake and looks_mojibake(text),
    )


def check_table(uniq: np.ndarray, max_chars: int, *, mojibake: bool = True) -> dict[str, np.ndarray]:
    """`text_checks` on distinct values (an object array of str): one array per result, aligned with
    `uniq`. Few values go through a cached Python check, many through Arrow's regular-expression kernels
    (the same choice `text_checks` makes, so both give the same answers)."""
    names = ("text", "control", "too_long", "formula", "formula_text", "mojibake")
    if len(uniq) <= SMALL:
        rows = [_check_one(v, max_chars, mojibake) for v in uniq.tolist()]
        cols = list(zip(*rows, strict=True)) if rows else [()] * 6
        return {
            k: np.array(v, dtype=object if k == "text" else bool) for k, v in zip(names, cols, strict=True)
        }
    arr = pa.array(uniq, type=pa.string())
    # Plain ASCII letters, digits and slashes (IDs, phones, dates) have nothing to remove or flag but
    # their length: only the other values go through the regular expressions.
    plain = pc.match_substring_regex(arr, r"^[0-9A-Za-z/]*$").to_numpy(zero_copy_only=False).astype(bool)
    if plain.sum() > len(plain) // 2:
        out = {
            "text": uniq.copy(),
            "too_long": pc.greater(pc.utf8_length(arr), max_chars)
            .to_numpy(zero_copy_only=False)
            .astype(bool),
        }
        for k in ("control", "formula", "formula_text", "mojibake"):
            out[k] = np.zeros(len(uniq), dtype=bool)
        rest = np.flatnonzero(~plain)
        if len(rest):
            for k, v in _check_arrow(arr.take(pa.array(rest)), max_chars, mojibake).items():
                out[k][rest] = v
        return out
    return _check_arrow(arr, max_chars, mojibake)


def _check_arrow(arr: pa.Array, max_chars: int, mojibake: bool) -> dict[str, np.ndarray]:
    control = pc.match_substring_regex(arr, _RX_CONTROL)
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, _RX_CONTROL, " "))
    formula = pc.match_substring_regex(text, _RX_FORMULA)
    signed = pc.match_substring_regex(text, _RX_SIGNED_NUMBER)
    out = {
        "text": text.to_numpy(zero_copy_only=False).astype(object),
        "control": control.to_numpy(zero_copy_only=False).astype(bool),
        "too_long": pc.greater(pc.utf8_length(arr), max_chars).to_numpy(zero_copy_only=False).astype(bool),
        "formula": formula.to_numpy(zero_copy_only=False).astype(bool),
        "formula_text": pc.and_(formula, pc.invert(signed)).to_numpy(zero_copy_only=False).astype(bool),
    }
    if mojibake:
        nfc = pc.utf8_normalize(text, "NFC")
        out["mojibake"] = (
            pc.match_substring_regex(nfc, _RX_MOJIBAKE).to_numpy(zero_copy_only=False).astype(bool)
        )
    else:
        out["mojibake"] = np.zeros(len(arr), dtype=bool)
    return out


def text_checks(values: pd.Series, max_chars: int, *, mojibake: bool = True) -> pd.DataFrame:
    """Per value: cleaned text (control characters removed, stripped) and booleans `control`, `too_long`,
    `formula` (any leading = @ + -), `formula_text` (the same but not a signed number), `mojibake` (only
    when asked). Runs once per distinct value (`check_table`)."""
    return by_distinct(
        values, lambda u: pd.DataFrame(check_table(u.to_numpy(dtype=object), max_chars, mojibake=mojibake))
    )


_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def factorize_text(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values) of a text column, missing values read as ''; the distinct values are an
    object array of str. Arrow-backed columns are encoded by Arrow without a Python object per row."""
    if (
        isinstance(values, pd.Series)
        and isinstance(values.dtype, pd.StringDtype)
        and values.dtype.storage == "pyarrow"
    ):
        arr = pa.array(values.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if arr.null_count:
            arr = pc.fill_null(arr, "")
        enc = pc.dictionary_encode(arr)
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
        uniq = enc.dictionary.to_numpy(zero_copy_only=False).astype(object, copy=False)
        return codes, uniq
    arr = (
        values.to_numpy(dtype=object, na_value="")
        if isinstance(values, pd.Series)
        else np.asarray(values, dtype=object)
    )
    codes, uniq = pd.factorize(arr, use_na_sentinel=False)
    if len(uniq) and not all(isinstance(u, str) for u in uniq.tolist()):
        uniq = np.array(
            ["" if u is None or (isinstance(u, float) and np.isnan(u)) else str(u) for u in uniq.tolist()],
            dtype=object,
        )
    return codes.astype(np.intp, copy=False), np.asarray(uniq, dtype=object)


def str_column(uniq: np.ndarray, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """pandas' text column (`str` dtype, Arrow-backed) of `uniq[codes]` (None for missing), built by an
    Arrow take: the same column as pandas infers from the object array, without a Python object per row
    (an empty column, or one with no text at all, stays an object array, as pandas infers that too)."""
    if not len(codes) or not any(isinstance(u, str) for u in uniq.tolist()):
        return np.asarray(uniq, dtype=object)[np.asarray(codes, dtype=np.intp)]
    arr = pa.array(np.asarray(uniq, dtype=object), type=pa.string())
    return pd.array(arr.take(pa.array(np.asarray(codes, dtype=np.int64))), dtype=_STR)
