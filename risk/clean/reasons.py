"""Reason codes: every cleaning rule says what it did or why a row was kept aside.

Severity:
* `corrected` – the value was fixed with certainty; the row is used (counted as corrected);
* `normalized` – a recognised spelling was mapped to its canonical form (not an error; counted as accepted);
* `flag` – the value is usable but less certain (year-only birth date, placeholder 01/01); the row is
  used and the flag travels with the record;
* `bad` – the row cannot be used as is; it is quarantined with its raw values until corrected.

Codes are stable identifiers (reports, exports and tests use them); labels are for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Severity = Literal["corrected", "normalized", "flag", "bad"]


@dataclass(frozen=True)
class Reason:
    code: str
    severity: Severity
    en: str
    vi: str


_ALL = [
    # file and row structure
    Reason(
        "unparseable", "bad", "row could not be parsed (quoting or number of fields)", "dòng không đọc được"
    ),
    Reason(
        "row_repaired",
        "corrected",
        "a row whose free text (address, site) held the delimiter unquoted, or that opened a quote and never closed it, was rebuilt: exactly one reading of its fields is valid",
        "dòng bị lệch cột do dấu phân cách trong địa chỉ/tên điểm, đã ghép lại (chỉ một cách đọc hợp lệ)",
    ),
    Reason("missing_required", "bad", "a required field is empty", "thiếu trường bắt buộc"),
    Reason(
        "formula", "bad", "a key field holds a spreadsheet formula", "trường khóa chứa công thức bảng tính"
    ),
    Reason("too_long", "bad", "a field is longer than any real value", "giá trị quá dài"),
    Reason(
        "formula_dropped",
        "corrected",
        "a spreadsheet formula in the address or phone was dropped",
        "đã bỏ công thức trong địa chỉ/số điện thoại",
    ),
    Reason(
        "formula_identity_dropped",
        "flag",
        "a spreadsheet formula in the name, ID or birth date of an event row was dropped; the person is found by linkage on the other fields",
        "đã bỏ công thức trong họ tên/số giấy tờ/ngày sinh; xác định người qua các trường khác",
    ),
    Reason(
        "name_missing",
        "flag",
        "no name on an event row; accepted on a CCCD consistent with the birth year, the name comes from the linked person",
        "thiếu họ tên; nhận theo CCCD khớp năm sinh, họ tên lấy theo hồ sơ",
    ),
    Reason("control_chars", "corrected", "control characters removed", "đã bỏ ký tự điều khiển"),
    Reason(
        "text_mojibake",
        "bad",
        "text looks like TCVN3/VNI Vietnamese decoded with the wrong table; re-type it or re-save the source as Unicode",
        "văn bản bị lỗi mã (TCVN3/VNI), cần gõ lại bằng Unicode",
    ),
    Reason(
        "address_mojibake",
        "flag",
        "address looks like TCVN3/VNI text decoded wrongly; not placed",
        "địa chỉ bị lỗi mã (TCVN3/VNI)",
    ),
    Reason(
        "outside_capture_scope",
        "bad",
        "the record lies outside the submitter's area",
        "ngoài địa bàn được phép nhập",
    ),
    # names
    Reason(
        "name_unicode",
        "corrected",
        "name in decomposed Unicode, recomposed (NFC)",
        "đã chuẩn hóa mã Unicode họ tên",
    ),
    Reason("name_d_lookalike", "corrected", "Ð (eth) or a look-alike replaced by Đ", "đã thay Ð bằng Đ"),
    Reason(
        "name_tone_style",
        "corrected",
        "tone mark moved to the traditional place (Hoà → Hòa)",
        "đã chuẩn hóa vị trí dấu thanh",
    ),
    Reason("name_case", "corrected", "name case normalised", "đã chuẩn hóa chữ hoa/thường"),
    Reason("name_spacing", "corrected", "extra spaces removed from the name", "đã bỏ khoảng trắng thừa"),
    Reason(
        "name_symbols", "corrected", "digits or symbols removed from the name", "đã bỏ ký tự lạ trong họ tên"
    ),
    Reason("name_no_diacritics", "flag", "name written without diacritics", "họ tên không dấu"),
    Reason("name_invalid", "bad", "name contains no letters", "họ tên không hợp lệ"),
    # birth dates
    Reason(
        "dob_reformatted", "corrected", "birth date in another format, read day-first", "đã đọc lại ngày sinh"
    ),
    Reason("dob_year_only", "flag", "only the birth year is known", "chỉ có năm sinh"),
    Reason("dob_month_year", "flag", "only birth month and year are known", "chỉ có tháng và năm sinh"),
    Reason(
        "dob_placeholder",
        "flag",
        "birth date 01/01 is probably a placeholder",
        "ngày sinh 01/01 có thể là giả định",
    ),
    Reason("dob_impossible", "bad", "birth date does not exist or is out of range", "ngày sinh không hợp lệ"),
    Reason("dob_future", "bad", "birth date is in the future", "ngày sinh ở tương lai"),
    Reason("dob_unreadable", "bad", "birth date cannot be read", "không đọc được ngày sinh"),
    Reason(
        "dob_dropped",
        "flag",
        "birth date of an event row impossible, in the future, unreadable or after the event: dropped (not used); the linked person's date applies",
        "ngày sinh không dùng được (sai, ở tương lai hoặc sau ngày sự kiện), đã bỏ; dùng ngày sinh theo hồ sơ",
    ),
    Reason(
        "dob_after_event", "bad", "birth date after the record's event date", "ngày sinh sau ngày sự kiện"
    ),
    Reason(
        "dob_ambiguous",
        "flag",
        "day and month are both ≤ 12 and no other record confirms which is which",
        "ngày và tháng sinh có thể bị đảo, chưa được xác nhận",
    ),
    # identity numbers
    Reason(
        "id_reformatted",
        "corrected",
        "spaces or punctuation removed from the ID",
        "đã bỏ khoảng trắng trong số giấy tờ",
    ),
    Reason("id_leading_zero", "corrected", "leading zero of a CCCD restored", "đã bổ sung số 0 đầu CCCD"),
    Reason("id_cmnd", "flag", "old 9-digit CMND instead of a CCCD", "dùng CMND 9 số"),
    Reason("id_missing", "flag", "no identity number", "không có số giấy tờ"),
    Reason(
        "id_invalid",
        "flag",
        "identity number has an impossible form; not used for linkage",
        "số giấy tờ sai định dạng",
    ),
    Reason(
        "id_inconsistent",
        "flag",
        "CCCD province, century/sex or year digits contradict the record",
        "CCCD mâu thuẫn với ngày sinh/giới tính",
    ),
    Reason("id_passport", "corrected", "passport number", "số hộ chiếu"),
    # phones
    Reason(
        "phone_reformatted",
        "corrected",
        "phone punctuation or +84 prefix normalised",
        "đã chuẩn hóa số điện thoại",
    ),
    Reason(
        "phone_old_prefix",
        "corrected",
        "pre-2018 11-digit mobile number converted",
        "đã chuyển đầu số cũ 11 số",
    ),
    Reason(
        "phone_invalid",
        "flag",
        "phone number is not a valid Vietnamese number; dropped",
        "số điện thoại không hợp lệ",
    ),
    # events
    Reason(
        "date_reformatted", "corrected", "event date in another format, read day-first", "đã đọc lại ngày"
    ),
    Reason("date_impossible", "bad", "event date does not exist", "ngày không hợp lệ"),
    Reason("date_future", "bad", "event date after the file's date or today", "ngày ở tương lai"),
    Reason("date_too_early", "bad", "event date before the epidemic period", "ngày quá sớm"),
    Reason(
        "code_normalized",
        "normalized",
        "vaccine, dose, test or outcome mapped to the controlled list",
        "đã chuẩn hóa danh mục",
    ),
    Reason("code_unknown", "bad", "value not in the controlled list", "giá trị không có trong danh mục"),
    Reason("sex_unknown", "flag", "sex missing or unreadable", "không rõ giới tính"),
    # address
    Reason("address_missing", "flag", "no address", "không có địa chỉ"),
    Reason(
        "address_unmatched",
        "flag",
        "address could not be placed on an address point",
        "không định vị được địa chỉ",
    ),
    Reason(
        "address_old_ward",
        "corrected",
        "address names a ward of an older geography; placed through the crosswalk",
        "địa chỉ dùng tên phường cũ",
    ),
    Reason(
        "address_ambiguous",
        "flag",
        "address could lie in several wards; left unplaced for a field check",
        "địa chỉ có thể thuộc nhiều phường",
    ),
    # duplicates
    Reason("duplicate_exact", "bad", "exact duplicate of another row", "dòng trùng lặp"),
    # linkage (attached to links, not to ingested rows)
    Reason(
        "dob_swapped",
        "corrected",
        "day and month of the birth date were swapped; the person's confirmed date is used",
        "ngày và tháng sinh bị đảo, đã sửa theo hồ sơ",
    ),
    Reason(
        "dob_conflict",
        "flag",
        "birth date differs from the linked person's; the person's date is used",
        "ngày sinh khác hồ sơ nhân khẩu",
    ),
    Reason(
        "id_typo",
        "corrected",
        "CCCD differs from the linked person's in one digit; the person's number is used",
        "số CCCD sai một chữ số, đã sửa theo hồ sơ",
    ),
    Reason(
        "id_conflict",
        "flag",
        "identity number differs from the linked person's; the person's number is used",
        "số giấy tờ khác hồ sơ nhân khẩu",
    ),
    Reason(
        "link_review",
        "flag",
        "no confident match: waiting for review",
        "chưa xác định được người, chờ rà soát",
    ),
    Reason(
        "new_person",
        "flag",
        "not in the household registry: a new person was created",
        "không có trong sổ hộ khẩu",
    ),
    Reason(
        "dose_duplicate",
        "normalized",
        "the same dose reported by another site; merged",
        "mũi tiêm bị báo trùng từ điểm khác, đã gộp",
    ),
]

REASONS: dict[str, Reason] = {r.code: r for r in _ALL}


def severity(code: str) -> Severity:
    return REASONS[code].severity


def codes_where(mask: np.ndarray | pd.Series, code: str) -> np.ndarray:
    """An array holding `code;` where mask is true and '' elsewhere (to build ';'-joined code lists)."""
    if code not in REASONS:
        raise KeyError(f"unknown reason code {code!r}")
    m = np.asarray(mask, dtype=bool)
    return np.where(m, code + ";", "").astype(object)


def join_codes(*parts: np.ndarray) -> np.ndarray:
    """Concatenate code arrays from `codes_where` into ';'-joined strings without a trailing ';'."""
    if not parts:
        return np.array([], dtype=object)
    parts = tuple(np.asarray(p, dtype=object) for p in parts)
    n = len(parts[0])
    if len(parts) == 1:
        combo = pd.factorize(parts[0], use_na_sentinel=False)[0]
    else:
        # Rows hold few distinct combinations: number each combination of the parts' values (integer
        # codes, no per-row string building) and build each distinct combination's string once.
        combo = np.zeros(n, dtype=np.int64)
        size = 1
        for p in parts:
            c, u = pd.factorize(p, use_na_sentinel=False)
            combo = combo * max(len(u), 1) + c
            size *= max(len(u), 1)
            if size > 1 << 31:
                combo, uniq = pd.factorize(combo)
                size = len(uniq)
        combo = pd.factorize(combo)[0]
    k = int(combo.max()) + 1 if n else 0
    first = np.zeros(k, dtype=np.int64)
    first[combo[::-1]] = np.arange(n - 1, -1, -1)
    # Each distinct combination once: drop repeats (two coded fields both normalised) and the last ';'.
    tidy = np.empty(k, dtype=object)
    for j, row in enumerate(first.tolist()):
        joined = "".join(p[row] for p in parts)
        tidy[j] = ";".join(dict.fromkeys(c for c in joined.split(";") if c))
    return tidy[combo] if k else np.full(n, "", dtype=object)


def reopen_codes(joined: np.ndarray) -> np.ndarray:
    """';'-joined code lists with a ';' after each non-empty one, to be joined with more codes (run it
    on distinct values)."""
    return np.array([f"{u};" if u else "" for u in np.asarray(joined, dtype=object).tolist()], dtype=object)


def join_parts(n: int, parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """`join_codes` of parts given as (per-row index, labels): row i's part is `labels[index[i]]` (a
    mask is its own index into `["", "code;"]`). Returns (per-row index, distinct joined strings), the
    same strings `join_codes` builds, without an object array per part: rows are numbered by their
    combination of integer indices and each distinct combination's string is built once."""
    used: list[tuple[np.ndarray, np.ndarray]] = []
    combo = np.zeros(n, dtype=np.int64)
    size = 1
    for index, labels in parts:
        labels = np.asarray(labels, dtype=object)
        lc, lu = pd.factorize(labels, use_na_sentinel=False)
        if not len(lu) or (len(lu) == 1 and lu[0] == ""):
            continue  # adds nothing to any row
        if len(lu) < len(labels):
            index, labels = lc[index], np.asarray(lu, dtype=object)
        used.append((index, labels))
        if len(labels) > 1:
            if size * len(labels) > 1 << 62:
                combo, uniq = pd.factorize(combo)
                combo = combo.astype(np.int64)
                size = len(uniq)
            combo = combo * len(labels) + index
            size *= len(labels)
    if not n:
        return np.zeros(0, dtype=np.intp), np.array([], dtype=object)
    combo = pd.factorize(combo)[0]
    k = int(combo.max()) + 1
    first = np.zeros(k, dtype=np.int64)
    first[combo[::-1]] = np.arange(n - 1, -1, -1)
    tidy = np.empty(k, dtype=object)
    for j, row in enumerate(first.tolist()):
        joined = "".join(labels[index[row]] for index, labels in used)
        tidy[j] = ";".join(dict.fromkeys(c for c in joined.split(";") if c))
    return combo, tidy


def mask_part(mask: np.ndarray, code: str) -> tuple[np.ndarray, np.ndarray]:
    """A `join_parts` part: `code` where mask is true."""
    if code not in REASONS:
        raise KeyError(f"unknown reason code {code!r}")
    return np.asarray(mask, dtype=bool).astype(np.int8), np.array(["", code + ";"], dtype=object)


def split_codes(joined: pd.Series) -> pd.Series:
    """';'-joined codes → lists (for reports)."""
    return joined.fillna("").map(lambda s: [c for c in s.split(";") if c])
