"""Field values as sites write them, clean or with the errors a row was planned to carry.

Everything works on whole columns: names and addresses are joined from small vocabularies that are
prepared once in every variant (normal, without diacritics, new tone style, abbreviated …), dates and
numbers are formatted with Arrow compute kernels, and per-row noise (typos, swapped digits) is numpy.
A rendered column is a `Cells` value: the text of each cell plus, for spreadsheets, an optional number
(Excel date serials, years, numbers that lost their leading zeros) that a cell holds instead of text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from risk.synth import errors as er
from risk.synth import names as nm
from risk.synth.identity import OLD_PREFIX
from risk.synth.population import EPOCH

EXCEL_EPOCH_OFFSET = 25569  # days from 1899-12-30 (Excel's day 0) to 1970-01-01


@dataclass
class Cells:
    """One rendered column: text per row, and where `number` is not NaN the cell is that number."""

    text: pa.Array
    number: np.ndarray | None = None
    date: np.ndarray | None = None  # bool: the number is a date serial (formatted dd/mm/yyyy)

    def take(self, idx: np.ndarray) -> Cells:
        ia = pa.array(idx)
        return Cells(
            self.text.take(ia),
            None if self.number is None else self.number[idx],
            None if self.date is None else self.date[idx],
        )

    def scatter(
        self,
        idx: np.ndarray,
        values: pa.Array | np.ndarray,
        number: np.ndarray | None = None,
        date: np.ndarray | bool = False,
    ) -> Cells:
        """Rows `idx` (ascending) take new text (one value per index); they are text cells unless a
        non-NaN `number` is given for them."""
        if not len(idx):
            return self
        n = len(self.text)
        where = np.zeros(n, dtype=bool)
        where[idx] = True
        vals = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
        text = pc.replace_with_mask(self.text, pa.array(where), vals.cast(pa.string()))
        num, dat = self.number, self.date
        if num is not None:
            num = num.copy()
            num[idx] = np.nan if number is None else number
            dat = dat.copy()
            dat[idx] = date & ~np.isnan(num[idx])
        return Cells(text, num, dat)

    def rows(self, idx: np.ndarray) -> pa.Array:
        return self.text.take(pa.array(idx))


def s(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def pad(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(s(values), width, "0")


def join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    """Element-wise join that skips nulls (pyarrow 26's `null_handling="skip"` drops rows: avoided)."""
    if not any(isinstance(p, pa.Array | pa.ChunkedArray) and p.null_count for p in parts):
        return pc.binary_join_element_wise(*parts, sep)
    acc: pa.Array | str | None = None
    for part in parts:
        if acc is None:
            acc = part
            continue
        both = pc.binary_join_element_wise(acc, part, sep)
        if isinstance(part, str):
            acc = pc.if_else(pc.is_null(acc), part, both) if not isinstance(acc, str) else both
        elif isinstance(acc, str):
            acc = pc.if_else(pc.is_null(part), acc, both)
        else:
            acc = pc.if_else(pc.is_null(acc), part, pc.if_else(pc.is_null(part), acc, both))
    return acc


def pick(choice: np.ndarray, *options: pa.Array | str) -> pa.Array:
    """Per-row choice among whole-column alternatives."""
    n = len(choice)
    opts = [
        pa.array(np.full(n, o, dtype=object), type=pa.string()) if isinstance(o, str) else o for o in options
    ]
    return pc.choose(pa.array(choice.astype(np.int8)), *opts)


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = EPOCH + np.asarray(days, dtype=np.int64).astype("timedelta64[D]")
    y = d.astype("datetime64[Y]")
    m = d.astype("datetime64[M]")
    return (
        y.astype(np.int64) + 1970,
        (m - y.astype("datetime64[M]")).astype(np.int64) + 1,
        (d - m.astype("datetime64[D]")).astype(np.int64) + 1,
    )


DATE_STYLES = ("dd/mm/yyyy", "d/m/yyyy", "yyyy-mm-dd", "dd-mm-yyyy", "dd.mm.yyyy", "d/m/yy", "serial")


def fmt_date(y: np.ndarray, m: np.ndarray, d: np.ndarray, style: str) -> pa.Array:
    if style == "dd/mm/yyyy":
        return join(pad(d, 2), pad(m, 2), s(y), sep="/")
    if style == "d/m/yyyy":
        return join(s(d), s(m), s(y), sep="/")
    if style == "yyyy-mm-dd":
        return join(s(y), pad(m, 2), pad(d, 2), sep="-")
    if style == "dd-mm-yyyy":
        return join(pad(d, 2), pad(m, 2), s(y), sep="-")
    if style == "dd.mm.yyyy":
        return join(pad(d, 2), pad(m, 2), s(y), sep=".")
    if style == "d/m/yy":
        return join(s(d), s(m), pad(y % 100, 2), sep="/")
    if style == "serial":
        return s(np.nan_to_num(_serial(y, m, d), nan=0).astype(np.int64))
    raise ValueError(style)


def render_date(
    days: np.ndarray,
    style: str,
    mask: np.ndarray,
    kinds: tuple[str, ...],
    rng: np.random.Generator,
    week_end: np.ndarray,
    excel: bool,
    text_share: float = 0.0,
) -> Cells:
    """A date column (birth or event) in the source's style, with the date errors named in `kinds`.

    `kinds` are the error codes that apply to this column (the dob_* or the date_* ones); `week_end` is
    the last day of each row's file week (a future date lies after it). In spreadsheets valid dates are
    date cells except a share `text_share` typed as text, years are numbers, broken dates are text.
    Erroneous values are computed for the affected rows only."""
    n = len(days)
    days = np.asarray(days, dtype=np.int64)
    y, m, d = ymd(days)
    base = "dd/mm/yyyy" if style == "excel" else style
    as_cell = np.full(n, excel, dtype=bool)
    if excel and text_share > 0:
        as_cell &= rng.random(n) >= text_share
    cells = Cells(
        fmt_date(y, m, d, base),
        np.where(as_cell, (days + EXCEL_EPOCH_OFFSET).astype(np.float64), np.nan) if excel else None,
        as_cell.copy() if excel else None,
    )

    def rows(code: str) -> np.ndarray:
        return np.flatnonzero(er.has(mask, code)) if code in kinds else np.zeros(0, dtype=np.int64)

    def num(i: np.ndarray, values: np.ndarray) -> np.ndarray | None:
        return np.where(as_cell[i], values, np.nan) if excel else None

    prefix = kinds[0].split("_", 1)[0]
    i = rows(f"{prefix}_day_month_swapped")
    if len(i):
        cells = cells.scatter(i, fmt_date(y[i], d[i], m[i], base), num(i, _serial(y[i], d[i], m[i])), True)
    i = rows(f"{prefix}_year_only")
    if len(i):
        cells = cells.scatter(i, s(y[i]), y[i].astype(np.float64) if excel else None, False)
    i = rows(f"{prefix}_placeholder")
    if len(i):
        one = np.ones(len(i), dtype=np.int64)
        cells = cells.scatter(i, fmt_date(y[i], one, one, base), num(i, _serial(y[i], one, one)), True)
    i = rows(f"{prefix}_format")
    if len(i):
        alts = [
            st
            for st in ("yyyy-mm-dd", "d/m/yy", "dd-mm-yyyy", "dd.mm.yyyy", "serial", "d/m/yyyy")
            if st != base
        ]
        choice = rng.integers(0, len(alts), len(i))
        cells = cells.scatter(i, pick(choice, *[fmt_date(y[i], m[i], d[i], st) for st in alts]))
    i = rows(f"{prefix}_impossible")
    if len(i):
        k = len(i)
        kind = rng.integers(0, 4, k)
        short = np.array([4, 6, 9, 11])[rng.integers(0, 4, k)]
        bd = np.select(
            [kind == 0, kind == 1, kind == 2], [np.full(k, 30), np.full(k, 31), np.zeros(k, np.int64)], d[i]
        )
        bm = np.select([kind == 0, kind == 1, kind == 3], [np.full(k, 2), short, np.full(k, 13)], m[i])
        broken = fmt_date(y[i], bm, bd, base)
        if prefix == "dob":  # half of the impossible births lie after the file's week instead
            fy, fm, fd = ymd(np.asarray(week_end)[i] + rng.integers(30, 3000, k))
            broken = pick((rng.random(k) < 0.5).astype(np.int8), broken, fmt_date(fy, fm, fd, base))
        cells = cells.scatter(i, broken)
    i = rows(f"{prefix}_future")
    if len(i):
        later = np.asarray(week_end, dtype=np.int64)[i] + np.where(
            rng.random(len(i)) < 0.5, 365, rng.integers(2, 40, len(i))
        )
        fy, fm, fd = ymd(later)
        cells = cells.scatter(
            i, fmt_date(fy, fm, fd, base), num(i, (later + EXCEL_EPOCH_OFFSET).astype(np.float64)), True
        )
    return cells


def _serial(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Excel serials of (possibly swapped) dates; NaN where the date does not exist."""
    ok = (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    mm = np.where(ok, m, 1)
    dd = np.where(ok, d, 1)
    month = np.asarray(y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (mm - 1)
    day = month.astype("datetime64[D]") + (dd - 1)
    ok &= day.astype("datetime64[M]") == month
    return np.where(ok, (day - EPOCH).astype(np.int64) + EXCEL_EPOCH_OFFSET, np.nan).astype(np.float64)


# ---------------------------------------------------------------------------------------------------
# names


@dataclass
class NameVocab:
    """Name parts in three spellings: normal, without diacritics, new tone style."""

    family: list[pa.Array]
    middle: list[pa.Array]
    given: list[pa.Array]
    tone_family: np.ndarray  # bool: the new tone style changes this part
    tone_middle: np.ndarray
    tone_given: np.ndarray
    ascii_family: np.ndarray  # bool: no diacritics to lose
    ascii_middle: np.ndarray
    ascii_given: np.ndarray

    @staticmethod
    def build() -> NameVocab:
        def variants(words: tuple[str, ...]):
            normal = list(words)
            plain = [er.strip_diacritics(w) for w in words]
            tone = [er.new_tone_style(w) for w in words]
            arrays = [pa.array([w or None for w in v], type=pa.string()) for v in (normal, plain, tone)]
            return (
                arrays,
                np.array([a != b for a, b in zip(normal, tone, strict=True)]),
                np.array([a == b for a, b in zip(normal, plain, strict=True)]),
            )

        f, tf, af = variants(nm.FAMILY_NAMES)
        m, tm, am = variants(nm.MIDDLE_NAMES)
        g, tg, ag = variants(nm.GIVEN_NAMES)
        return NameVocab(f, m, g, tf, tm, tg, af, am, ag)


def full_names(
    v: NameVocab,
    fam: np.ndarray,
    mid1: np.ndarray,
    mid2: np.ndarray,
    giv: np.ndarray,
    variant: np.ndarray | int = 0,
) -> pa.Array:
    """Joined full names; `variant` 0 normal, 1 without diacritics, 2 new tone style (per row or all)."""
    var = np.broadcast_to(np.asarray(variant), fam.shape)
    parts = []
    for vocab, idx in ((v.family, fam), (v.middle, mid1), (v.middle, mid2), (v.given, giv)):
        ia = pa.array(idx.astype(np.int64))
        cols = [voc.take(ia) for voc in vocab]
        parts.append(pc.choose(pa.array(var.astype(np.int8)), *cols) if np.any(var) else cols[0])
    return join(*parts, sep=" ")


def name_eligibility(v: NameVocab, fam, mid1, mid2, giv) -> dict[str, np.ndarray]:
    n = len(fam)
    tone = v.tone_family[fam] | v.tone_middle[mid1] | v.tone_middle[mid2] | v.tone_given[giv]
    plain = v.ascii_family[fam] & v.ascii_middle[mid1] & v.ascii_middle[mid2] & v.ascii_given[giv]
    yes = np.ones(n, dtype=bool)
    return {
        "name_no_diacritics": ~plain,
        "name_case": yes,
        "name_spacing": yes,
        "name_nfd": ~plain,
        "name_tone_style": tone,
        "name_typo": yes,
    }


def render_names(v: NameVocab, fam, mid1, mid2, giv, mask: np.ndarray, rng: np.random.Generator) -> Cells:
    """Full names, with the name_* errors applied to the affected rows only."""
    cells = Cells(full_names(v, fam, mid1, mid2, giv))
    for code, variant in (("name_no_diacritics", 1), ("name_tone_style", 2)):
        i = np.flatnonzero(er.has(mask, code))
        if len(i):
            cells = cells.scatter(i, full_names(v, fam[i], mid1[i], mid2[i], giv[i], variant))
    i = np.flatnonzero(er.has(mask, "name_typo"))
    if len(i):
        cells = cells.scatter(i, er.typo(np.asarray(cells.rows(i).to_pylist(), dtype=object), rng))
    i = np.flatnonzero(er.has(mask, "name_case"))
    if len(i):
        t = cells.rows(i)
        cells = cells.scatter(
            i, pick((rng.random(len(i)) < 0.4).astype(np.int8), pc.utf8_upper(t), pc.utf8_lower(t))
        )
    i = np.flatnonzero(er.has(mask, "name_spacing"))
    if len(i):
        t = cells.rows(i)
        doubled = pc.replace_substring(t, " ", "  ", max_replacements=1)
        cells = cells.scatter(i, pick(rng.integers(0, 3, len(i)), doubled, join(t, " "), join(" ", t)))
    i = np.flatnonzero(er.has(mask, "name_nfd"))
    if len(i):
        cells = cells.scatter(i, pc.utf8_normalize(cells.rows(i), "NFD"))
    return cells


# ---------------------------------------------------------------------------------------------------
# identity numbers and phones


def render_ids(
    cccd: np.ndarray,
    cmnd: np.ndarray,
    passport: np.ndarray,
    nationality: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    excel: bool,
) -> Cells:
    """CCCD if the person has one, else a passport (foreigners) or the CMND; with the id_* errors."""
    n = len(cccd)
    text = pc.if_else(pa.array(cccd > 0), pad(cccd, 12), pc.if_else(pa.array(cmnd > 0), pad(cmnd, 9), ""))
    cells = Cells(text, np.full(n, np.nan) if excel else None, np.zeros(n, bool) if excel else None)
    i = np.flatnonzero(passport > 0)
    if len(i):
        cells = cells.scatter(i, passport_text(passport[i], nationality[i]))
    i = np.flatnonzero(er.has(mask, "id_missing"))
    cells = cells.scatter(i, np.full(len(i), "", dtype=object))
    i = np.flatnonzero(er.has(mask, "id_typo"))
    if len(i):
        cells = cells.scatter(i, pad(er.digit_typo(cccd[i], 12, rng), 12))
    i = np.flatnonzero(er.has(mask, "id_cmnd"))
    if len(i):
        cells = cells.scatter(i, pad(cmnd[i], 9))
    i = np.flatnonzero(er.has(mask, "id_spaces"))
    if len(i):
        p = pad(cccd[i], 12)
        spaced = join(*(pc.utf8_slice_codeunits(p, a, a + 3) for a in (0, 3, 6, 9)), sep=" ")
        lose = rng.random(len(i)) < 0.5
        number = (
            np.where(lose, cccd[i].astype(np.float64), np.nan) if excel else None
        )  # Excel dropped the zero
        cells = cells.scatter(i, pick(lose.astype(np.int8), spaced, s(cccd[i])), number, False)
    return cells


def passport_text(passport: np.ndarray, nationality: np.ndarray) -> pa.Array:
    """Passport numbers with their country's usual prefix (`M12345678`, `TK1234567`)."""
    prefixes = np.array([f[1] for f in nm.FOREIGN] + [""], dtype=object)
    nat = np.where(nationality >= 0, nationality, len(nm.FOREIGN))
    digits = np.where(nat == 3, passport % 10**7, passport)
    return join(pa.array(prefixes[nat], type=pa.string()), s(digits))


def render_phones(phone: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Cells:
    """10-digit mobiles ('' for none) with the phone_* errors."""
    cells = Cells(pc.if_else(pa.array(phone > 0), join("0", pad(phone, 9)), ""))
    i = np.flatnonzero(er.has(mask, "phone_plus84"))
    if len(i):
        nine = pad(phone[i], 9)
        groups = join(*(pc.utf8_slice_codeunits(nine, a, a + 3) for a in (0, 3, 6)), sep=" ")
        cells = cells.scatter(
            i, pick(rng.integers(0, 3, len(i)), join("+84 ", groups), join("+84", nine), join("84", nine))
        )
    i = np.flatnonzero(er.has(mask, "phone_old_prefix"))
    if len(i):
        old = np.array([OLD_PREFIX.get(k, 0) for k in range(100)])[np.clip(phone[i] // 10**7, 0, 99)]
        cells = cells.scatter(i, join("0", s(old), pad(phone[i] % 10**7, 7)))
    i = np.flatnonzero(er.has(mask, "phone_format"))
    if len(i):
        ten = join("0", pad(phone[i], 9))
        a, b, c = (
            pc.utf8_slice_codeunits(ten, 0, 4),
            pc.utf8_slice_codeunits(ten, 4, 7),
            pc.utf8_slice_codeunits(ten, 7, 10),
        )
        cells = cells.scatter(
            i,
            pick(
                rng.integers(0, 3, len(i)),
                join(a, b, c, sep="."),
                join(a, b, c, sep=" "),
                join(a, b, c, sep="-"),
            ),
        )
    return cells


def phone_eligibility(phone: np.ndarray) -> dict[str, np.ndarray]:
    has = phone > 0
    prefix = phone // 10**7
    convertible = np.isin(prefix, np.array(list(OLD_PREFIX)))
    return {"phone_plus84": has, "phone_old_prefix": has & convertible, "phone_format": has}


# ---------------------------------------------------------------------------------------------------
# labels

VACCINE_LABEL = {
    "astrazeneca": (
        "AstraZeneca",
        ("AZ", "Astra", "AstraZeneca (Vaxzevria)", "Vaxzevria", "ASTRA ZENECA", "Covishield"),
    ),
    "pfizer": ("Pfizer (Comirnaty)", ("Pfizer", "Pfizer-BioNTech", "Comirnaty", "PFIZER", "Pfizer BioNTech")),
    "moderna": ("Moderna (Spikevax)", ("Moderna", "Spikevax", "MODERNA", "mRNA-1273")),
    "vero_cell": (
        "Sinopharm (Vero Cell)",
        ("Vero Cell", "Sinopharm", "VeroCell", "Sinopharm (BIBP)", "SINOPHARM"),
    ),
    "janssen": ("Janssen", ("J&J", "Johnson & Johnson", "Janssen (J&J)")),
}
DOSE_LABEL = {
    "mui_1": ("Mũi 1", ("M1", "1", "mui 1", "Mũi thứ nhất", "Mũi 01", "Lần 1")),
    "mui_2": ("Mũi 2", ("M2", "2", "mui 2", "Mũi thứ hai", "Mũi 02", "Lần 2")),
    "bo_sung": ("Mũi bổ sung", ("Bổ sung", "MBS", "mui bo sung", "Mũi 3 (bổ sung)")),
    "nhac_lai_1": ("Mũi nhắc lại lần 1", ("Nhắc lại", "Nhắc lại 1", "Mũi 3", "M3", "mui nhac lai")),
    "nhac_lai_2": ("Mũi nhắc lại lần 2", ("Nhắc lại 2", "Mũi 4", "M4", "nhac lai lan 2")),
}


def render_label(
    codes: np.ndarray, table: dict, order: tuple[str, ...], alias: np.ndarray, rng: np.random.Generator
) -> Cells:
    """Canonical label per code, or one of its aliases where `alias` is set."""
    cells = Cells(pa.array([table[c][0] for c in order], type=pa.string()).take(pa.array(codes)))
    i = np.flatnonzero(alias)
    if len(i):
        width = max(len(table[c][1]) for c in order)
        grid = np.array(
            [[table[c][1][j % len(table[c][1])] for j in range(width)] for c in order], dtype=object
        )
        sizes = np.array([len(table[c][1]) for c in order])[codes[i]]
        k = (rng.random(len(i)) * sizes).astype(np.int64)
        cells = cells.scatter(i, grid[codes[i], k])
    return cells


# ---------------------------------------------------------------------------------------------------
# addresses

CITY_FULL = "Thành phố Hồ Chí Minh"
CITY_ABBREV = ("TP.HCM", "TPHCM", "TP. Hồ Chí Minh", "Tp. HCM", "HCM", "TP HCM")
_ROAD_ABBREV = {"Quốc lộ ": "QL", "Tỉnh lộ ": "TL", "Hương lộ ": "HL", "Đại lộ ": "ĐL "}
_UNIT_ABBREV = {
    "Phường": ("P.", "P. ", "Ph. ", "phường "),
    "Xã": ("X.", "X. ", "xã ", "X "),
    "Thị trấn": ("TT.", "TT. ", "thị trấn ", "TT "),
    "Đặc khu": ("ĐK ", "đặc khu ", "Đ.K ", "ĐK. "),
    "Quận": ("Q.", "Q. ", "quận ", "Q"),
    "Huyện": ("H.", "H. ", "huyện ", "H "),
    "Thành phố": ("TP. ", "TP ", "Tp.", "TP."),
}


def _street_variants(name: str) -> list[str]:
    """normal, 'Đ. X' / 'QL1A', 'X' / 'Đ.số 7'."""
    for full, short in _ROAD_ABBREV.items():
        if name.startswith(full):
            rest = name[len(full) :]
            return [name, short + rest, short.strip() + " " + rest]
    if name.startswith("Đường "):
        rest = name[len("Đường ") :]
        third = "Đ." + rest if rest.startswith("số ") or rest[:1].isdigit() or rest[:2].isupper() else rest
        return [name, "Đ. " + rest, third]
    return [name, name, name]


def _unit_variants(full: str) -> list[str]:
    """'Phường Bình Hưng Hòa' → normal + 4 abbreviations; numbered wards also as 'F7'."""
    for unit, forms in _UNIT_ABBREV.items():
        if full.startswith(unit + " "):
            rest = full[len(unit) + 1 :]
            out = [full] + [f + rest for f in forms]
            if unit == "Phường" and rest.isdigit():
                out[-1] = "F" + rest
            return out
    return [full] * 5


@dataclass
class AddressVocab:
    """Every part of the city's addresses in every spelling, as Arrow arrays to take from."""

    street: list[pa.Array]  # [diacritics kept, stripped], each (n_streets * 3)
    street_shortens: np.ndarray  # bool per street: its abbreviations differ from the normal form
    kp: list[pa.Array]  # (2 kinds * 100 numbers * 3)
    ward: list[pa.Array]  # (n_wards * 5)
    old: list[pa.Array]  # (n_old * 5): "Phường 7, Quận 3", "P.7, Q.3", …
    city: list[pa.Array]  # 1 + len(CITY_ABBREV)
    house: pa.Array  # per point: "130/75/5"
    kp_of_point: np.ndarray  # index into kp (kind * 100 + number) * 3
    ward_of_point: np.ndarray
    old_of_point: np.ndarray
    street_of_point: np.ndarray

    @staticmethod
    def build(
        streets: list[str],
        ward_full: list[str],
        ward_is_commune: np.ndarray,
        old_names: list[str],
        old_districts: list[str],
        house: pa.Array,
        street_of_point: np.ndarray,
        kp_number: np.ndarray,
        ward_of_point: np.ndarray,
        old_of_point: np.ndarray,
    ) -> AddressVocab:
        def both(rows: list[str]) -> list[pa.Array]:
            return [
                pa.array(rows, type=pa.string()),
                pa.array([er.strip_diacritics(r) for r in rows], type=pa.string()),
            ]

        street_rows = [v for name in streets for v in _street_variants(name)]
        kp_rows = []
        for kind in ("Khu phố", "Ấp"):
            for k in range(100):
                kp_rows += [
                    f"{kind} {k}",
                    f"KP{k}" if kind == "Khu phố" else f"ấp {k}",
                    f"KP {k}" if kind == "Khu phố" else f"Ấp.{k}",
                ]
        ward_rows = [v for w in ward_full for v in _unit_variants(w)]
        old_rows = []
        for w, d in zip(old_names, old_districts, strict=True):
            wv, dv = _unit_variants(w), _unit_variants(d)
            old_rows += [
                f"{wv[0]}, {dv[0]}",
                f"{wv[1]}, {dv[1]}",
                f"{wv[2]}, {dv[2]}",
                f"{wv[4]}, {dv[4]}",
                f"{wv[1]} {dv[1]}",
            ]
        kind = ward_is_commune[ward_of_point].astype(np.int64)
        return AddressVocab(
            street=both(street_rows),
            street_shortens=np.array([_street_variants(x)[1] != x for x in streets]),
            kp=both(kp_rows),
            ward=both(ward_rows),
            old=both(old_rows),
            city=both([CITY_FULL, *CITY_ABBREV]),
            house=house,
            kp_of_point=((kind * 100 + np.minimum(kp_number, 99)) * 3).astype(np.int64),
            ward_of_point=ward_of_point.astype(np.int64),
            old_of_point=old_of_point.astype(np.int64),
            street_of_point=street_of_point.astype(np.int64),
        )


def _address(
    v: AddressVocab,
    point: np.ndarray,
    var: np.ndarray,
    spelling: int,
    old: np.ndarray | None,
    missing: np.ndarray | None,
) -> pa.Array:
    """Addresses of some rows: `var` (rows × 4) picks each part's abbreviation, `spelling` 0 keeps the
    diacritics and 1 strips them, `old` rows name the old ward, `missing` rows no ward."""

    def take(tables: list[pa.Array], idx: np.ndarray) -> pa.Array:
        return tables[spelling].take(pa.array(idx))

    street = take(v.street, v.street_of_point[point] * 3 + var[:, 0])
    kp = take(v.kp, v.kp_of_point[point] + var[:, 1])
    ward = take(v.ward, v.ward_of_point[point] * 5 + var[:, 2])
    if old is not None and old.any():
        ward = pc.if_else(
            pa.array(old), take(v.old, np.maximum(v.old_of_point[point], 0) * 5 + var[:, 2]), ward
        )
    if missing is not None and missing.any():
        ward = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), ward)
    city = take(v.city, var[:, 3])
    return join(join(v.house.take(pa.array(point)), street, sep=" "), kp, ward, city, sep=", ")


def render_addresses(v: AddressVocab, point: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Cells:
    """Full addresses of the rows' points: the normal form, or with the addr_* errors (rows that change
    spelling or ward are recomputed on their own)."""
    n = len(point)
    abbrev = er.has(mask, "addr_abbrev")
    plain = er.has(mask, "addr_no_diacritics")
    old = er.has(mask, "addr_old_ward")
    missing = er.has(mask, "addr_missing_ward")
    # which parts an abbreviating row shortens (at least one: the city if none was drawn)
    part = (rng.random((n, 4)) < 0.55) & abbrev[:, None]
    part[:, 0] &= v.street_shortens[v.street_of_point[point]]
    part[:, 3] |= abbrev & ~part.any(axis=1)
    var = np.column_stack(
        [
            np.where(part[:, 0], rng.integers(1, 3, n), 0),
            np.where(part[:, 1], rng.integers(1, 3, n), 0),
            np.where(part[:, 2], rng.integers(1, 5, n), 0),
            np.where(part[:, 3], rng.integers(1, len(CITY_ABBREV) + 1, n), 0),
        ]
    )
    cells = Cells(_address(v, point, var, 0, None, None))
    i = np.flatnonzero(plain | old | missing)
    if len(i):
        redo = [
            _address(v, point[i[plain[i]]], var[i[plain[i]]], 1, old[i[plain[i]]], missing[i[plain[i]]]),
            _address(v, point[i[~plain[i]]], var[i[~plain[i]]], 0, old[i[~plain[i]]], missing[i[~plain[i]]]),
        ]
        order = np.argsort(np.concatenate([i[plain[i]], i[~plain[i]]]), kind="stable")
        cells = cells.scatter(i, pa.concat_arrays(redo).take(pa.array(order)))
    return cells


def address_eligibility(v: AddressVocab, point: np.ndarray) -> dict[str, np.ndarray]:
    yes = np.ones(len(point), dtype=bool)
    return {
        "addr_abbrev": yes,
        "addr_no_diacritics": yes,
        "addr_old_ward": v.old_of_point[point] >= 0,
        "addr_missing_ward": yes,
    }
