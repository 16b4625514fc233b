"""Ward leaders' household lists: who to follow up, test, vaccinate or support, one neighbourhood group at a time.

`ward_list(...)` reads one ward of a snapshot (its chain: deltas replace rows) and yields the list group by
group, so a writer never holds more than one group's rows and cells: `write_xlsx` (xlsxwriter in
constant-memory mode: Vietnamese headers, frozen header row, autofilter, one sheet per neighbourhood group
after a summary sheet, A4 landscape, header repeated on every printed page) and `iter_csv` (UTF-8 with BOM
so Excel shows Vietnamese; cells starting with `=`, `+`, `-`, `@`, tab or CR neutralised with a leading
apostrophe). The numbers in `STT` run across the ward in list order; the printable ward map
(`api.wardmap`) numbers the flagged households the same way.

Who may see what is the caller's `Principal`: rows outside its view scope never leave (`visible`), and
names and phones are masked for roles without `VIEW_PERSONAL`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from api.answers import profile_or_none
from api.security import VIEW_PERSONAL, Principal
from api.snapshot import SnapshotView
from risk.privacy import mask_phone
from risk.store import Store
from risk.store.tables import HOUSEHOLD_FLAGS

FLAG_LABELS: dict[str, tuple[str, str]] = {
    "f0": ("F0", "F0"),
    "f1": ("F1", "F1"),
    "positive": ("Dương tính", "positive test"),
    "elderly_unvaccinated": ("Người cao tuổi/bệnh nền chưa tiêm", "elderly unvaccinated"),
    "booster_due": ("Đến hạn mũi nhắc", "booster due"),
    "support": ("Diện hỗ trợ", "support eligible"),
}
FOLLOW_UP = ("f0", "f1", "positive", "elderly_unvaccinated", "booster_due")

# (key, Vietnamese header, English, column width)
COLUMNS: list[tuple[str, str, str, int]] = [
    ("stt", "STT", "No.", 6),
    ("household_ref", "Mã hộ", "Household id", 14),
    ("address", "Địa chỉ", "Address", 38),
    ("group_name", "Tổ dân phố", "Neighbourhood group", 14),
    ("head_name", "Chủ hộ", "Head of household", 22),
    ("phone", "Điện thoại", "Phone", 14),
    ("members", "Số nhân khẩu", "Members", 9),
    ("vulnerable", "Người dễ tổn thương (lý do)", "Vulnerable members (why)", 30),
    ("vaccination_gaps", "Thiếu mũi tiêm", "Vaccination gaps", 30),
    ("latest_test", "Xét nghiệm gần nhất", "Latest test", 22),
    ("level", "Mức theo dõi", "Level", 8),
    ("reasons", "Lý do", "Reasons", 40),
    ("follow_up", "Cần theo dõi", "Follow-up", 26),
    ("support", "Diện hỗ trợ", "Support eligible", 10),
]
HEADERS = [vi for _, vi, _, _ in COLUMNS]
LEVEL_COLUMNS = [
    "household_id",
    "group_id",
    "level",
    "reasons",
    "members",
    "older",
    "elderly",
    "comorbid",
    "unvaccinated",
    "vulnerable_unvaccinated",
    "elderly50_under_vaccinated",
    "booster_due",
    *HOUSEHOLD_FLAGS,
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ListError(ValueError):
    """A filter that cannot be applied (unknown flag, level out of range)."""


@dataclass(frozen=True)
class ListFilter:
    """What a ward leader asks for: one ward, optionally some groups, levels and flags (any of them)."""

    ward_id: str
    groups: tuple[str, ...] = ()
    levels: tuple[int, ...] = ()
    flags: tuple[str, ...] = ()
    as_of: dt.date | None = None

    def __post_init__(self) -> None:
        bad = [f for f in self.flags if f not in FLAG_LABELS]
        if bad:
            raise ListError(f"unknown flag(s) {', '.join(bad)}; known: {', '.join(FLAG_LABELS)}")
        if any(not 0 <= lv <= 4 for lv in self.levels):
            raise ListError(f"levels {self.levels}: levels run from 0 to 4")

    def describe(self) -> dict[str, Any]:
        return {
            "ward": self.ward_id,
            "groups": list(self.groups),
            "levels": list(self.levels),
            "flags": list(self.flags),
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }


@dataclass
class WardList:
    """One ward's list, ready to write: the selected rows (levels, counts and flags joined with address,
    head of household and latest test) and group names; text columns are formatted per group."""

    store: Store
    view: SnapshotView
    principal: Principal
    filter: ListFilter
    ward_name: str
    rows: pd.DataFrame  # selected rows in list order, with `stt`
    group_names: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.rows)

    def groups(self) -> list[str]:
        return list(dict.fromkeys(self.rows["group_id"].fillna("")))

    def summary(self) -> pd.DataFrame:
        """Per group: households listed, per level, per flag."""
        r = self.rows.assign(group_id=self.rows["group_id"].fillna(""))
        out = r.groupby("group_id", sort=False).size().rename("households").to_frame()
        for lv in range(1, 5):
            out[f"level_{lv}"] = r.assign(x=r["level"] == lv).groupby("group_id", sort=False)["x"].sum()
        for col, code in HOUSEHOLD_FLAGS.items():
            out[code] = r.groupby("group_id", sort=False)[col].sum()
        out.insert(0, "group_name", [self.group_names.get(g, g or "—") for g in out.index])
        return out.reset_index()

    def chunks(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """(group id, the group's list rows with every column) one group at a time."""
        for gid in self.groups():
            part = self.rows[self.rows["group_id"].fillna("") == gid]
            yield gid, self._detail(part)

    def _detail(self, d: pd.DataFrame) -> pd.DataFrame:
        personal = self.principal.can(VIEW_PERSONAL)
        names = d["full_name"].astype(object).where(d["full_name"].notna(), "")
        phones = d["phone"].astype(object).where(d["phone"].notna(), "")
        if not personal:
            names = names.map(_initials)
            phones = mask_phone(phones).fillna("")
        profile = profile_or_none(_household_profile(self.view))
        out = pd.DataFrame(
            {
                "stt": d["stt"].to_numpy(),
                "household_ref": d["household_ref"].fillna(""),
                "address": d["address"].fillna(""),
                "group_name": [self.group_names.get(g, g or "") for g in d["group_id"].fillna("")],
                "head_name": names,
                "phone": phones,
                "members": d["members"].fillna(0).astype(int),
                "vulnerable": _counts_text(
                    d, [("elderly", "≥ 65 tuổi"), ("older", "≥ 50 tuổi"), ("comorbid", "bệnh nền")]
                ),
                "vaccination_gaps": _counts_text(
                    d,
                    [
                        ("unvaccinated", "chưa tiêm"),
                        ("vulnerable_unvaccinated", "dễ tổn thương chưa tiêm"),
                        ("elderly50_under_vaccinated", "≥ 50 chưa đủ mũi cơ bản"),
                        ("booster_due", "đến hạn mũi nhắc"),
                    ],
                ),
                "latest_test": d["latest_test"].fillna(""),
                "level": d["level"].fillna(0).astype(int),
                "reasons": [
                    "; ".join(profile.explain_bits(int(b), "vi")) if profile is not None and b == b else ""
                    for b in d["reasons"]
                ],
                "follow_up": _flags_text(d, FOLLOW_UP),
                "support": np.where(d["flag_support"].fillna(False).astype(bool), "Có", ""),
            }
        )
        return out


def join_details(store: Store, rows: pd.DataFrame) -> pd.DataFrame:
    """The selected rows with address, household ref, head's name and phone and latest test: read once
    per list (households and persons by id, links and test records by the members' ids)."""
    ids = rows["household_id"].tolist()
    wards = rows["ward_id"].dropna().unique().tolist()
    hh = store.read_table(
        "households",
        columns=["household_id", "household_ref", "address", "head_person_id"],
        filters=[("ward_id", "in", wards)] if wards else [("household_id", "in", ids)],
    ).drop_duplicates("household_id")
    d = rows.merge(hh, on="household_id", how="left")
    people = store.read_table(
        "persons",
        columns=["person_id", "household_id", "full_name", "phone"],
        filters=[("household_id", "in", ids)],
    )
    heads = set(d["head_person_id"].dropna().astype("int64"))
    head = people[people["person_id"].isin(heads)].drop_duplicates("person_id")
    d = d.merge(
        head[["person_id", "full_name", "phone"]].rename(columns={"person_id": "head_person_id"}),
        on="head_person_id",
        how="left",
    )
    return d.merge(latest_tests(store, people[["person_id", "household_id"]]), on="household_id", how="left")


def _household_profile(view: SnapshotView) -> str:
    return ((view.info.stats.get("profiles") or {}).get("household") or {}).get("id") or "riskmap-household"


def _initials(name: str) -> str:
    return " ".join(w[0] + "." for w in str(name).split() if w) if name else ""


def _counts_text(d: pd.DataFrame, parts: list[tuple[str, str]]) -> np.ndarray:
    """ "2 ≥ 65 tuổi; 1 bệnh nền" per row, vectorised over the columns given."""
    text = np.full(len(d), "", dtype=object)
    for col, label in parts:
        if col not in d.columns:
            continue
        n = d[col].fillna(0).astype(int).to_numpy()
        piece = np.char.add(n.astype(str), f" {label}").astype(object)
        text = np.where(n > 0, np.where(text == "", piece, text + "; " + piece), text)
    return text


def _flags_text(d: pd.DataFrame, codes: tuple[str, ...]) -> np.ndarray:
    text = np.full(len(d), "", dtype=object)
    for col, code in HOUSEHOLD_FLAGS.items():
        if code in codes and col in d.columns:
            on = d[col].fillna(False).to_numpy(dtype=bool)
            label = FLAG_LABELS[code][0]
            text = np.where(on, np.where(text == "", label, text + "; " + label), text)
    return text


def latest_tests(store: Store, people: pd.DataFrame) -> pd.DataFrame:
    """Per household, its members' latest test as "dd/mm/yyyy dương tính (RT-PCR)" (linked records)."""
    empty = pd.DataFrame({"household_id": pd.Series(dtype="int64"), "latest_test": pd.Series(dtype=object)})
    if not len(people):
        return empty
    links = store.read_table(
        "links",
        columns=["record_id", "person_id", "same_as"],
        filters=[("person_id", "in", people["person_id"].tolist())],
    )
    links = links[links["same_as"].isna()]
    if not len(links):
        return empty
    tests = store.read_table(
        "records",
        columns=["record_id", "event_date", "result", "test_type"],
        filters=[("record_id", "in", links["record_id"].tolist()), ("kind", "=", "test")],
    )
    if not len(tests):
        return empty
    t = tests.merge(links[["record_id", "person_id"]], on="record_id").merge(
        people[["person_id", "household_id"]], on="person_id"
    )
    t = t.sort_values("event_date").drop_duplicates("household_id", keep="last")
    result = t["result"].map({"positive": "dương tính", "negative": "âm tính"}).fillna(t["result"].fillna(""))
    kind = t["test_type"].fillna("").map(lambda v: f" ({v})" if v else "")
    day = pd.to_datetime(t["event_date"]).dt.strftime("%d/%m/%Y")
    return pd.DataFrame(
        {"household_id": t["household_id"].to_numpy(), "latest_test": (day + " " + result + kind)}
    )


def read_ward_levels(store: Store, view: SnapshotView, ward_id: str) -> pd.DataFrame:
    """The ward's household_levels rows as the view's chain sees them (later snapshots replace rows)."""
    parts = [
        store.read_snapshot(
            sid, "household_levels", columns=LEVEL_COLUMNS, filters=[("ward_id", "=", ward_id)]
        )
        for sid in view.chain
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=LEVEL_COLUMNS)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return frame.drop_duplicates("household_id", keep="last") if len(parts) > 1 else frame


def check_ward(
    store: Store, view: SnapshotView, principal: Principal, flt: ListFilter
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The ward's row and groups, if the caller may list it (cheap: answers 403/404 before any work).
    Raises PermissionError when no part of the ward is in the caller's view scope, LookupError when the
    ward is unknown."""
    ward_row = view.row("ward", flt.ward_id)
    if ward_row is None:
        raise LookupError(f"no ward {flt.ward_id!r} in snapshot {view.snapshot_id}")
    groups = store.read_table(
        "groups", columns=["group_id", "name"], filters=[("ward_id", "=", flt.ward_id)]
    ).drop_duplicates("group_id")
    scope_probe = pd.DataFrame({"ward_id": flt.ward_id, "group_id": [None, *groups["group_id"]]})
    if not principal.visible(scope_probe).any():
        raise PermissionError(f"ward {flt.ward_id} lies outside your area")
    return ward_row, groups


def ward_list(store: Store, view: SnapshotView, principal: Principal, flt: ListFilter) -> WardList:
    """Select a ward's households by the filter, within the caller's scope, in list order (by group, then
    address). Raises as `check_ward` does."""
    ward_row, groups = check_ward(store, view, principal, flt)
    rows = read_ward_levels(store, view, flt.ward_id)
    rows = rows.assign(ward_id=flt.ward_id)
    keep = principal.visible(rows)
    if flt.groups:
        keep &= rows["group_id"].isin(flt.groups).to_numpy()
    if flt.levels:
        keep &= rows["level"].isin(flt.levels).to_numpy()
    if flt.flags:
        any_flag = np.zeros(len(rows), dtype=bool)
        for col, code in HOUSEHOLD_FLAGS.items():
            if code in flt.flags:
                any_flag |= rows[col].fillna(False).to_numpy(dtype=bool)
        keep &= any_flag
    rows = join_details(store, rows[keep])
    rows["_key"] = rows["address"].fillna("").map(_natural_key)
    rows = rows.sort_values(["group_id", "_key", "household_id"], na_position="last").drop(columns=["_key"])
    rows = rows.reset_index(drop=True)
    rows.insert(0, "stt", np.arange(1, len(rows) + 1))
    return WardList(
        store,
        view,
        principal,
        flt,
        str(ward_row.get("name") or flt.ward_id),
        rows,
        dict(zip(groups["group_id"], groups["name"].fillna(groups["group_id"]), strict=True)),
    )


_DIGITS = re.compile(r"(\d+)")


def _natural_key(text: str) -> str:
    """Addresses in house-number order ("9 …" before "10 …"): numbers zero-padded."""
    return _DIGITS.sub(lambda m: m.group(1).zfill(8), text.lower())


# --- writers -------------------------------------------------------------------------------------------


def neutralise(values: pd.Series) -> pd.Series:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    s = values.astype(object)
    text = s.map(lambda v: isinstance(v, str))
    bad = text & s.where(text, "").str.startswith(FORMULA_START)
    return s.where(~bad, "'" + s.where(text, "").astype(str))


def iter_csv(wl: WardList) -> Iterator[bytes]:
    """The list as CSV, UTF-8 with BOM, one group per chunk."""
    yield ("\ufeff" + ",".join(HEADERS) + "\r\n").encode("utf-8")
    for _, frame in wl.chunks():
        safe = frame.apply(neutralise)
        yield safe.to_csv(index=False, header=False, lineterminator="\r\n").encode("utf-8")


def _sheet_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "-", name).strip("'") or "Tổ"
    base = base[:28]
    out, i = base, 2
    while out.lower() in used:
        out = f"{base[:25]} ({i})"
        i += 1
    used.add(out.lower())
    return out


def write_xlsx(wl: WardList, out: str | Path | IO[bytes]) -> int:
    """Write the list as XLSX (constant memory); returns the rows written."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    head = wb.add_format(
        {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#e0e0e0", "border": 1}
    )
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    title = wb.add_format({"bold": True, "font_size": 14})
    used: set[str] = set()

    def setup(ws: Any) -> None:
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)

    summary = wl.summary()
    ws = wb.add_worksheet(_sheet_name("Tổng hợp", used))
    setup(ws)
    cols = ["Tổ dân phố", "Số hộ", "Mức 1", "Mức 2", "Mức 3", "Mức 4"] + [
        FLAG_LABELS[c][0] for c in HOUSEHOLD_FLAGS.values()
    ]
    ws.write_row(0, 0, cols, head)
    ws.freeze_panes(1, 0)
    ws.set_column(0, 0, 24)
    ws.set_column(1, len(cols) - 1, 12)
    values = summary.drop(columns=["group_id"]).to_numpy()
    for i, row in enumerate(values, start=1):
        ws.write_string(i, 0, str(row[0]))
        ws.write_row(i, 1, [int(v) for v in row[1:]])
    n = len(values)
    ws.write_string(n + 1, 0, "Tổng cộng / Total", head)
    ws.write_row(n + 1, 1, [int(v) for v in summary.drop(columns=["group_id", "group_name"]).sum()], head)
    ws.autofilter(0, 0, max(n, 1), len(cols) - 1)
    info = [
        ("Phường/xã", wl.ward_name),
        ("Mã phường", wl.filter.ward_id),
        ("Ngày dữ liệu / as of", wl.view.info.as_of.date().isoformat()),
        ("Snapshot", str(wl.view.snapshot_id)),
        ("Bộ lọc / filter", _filter_text(wl.filter)),
        ("Số hộ / households", str(wl.count)),
        ("Người xuất / by", wl.principal.subject),
        ("Thời điểm / at (UTC)", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")),
        ("Mức theo dõi", "thang riêng của riskmap, không phải cấp độ của Bộ Y tế / riskmap's own scheme"),
    ]
    ws.write_string(n + 3, 0, "Danh sách hộ cần theo dõi / Household list", title)
    for i, (k, v) in enumerate(info, start=n + 4):
        ws.write_string(i, 0, k)
        ws.write_string(i, 1, v)
    written = 0
    for gid, frame in wl.chunks():
        ws = wb.add_worksheet(_sheet_name(wl.group_names.get(gid, gid or "Chưa rõ tổ"), used))
        setup(ws)
        ws.write_row(0, 0, HEADERS, head)
        ws.freeze_panes(1, 0)
        for j, (_, _, _, width) in enumerate(COLUMNS):
            ws.set_column(j, j, width)
        data = frame.to_numpy(dtype=object)
        for i, row in enumerate(data, start=1):
            for j, v in enumerate(row):
                if isinstance(v, str):
                    if v:
                        ws.write_string(i, j, v, wrap)
                else:
                    ws.write_number(i, j, int(v))
        ws.autofilter(0, 0, max(len(data), 1), len(COLUMNS) - 1)
        ws.set_header(f"&L{wl.ward_name} – {wl.group_names.get(gid, gid)}&R&P / &N")
        written += len(data)
    wb.close()
    return written


def _filter_text(f: ListFilter) -> str:
    parts = []
    if f.groups:
        parts.append("tổ: " + ", ".join(f.groups))
    if f.levels:
        parts.append("mức: " + ", ".join(map(str, f.levels)))
    if f.flags:
        parts.append("cờ: " + ", ".join(FLAG_LABELS[c][0] for c in f.flags))
    return "; ".join(parts) or "tất cả / all"
