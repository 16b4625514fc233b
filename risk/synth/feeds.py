"""Source feeds: what eight sites and systems send, in their own layouts, with their habits and errors.

Each source (`SOURCES`) has its file format, encoding, delimiter, line ending, column headers and date
habits. Rows are planned first for every source of a kind (which event goes to which weekly file and
row, cross-site duplicates of doses, exact duplicates inside a file), so that every row knows where its
original lies before anything is written; then each file is rendered and written on its own random
stream, which keeps the output identical whatever order files are processed in.

Rows of one file are sorted by event date and site, as sites export them. Files are weekly by ISO week
of the event date (`2021-W35.csv`); the household registry has one file per 2025 ward. CSV fields never
contain line breaks, so a data row's `row_number` is its physical line number minus one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from risk.synth import errors as er
from risk.synth import render as rd
from risk.synth.epidemic import FOUND_IN, ISOLATION, OUTCOMES, QUARANTINE_WHERE, Epidemic
from risk.synth.population import CHILD, GRANDCHILD, HEAD, LODGER, PARENT, RELATIVE, SIBLING, SPOUSE, City
from risk.synth.rng import stream
from risk.synth.sites import SiteTable
from risk.synth.vaccination import DOSE_KINDS, VACCINES, Doses
from risk.synth.xlsx import concat_bytes, write_xlsx


@dataclass(frozen=True)
class Column:
    header: str
    field: str


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # registry | dose | test | case | contact
    fmt: str  # csv | xlsx | jsonl
    columns: tuple[Column, ...]
    dob_style: str  # a render.DATE_STYLES entry, or "excel" (date cells)
    date_style: str
    description: str
    bom: bool = False
    delimiter: str = ","
    eol: str = "\n"
    sheet: str = "Sheet1"
    text_date_share: float = 0.0  # spreadsheets: share of dates typed as text instead of date cells

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    @property
    def ext(self) -> str:
        return {"csv": ".csv", "xlsx": ".xlsx", "jsonl": ".jsonl"}[self.fmt]


def _cols(*pairs: tuple[str, str]) -> tuple[Column, ...]:
    return tuple(Column(h, f) for h, f in pairs)


SOURCES: tuple[Source, ...] = (
    Source(
        "ho-khau",
        "registry",
        "csv",
        _cols(
            ("Mã hộ", "household_ref"),
            ("Chủ hộ", "head_name"),
            ("Họ và tên", "name"),
            ("Quan hệ với chủ hộ", "relation"),
            ("Ngày sinh", "dob"),
            ("Giới tính", "sex"),
            ("Số CCCD/CMND", "id"),
            ("SĐT", "phone"),
            ("Địa chỉ", "address"),
        ),
        "dd/mm/yyyy",
        "dd/mm/yyyy",
        "household registry extract, one file per 2025 ward",
    ),
    Source(
        "tiem-chung-hcdc",
        "dose",
        "csv",
        _cols(
            ("STT", "stt"),
            ("Họ và tên", "name"),
            ("Ngày sinh", "dob"),
            ("Giới tính", "sex"),
            ("Số CMND/CCCD/Hộ chiếu", "id"),
            ("Số điện thoại", "phone"),
            ("Địa chỉ", "address"),
            ("Tên vắc xin", "vaccine"),
            ("Mũi tiêm", "dose_kind"),
            ("Ngày tiêm", "event_date"),
            ("Số lô", "lot"),
            ("Điểm tiêm", "site"),
        ),
        "dd/mm/yyyy",
        "dd/mm/yyyy",
        "city vaccination system export (mass vaccination points)",
        bom=True,
        eol="\r\n",
    ),
    Source(
        "tiem-chung-bv",
        "dose",
        "xlsx",
        _cols(
            ("STT", "stt"),
            ("Họ tên", "name"),
            ("Ngày tháng năm sinh", "dob"),
            ("Giới", "sex"),
            ("CCCD/CMND", "id"),
            ("Điện thoại", "phone"),
            ("Địa chỉ thường trú", "address"),
            ("Loại vắc xin", "vaccine"),
            ("Lần tiêm", "dose_kind"),
            ("Ngày tiêm", "event_date"),
            ("Bệnh viện", "site"),
        ),
        "excel",
        "excel",
        "hospital vaccination sites",
        sheet="Danh sách tiêm",
        text_date_share=0.3,
    ),
    Source(
        "tiem-chung-tyt",
        "dose",
        "csv",
        _cols(
            ("stt", "stt"),
            ("ho_ten", "name"),
            ("nam_sinh", "dob"),
            ("gioi_tinh", "sex"),
            ("so_cmnd", "id"),
            ("sdt", "phone"),
            ("dia_chi", "address"),
            ("vaccine", "vaccine"),
            ("mui", "dose_kind"),
            ("ngay_tiem", "event_date"),
            ("noi_tiem", "site"),
        ),
        "d/m/yyyy",
        "d/m/yyyy",
        "ward health stations; year-only births common",
    ),
    Source(
        "xet-nghiem-cdc",
        "test",
        "csv",
        _cols(
            ("Mã mẫu", "sample_code"),
            ("Họ và tên", "name"),
            ("Ngày sinh", "dob"),
            ("Giới tính", "sex"),
            ("CCCD/CMND", "id"),
            ("SĐT", "phone"),
            ("Địa chỉ", "address"),
            ("Ngày lấy mẫu", "event_date"),
            ("Loại mẫu", "sample_type"),
            ("Kết quả", "result"),
            ("Đơn vị xét nghiệm", "site"),
        ),
        "dd/mm/yyyy",
        "yyyy-mm-dd",
        "RT-PCR laboratory results (pooled and single samples)",
    ),
    Source(
        "xet-nghiem-nhanh",
        "test",
        "xlsx",
        _cols(
            ("STT", "stt"),
            ("Họ tên", "name"),
            ("Năm sinh", "dob"),
            ("Giới tính", "sex"),
            ("Số CCCD", "id"),
            ("SĐT", "phone"),
            ("Địa chỉ", "address"),
            ("Ngày test", "event_date"),
            ("Kết quả test nhanh", "result"),
            ("Điểm test", "site"),
        ),
        "dd/mm/yyyy",
        "excel",
        "rapid antigen tests at ward test points",
        sheet="Test nhanh",
        text_date_share=0.15,
    ),
    Source(
        "ca-benh",
        "case",
        "csv",
        _cols(
            ("Mã BN", "case_code"),
            ("Họ và tên", "name"),
            ("Ngày sinh", "dob"),
            ("Giới tính", "sex"),
            ("CCCD/CMND", "id"),
            ("SĐT", "phone"),
            ("Địa chỉ", "address"),
            ("Ngày báo cáo", "event_date"),
            ("Nơi phát hiện", "found_in"),
            ("Hình thức cách ly", "isolation"),
            ("Tình trạng", "outcome"),
        ),
        "dd/mm/yyyy",
        "dd/mm/yyyy",
        "F0 case reports",
        delimiter=";",
    ),
    Source(
        "tiep-xuc",
        "contact",
        "jsonl",
        _cols(
            ("ma_f1", "contact_code"),
            ("ho_ten", "name"),
            ("ngay_sinh", "dob"),
            ("gioi_tinh", "sex"),
            ("cccd", "id"),
            ("sdt", "phone"),
            ("dia_chi", "address"),
            ("ma_f0", "case_code"),
            ("ngay_tiep_xuc", "exposure_date"),
            ("ngay_bat_dau_cach_ly", "event_date"),
            ("noi_cach_ly", "quarantine_where"),
        ),
        "yyyy-mm-dd",
        "yyyy-mm-dd",
        "F1 lists from tracing teams",
    ),
)
SOURCE = {s.name: s for s in SOURCES}
DOSE_SOURCES = ("tiem-chung-hcdc", "tiem-chung-tyt", "tiem-chung-bv")  # by vaccination.SITE_KINDS
KEY_FIELDS = ("name", "id", "dob")
_EVENT_ONLY = ("date_format", "date_future", "date_impossible")
_DOSE_ONLY = ("vaccine_alias", "dose_kind_alias", "duplicate_cross_site")


def applicable(source: Source) -> tuple[str, ...]:
    """The error kinds a source's rows can carry."""
    out = []
    for code in er.CODES:
        if code in _DOSE_ONLY and source.kind != "dose":
            continue
        if code in _EVENT_ONLY and source.kind == "registry":
            continue
        out.append(code)
    return tuple(out)


SEX = np.array(["Nam", "Nữ"], dtype=object)
RESULT = np.array(["Âm tính", "Dương tính"], dtype=object)
SAMPLE_TYPE = np.array(["Mẫu đơn", "Mẫu gộp"], dtype=object)
FOUND_IN_LABEL = dict(zip(FOUND_IN, ("Cộng đồng", "Khu cách ly", "Khu phong tỏa"), strict=True))
ISOLATION_LABEL = dict(zip(ISOLATION, ("Tại nhà", "Cách ly tập trung", "Bệnh viện"), strict=True))
OUTCOME_LABEL = dict(zip(OUTCOMES, ("Khỏi bệnh", "Tử vong", "Đang điều trị"), strict=True))
QUARANTINE_LABEL = dict(zip(QUARANTINE_WHERE, ("Tại nhà", "Tập trung"), strict=True))
LOT_PREFIX = {"astrazeneca": "ABV", "pfizer": "FG", "moderna": "MD", "vero_cell": "VC", "janssen": "JS"}
GARBAGE_LINES = (
    "Tổng cộng: {n} dòng",
    "#VALUE!",
    "-----",
    "Ghi chú: danh sách chưa đầy đủ, bổ sung sau",
    "Người lập biểu",
    ",,,,,,",
)


# ---------------------------------------------------------------------------------------------------
# planning


def iso_week(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ISO year * 100 + week, last day of the week) of each day (days since 1970-01-01, a Thursday)."""
    days = np.asarray(days, dtype=np.int64)
    weekday = (days + 3) % 7  # Monday 0
    thursday = days - weekday + 3
    year = (np.datetime64("1970-01-01") + thursday.astype("timedelta64[D]")).astype("datetime64[Y]")
    jan1 = (year.astype("datetime64[D]") - np.datetime64("1970-01-01")).astype(np.int64)
    week = (thursday - jan1) // 7 + 1
    return (year.astype(np.int64) + 1970) * 100 + week, days - weekday + 6


@dataclass
class Plan:
    """The rows of one source in file order."""

    source: Source
    files: list[str]
    file: np.ndarray  # index into files
    row: np.ndarray  # 1-based data row within the file
    event: np.ndarray  # index into the kind's events
    copy_of: np.ndarray  # plan index of the row an exact duplicate repeats, -1
    cross: np.ndarray  # bool: a cross-site duplicate
    cross_uid: np.ndarray  # uid of the original row of a cross-site duplicate, -1
    uid: np.ndarray  # uid of each row (unique within the kind)
    week_end: np.ndarray  # last day of the row's file week
    dup_plan: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))  # original's plan
    dup_file: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    dup_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    dup_names: list[tuple[str, list[str]]] = field(default_factory=list)

    def duplicate_of(self, rows: np.ndarray) -> np.ndarray:
        """'source/file/row' of the originals of these rows ('' for rows that are not duplicates)."""
        prefixes = [f"{name}/{f}/" for name, files in self.dup_names for f in files]
        offsets = np.cumsum([0] + [len(files) for _, files in self.dup_names])
        dp = self.dup_plan[rows].astype(np.int64)
        has = dp >= 0
        at = np.where(has, offsets[np.maximum(dp, 0)] + self.dup_file[rows], 0)
        ref = rd.join(
            pa.array(prefixes or [""], type=pa.string()).take(pa.array(at)), rd.s(self.dup_row[rows])
        )
        return pc.if_else(pa.array(has), ref, "")


def _plan_source(
    source: Source,
    key: np.ndarray,
    names: dict[int, str],
    sort_cols: list[np.ndarray],
    event: np.ndarray,
    uid: np.ndarray,
    cross_uid: np.ndarray,
    week_end: np.ndarray,
    rng: np.random.Generator,
    error_rate: float,
) -> Plan:
    """File and row of every row of a source, with exact duplicates inserted."""
    n = len(event)
    order = np.lexsort((*reversed(sort_cols), key)) if n else np.zeros(0, dtype=np.int64)
    key, event, uid, cross_uid, week_end = (
        key[order],
        event[order],
        uid[order],
        cross_uid[order],
        week_end[order],
    )
    file_keys, file_idx = np.unique(key, return_inverse=True)
    starts = np.searchsorted(key, file_keys)
    pos = np.arange(n) - starts[file_idx]
    counts = np.bincount(file_idx, minlength=len(file_keys))
    # exact duplicates: right after the original or later in the same file
    dup = rng.random(n) < er.share("duplicate_exact", source.name, error_rate)
    d = np.flatnonzero(dup)
    adjacent = rng.random(len(d)) < 0.5
    later = pos[d] + 0.5 + rng.random(len(d)) * (counts[file_idx[d]] - pos[d])
    copy_pos = np.where(adjacent, pos[d] + 0.5, later)
    all_file = np.concatenate([file_idx, file_idx[d]])
    all_pos = np.concatenate([pos.astype(np.float64), copy_pos])
    all_src = np.concatenate([np.arange(n), d])
    final = np.lexsort((all_pos, all_file))
    inv = np.empty(len(final), dtype=np.int64)
    inv[final] = np.arange(len(final))
    is_copy = np.concatenate([np.zeros(n, bool), np.ones(len(d), bool)])
    copy_of = np.where(is_copy, inv[all_src], -1)[final]
    f = all_file[final]
    fstart = np.searchsorted(f, np.arange(len(file_keys)))
    row = np.arange(len(f)) - fstart[f] + 1
    s = all_src[final]
    return Plan(
        source=source,
        files=[names[int(k)] + source.ext for k in file_keys],
        file=f.astype(np.int32),
        row=row.astype(np.int32),
        event=event[s].astype(np.int32),
        copy_of=copy_of.astype(np.int32),
        cross=cross_uid[s] >= 0,
        cross_uid=np.where(is_copy[final], -1, cross_uid[s]).astype(np.int32),
        uid=np.where(is_copy[final], -1, uid[s]).astype(np.int32),
        week_end=week_end[s].astype(np.int32),
    )


def _week_names(keys: np.ndarray) -> dict[int, str]:
    return {int(k): f"{int(k) // 100}-W{int(k) % 100:02d}" for k in np.unique(keys)}


def _resolve_cross(plans: list[Plan]) -> None:
    """Where each duplicate's original lies: (plan, file, row) for cross-site and exact duplicates."""
    uid = np.concatenate([p.uid for p in plans])
    which = np.concatenate([np.full(len(p.row), i, dtype=np.int16) for i, p in enumerate(plans)])
    file = np.concatenate([p.file for p in plans])
    row = np.concatenate([p.row for p in plans])
    valid = np.flatnonzero(uid >= 0)
    order = valid[np.argsort(uid[valid], kind="stable")]
    keys = uid[order]
    for own, p in enumerate(plans):
        n = len(p.row)
        p.dup_plan = np.full(n, -1, dtype=np.int16)
        p.dup_file = np.full(n, -1, dtype=np.int32)
        p.dup_row = np.full(n, -1, dtype=np.int32)
        c = np.flatnonzero(p.cross_uid >= 0)
        if len(c):
            at = order[np.searchsorted(keys, p.cross_uid[c])]
            p.dup_plan[c], p.dup_file[c], p.dup_row[c] = which[at], file[at], row[at]
        cp = np.flatnonzero(p.copy_of >= 0)
        if len(cp):
            p.dup_plan[cp], p.dup_file[cp], p.dup_row[cp] = own, p.file[p.copy_of[cp]], p.row[p.copy_of[cp]]
        p.dup_names = [(q.source.name, q.files) for q in plans]


# ---------------------------------------------------------------------------------------------------
# events of each kind


@dataclass
class Events:
    kind: str
    cols: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.cols["id"])


def events_by_kind(city: City, doses: Doses, epi: Epidemic) -> dict[str, Events]:
    """The truth tables' rows as feed events (ids are the truth ids)."""
    p = city.persons
    hh = city.households
    reg_members = np.flatnonzero(hh.registered[p.household])
    ward = city.points.ward[p.household[reg_members]]
    order = np.lexsort((np.arange(len(reg_members)), hh.ref[p.household[reg_members]], ward))
    reg_members = reg_members[order]
    c = epi.cases
    t = epi.tests
    k = epi.contacts
    return {
        "registry": Events(
            "registry",
            {"id": reg_members + 1, "person": reg_members, "date": np.zeros(len(reg_members), np.int64)},
        ),
        "dose": Events(
            "dose",
            {
                "id": np.arange(1, len(doses) + 1),
                "person": doses.person.astype(np.int64),
                "date": doses.date.astype(np.int64),
                "vaccine": doses.vaccine,
                "dose_kind": doses.kind,
                "site": doses.site,
                "site_kind": doses.site_kind,
            },
        ),
        "test": Events(
            "test",
            {
                "id": np.arange(1, len(t.person) + 1),
                "person": t.person,
                "date": t.date.astype(np.int64),
                "test_type": t.test_type,
                "pooled": t.pooled,
                "result": t.result,
                "site": t.site,
            },
        ),
        "case": Events(
            "case",
            {
                "id": np.arange(1, len(c.person) + 1),
                "person": c.person,
                "date": c.report.astype(np.int64),
                "found_in": c.found_in,
                "isolation": c.isolation,
                "outcome": c.outcome,
                "site": np.zeros(len(c.person), np.int64),
            },
        ),
        "contact": Events(
            "contact",
            {
                "id": np.arange(1, len(k.person) + 1),
                "person": k.person,
                "date": k.quarantine_start.astype(np.int64),
                "case_id": k.case + 1,
                "exposure": k.exposure.astype(np.int64),
                "where": k.quarantine_where,
                "site": np.zeros(len(k.person), np.int64),
            },
        ),
    }


def plan_all(city: City, events: dict[str, Events], seed: int, error_rate: float, end_day: int) -> list[Plan]:
    """Plans of all eight sources."""
    plans: list[Plan] = []
    rng = stream(seed, "feeds", "plan")
    # registry: one file per ward
    ev = events["registry"]
    ward = city.points.ward[city.persons.household[ev.cols["person"]]].astype(np.int64)
    codes = city.geo.wards["code"].to_numpy()
    names = {int(w): str(codes[w]) for w in np.unique(ward)}
    n = ev.n
    plans.append(
        _plan_source(
            SOURCE["ho-khau"],
            ward,
            names,
            [np.arange(n)],
            np.arange(n),
            np.arange(n),
            np.full(n, -1),
            np.full(n, end_day),
            stream(seed, "feeds", "plan", "ho-khau"),
            error_rate,
        )
    )
    # doses: primary source by site kind, plus cross-site duplicates in another dose source
    ev = events["dose"]
    n = ev.n
    primary = ev.cols["site_kind"].astype(np.int64)
    p_dup = np.array([er.share("duplicate_cross_site", s, error_rate) for s in DOSE_SOURCES])[primary]
    dup = np.flatnonzero(rng.random(n) < p_dup)
    other = (primary[dup] + rng.integers(1, 3, len(dup))) % 3
    row_event = np.concatenate([np.arange(n), dup])
    row_source = np.concatenate([primary, other])
    row_date = ev.cols["date"][row_event] + np.concatenate(
        [np.zeros(n, np.int64), (rng.random(len(dup)) < 0.15).astype(np.int64)]
    )
    row_date = np.minimum(row_date, end_day)
    row_uid = np.arange(len(row_event))
    cross_uid = np.concatenate([np.full(n, -1), dup])
    for si, name in enumerate(DOSE_SOURCES):
        m = row_source == si
        key, week_end = iso_week(row_date[m])
        e = row_event[m]
        plans.append(
            _plan_source(
                SOURCE[name],
                key,
                _week_names(key),
                [row_date[m], ev.cols["site"][e], e],
                e,
                row_uid[m],
                cross_uid[m],
                week_end,
                stream(seed, "feeds", "plan", name),
                error_rate,
            )
        )
    # tests by type, cases, contacts
    for kind, splits in (
        ("test", (("xet-nghiem-cdc", 0), ("xet-nghiem-nhanh", 1))),
        ("case", (("ca-benh", None),)),
        ("contact", (("tiep-xuc", None),)),
    ):
        ev = events[kind]
        for name, test_type in splits:
            e = (
                np.flatnonzero(ev.cols["test_type"] == test_type)
                if test_type is not None
                else np.arange(ev.n)
            )
            date = ev.cols["date"][e]
            key, week_end = iso_week(date)
            plans.append(
                _plan_source(
                    SOURCE[name],
                    key,
                    _week_names(key),
                    [date, ev.cols["site"][e], e],
                    e,
                    e,
                    np.full(len(e), -1),
                    week_end,
                    stream(seed, "feeds", "plan", name),
                    error_rate,
                )
            )
    _resolve_cross([p for p in plans if p.source.kind == "dose"])
    for p in plans:
        if p.source.kind != "dose":
            _resolve_cross([p])
    return plans


# ---------------------------------------------------------------------------------------------------
# rendering and writing


@dataclass
class Context:
    city: City
    sites: SiteTable
    events: dict[str, Events]
    names: rd.NameVocab
    addresses: rd.AddressVocab
    seed: int
    error_rate: float
    end_day: int
    hh_phone: np.ndarray  # per household: the phone of its first member who has one (a guardian's)
    site_names: pa.Array
    ward_codes: pa.Array


def build_context(
    city: City, sites: SiteTable, events: dict[str, Events], seed: int, error_rate: float, end_day: int
) -> Context:
    p = city.persons
    pts = city.points
    house, _, _ = house_chain(city)
    addresses = rd.AddressVocab.build(
        streets=city.streets,
        ward_full=list(city.geo.wards["full_name"]),
        ward_is_commune=(city.geo.wards["unit_type"] == "xã").to_numpy(),
        old_names=list(city.geo.old.table["name"]),
        old_districts=list(city.geo.old.table["district_name"]),
        house=house,
        street_of_point=pts.street,
        kp_number=city.groups.kp[pts.group],
        ward_of_point=pts.ward,
        old_of_point=pts.old,
    )
    n_h = len(city.households.size)
    first_phone = np.full(n_h, np.iinfo(np.int64).max)
    has = np.flatnonzero(p.phone > 0)
    np.minimum.at(first_phone, p.household[has], has)
    hh_phone = np.where(first_phone < len(p), p.phone[np.minimum(first_phone, len(p) - 1)], 0)
    names = rd.NameVocab.build()
    return Context(
        city,
        sites,
        events,
        names,
        addresses,
        seed,
        error_rate,
        end_day,
        hh_phone,
        pa.array(sites.sites.names, type=pa.string()),
        pa.array(list(city.geo.wards["code"]), type=pa.string()),
    )


def house_chain(city: City) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Per address point: the full door number (`130/75/5`), the house part (`5`) and the alley (`130/75`)."""
    from risk.synth.addresses import house_strings

    pts = city.points
    house, alley = house_strings(pts.a1, pts.a2, pts.number, pts.suffix)
    chain = pc.if_else(pc.equal(alley, ""), house, rd.join(alley, house, sep="/"))
    return chain, house, alley


def _relation_labels(city: City, person: np.ndarray) -> np.ndarray:
    p = city.persons
    rel = p.relation[person]
    female = p.female[person]
    head = city.households.first[p.household[person]]
    older = p.age[person] > p.age[head]
    return np.select(
        [
            rel == HEAD,
            rel == SPOUSE,
            rel == CHILD,
            rel == PARENT,
            rel == GRANDCHILD,
            rel == SIBLING,
            rel == RELATIVE,
            rel == LODGER,
        ],
        [
            np.array("Chủ hộ", dtype=object),
            np.where(female, "Vợ", "Chồng"),
            np.array("Con", dtype=object),
            np.where(female, "Mẹ", "Cha"),
            np.array("Cháu", dtype=object),
            np.where(older, np.where(female, "Chị", "Anh"), "Em"),
            np.array("Cháu", dtype=object),
            np.array("Khác", dtype=object),
        ],
        "Khác",
    ).astype(object)


def render_file(ctx: Context, plan: Plan, fi: int) -> tuple[bytes, dict[str, object]]:
    """The bytes of one feed file and the truth rows of its data rows."""
    src = plan.source
    lo, hi = np.searchsorted(plan.file, [fi, fi + 1])  # plan rows are in file order
    sl = np.arange(lo, hi)
    name = plan.files[fi]
    rng = stream(ctx.seed, "feeds", src.name, name)
    ev = ctx.events[src.kind]
    event = plan.event[sl]
    copy_of = plan.copy_of[sl]
    is_copy = copy_of >= 0
    local_copy = np.where(is_copy, np.searchsorted(sl, copy_of), -1)
    n = len(sl)
    city = ctx.city
    p = city.persons
    person = ev.cols["person"][event].astype(np.int64)
    household = p.household[person].astype(np.int64)
    point = household
    week_end = plan.week_end[sl]
    fields = list(dict.fromkeys(c.field for c in src.columns))
    excel = src.fmt == "xlsx"
    has_event_date = src.kind != "registry"

    # the phone a row shows: the person's own, or for those without one a guardian's
    own = p.phone[person]
    guardian = ctx.hh_phone[household]
    use_g = (own == 0) & (src.kind != "registry") & (rng.random(n) < np.where(p.age[person] < 18, 0.7, 0.5))
    phone = np.where(use_g, guardian, own)
    _, m, d = rd.ymd(p.birth[person])

    # errors
    eligible: dict[str, np.ndarray] = {}
    yes = np.ones(n, dtype=bool)
    eligible.update(
        rd.name_eligibility(
            ctx.names, p.family[person], p.middle1[person], p.middle2[person], p.given[person]
        )
    )
    eligible.update(
        {
            "dob_day_month_swapped": (d <= 12) & (m <= 12) & (d != m),
            "dob_year_only": yes,
            "dob_placeholder": ~((d == 1) & (m == 1)),
            "dob_format": yes,
            "dob_impossible": yes,
        }
    )
    cccd, cmnd, passport = p.cccd[person], p.cmnd[person], p.passport[person]
    eligible.update(
        {
            "id_missing": (cccd > 0) | (cmnd > 0) | (passport > 0),
            "id_typo": cccd > 0,
            "id_cmnd": (cccd > 0) & (cmnd > 0),
            "id_spaces": cccd > 0,
        }
    )
    eligible.update(rd.phone_eligibility(phone))
    eligible.update(rd.address_eligibility(ctx.addresses, point))
    if has_event_date:
        eligible.update({"date_format": yes, "date_future": yes, "date_impossible": yes})
    if src.kind == "dose":
        eligible.update({"vaccine_alias": yes, "dose_kind_alias": yes})
    eligible.update({"unparseable": yes, "missing_required": yes, "formula": yes})
    mask = er.plan(rng, n, eligible, src.name, ctx.error_rate)
    mask |= np.where(plan.cross[sl], er.BIT["duplicate_cross_site"], 0)

    # columns
    cols: dict[str, rd.Cells] = {}
    for f in fields:
        cols[f] = _render_field(
            ctx, src, f, rng, ev, event, person, household, point, mask, phone, week_end, plan.row[sl], excel
        )
    # row-level errors: formula-like cells, missing required values
    formula_field = np.full(n, "", dtype=object)
    w = er.has(mask, "formula")
    if w.any():
        choices = [f for f in ("name", "id", "dob", "address", "phone") if f in fields]
        weights = np.array(
            [{"name": 0.45, "id": 0.2, "dob": 0.1, "address": 0.15, "phone": 0.1}[f] for f in choices]
        )
        pick = rng.choice(len(choices), n, p=weights / weights.sum())
        for i, f in enumerate(choices):
            rows = np.flatnonzero(w & (pick == i))
            if len(rows):
                formula_field[rows] = f
                cols[f] = cols[f].scatter(rows, _formula(cols[f].rows(rows), f, rng))
    w = er.has(mask, "missing_required")
    if w.any():
        blank_date = has_event_date & (rng.random(n) < 0.4)
        rows = np.flatnonzero(w & ~blank_date)
        cols["name"] = cols["name"].scatter(rows, np.full(len(rows), "", dtype=object))
        mask[rows] &= ~_field_bits("name")  # an empty name carries no spelling errors
        if has_event_date:
            rows = np.flatnonzero(w & blank_date)
            cols["event_date"] = cols["event_date"].scatter(rows, np.full(len(rows), "", dtype=object))
            mask[rows] &= ~_field_bits("date")
    # exact duplicates repeat their original's cells and errors
    if is_copy.any():
        src_idx = np.where(is_copy, local_copy, np.arange(n))
        for f in list(cols):
            cols[f] = cols[f].take(src_idx)
        mask = np.where(is_copy, mask[src_idx] | er.BIT["duplicate_exact"], mask)
        formula_field = formula_field[src_idx]
        phone = phone[src_idx]
    ordered = [cols[c.field] for c in src.columns]
    unparse = er.has(mask, "unparseable")
    corrupt_kind = rng.integers(0, 4, n)
    if is_copy.any():
        corrupt_kind = corrupt_kind[np.where(is_copy, local_copy, np.arange(n))]
    content = _serialise(src, ordered, unparse, corrupt_kind, rng, is_copy, local_copy, name)

    codes = er.codes_of(mask)
    reason = er.bad_reason(mask, np.isin(formula_field, KEY_FIELDS))
    truth = {
        "source": src.name,
        "file": name,
        "row_number": plan.row[sl],
        "kind": src.kind,
        "event_id": ev.cols["id"][event].astype(np.int64),
        "person_id": person + 1,
        "household_id": household + 1,
        "point_id": point + 1,
        "errors": codes,
        "bad": reason != "",
        "bad_reason": reason,
        "duplicate_of": plan.duplicate_of(sl),
        "mask": mask,
    }
    return content, truth


def _field_bits(field_name: str) -> np.int64:
    bits = np.int64(0)
    for k in er.ERROR_KINDS:
        if k.field == field_name:
            bits |= er.BIT[k.code]
    return bits


def _formula(text: pa.Array, f: str, rng: np.random.Generator) -> np.ndarray:
    """Values made to look like spreadsheet formulas (`=…`, `@…`, `-…`, `+…`, `=HYPERLINK(…)`)."""
    vals = np.asarray(text.to_pylist(), dtype=object).astype(str)
    form = rng.integers(0, 4, len(vals))
    out = np.where(
        form == 0, "=" + vals, np.where(form == 1, "@" + vals, np.where(form == 2, "-" + vals, "+" + vals))
    )
    if f == "name":
        out = np.where(form == 3, '=HYPERLINK("#";"' + vals + '")', out)
    if f == "dob":
        out = np.where(form == 3, "=DATE(" + vals + ")", out)
    return out.astype(object)


def _labels(values: np.ndarray, table: np.ndarray) -> rd.Cells:
    return rd.Cells(pa.array(list(table), type=pa.string()).take(pa.array(values.astype(np.int64))))


def _render_field(
    ctx: Context,
    src: Source,
    f: str,
    rng: np.random.Generator,
    ev: Events,
    event: np.ndarray,
    person: np.ndarray,
    household: np.ndarray,
    point: np.ndarray,
    mask: np.ndarray,
    phone: np.ndarray,
    week_end: np.ndarray,
    row: np.ndarray,
    excel: bool,
) -> rd.Cells:
    p = ctx.city.persons
    n = len(event)
    if f == "stt":
        return rd.Cells(
            rd.s(row), row.astype(np.float64) if excel else None, np.zeros(n, bool) if excel else None
        )
    if f == "name":
        return rd.render_names(
            ctx.names, p.family[person], p.middle1[person], p.middle2[person], p.given[person], mask, rng
        )
    if f == "dob":
        kinds = ("dob_day_month_swapped", "dob_year_only", "dob_placeholder", "dob_format", "dob_impossible")
        return rd.render_date(
            p.birth[person], src.dob_style, mask, kinds, rng, week_end, excel, src.text_date_share
        )
    if f == "event_date":
        return rd.render_date(
            ev.cols["date"][event],
            src.date_style,
            mask,
            ("date_format", "date_future", "date_impossible"),
            rng,
            week_end,
            excel,
            src.text_date_share,
        )
    if f == "sex":
        return _labels(p.female[person], SEX)
    if f == "id":
        return rd.render_ids(
            p.cccd[person], p.cmnd[person], p.passport[person], p.nationality[person], mask, rng, excel
        )
    if f == "phone":
        return rd.render_phones(phone, mask, rng)
    if f == "address":
        return rd.render_addresses(ctx.addresses, point, mask, rng)
    if f == "household_ref":
        codes = ctx.ward_codes.take(pa.array(ctx.city.points.ward[household].astype(np.int64)))
        ref = rd.pad(ctx.city.households.ref[household], 6)
        return rd.Cells(rd.join("HK-", codes, "-", ref))
    if f == "head_name":
        head = ctx.city.households.first[household]
        p = ctx.city.persons
        return rd.Cells(
            rd.full_names(ctx.names, p.family[head], p.middle1[head], p.middle2[head], p.given[head])
        )
    if f == "relation":
        return rd.Cells(pa.array(_relation_labels(ctx.city, person), type=pa.string()))
    if f == "vaccine":
        return rd.render_label(
            ev.cols["vaccine"][event].astype(np.int64),
            rd.VACCINE_LABEL,
            VACCINES,
            er.has(mask, "vaccine_alias"),
            rng,
        )
    if f == "dose_kind":
        return rd.render_label(
            ev.cols["dose_kind"][event].astype(np.int64),
            rd.DOSE_LABEL,
            DOSE_KINDS,
            er.has(mask, "dose_kind_alias"),
            rng,
        )
    if f == "lot":
        vac = ev.cols["vaccine"][event].astype(np.int64)
        prefix = np.array([LOT_PREFIX[v] for v in VACCINES], dtype=object)[vac]
        week = ev.cols["date"][event] // 7
        num = (ev.cols["site"][event].astype(np.int64) * 31 + week * 7 + vac * 101) % 9000 + 1000
        return rd.Cells(rd.join(pa.array(prefix, type=pa.string()), rd.s(num)))
    if f == "site":
        return rd.Cells(ctx.site_names.take(pa.array(ev.cols["site"][event].astype(np.int64))))
    if f == "sample_code":
        return rd.Cells(rd.join("XN", rd.pad(ev.cols["id"][event], 9)))
    if f == "sample_type":
        return _labels(ev.cols["pooled"][event], SAMPLE_TYPE)
    if f == "result":
        return _labels(ev.cols["result"][event], RESULT)
    if f == "case_code":
        ids = ev.cols["case_id"][event] if "case_id" in ev.cols else ev.cols["id"][event]
        return rd.Cells(rd.join("BN", rd.pad(ids, 6)))
    if f == "contact_code":
        return rd.Cells(rd.join("F1-", rd.pad(ev.cols["id"][event], 7)))
    if f == "found_in":
        return _labels(
            ev.cols["found_in"][event], np.array([FOUND_IN_LABEL[x] for x in FOUND_IN], dtype=object)
        )
    if f == "isolation":
        return _labels(
            ev.cols["isolation"][event], np.array([ISOLATION_LABEL[x] for x in ISOLATION], dtype=object)
        )
    if f == "outcome":
        return _labels(
            ev.cols["outcome"][event], np.array([OUTCOME_LABEL[x] for x in OUTCOMES], dtype=object)
        )
    if f == "exposure_date":
        y, m, d = rd.ymd(ev.cols["exposure"][event])
        return rd.Cells(rd.fmt_date(y, m, d, "yyyy-mm-dd"))
    if f == "quarantine_where":
        return _labels(
            ev.cols["where"][event], np.array([QUARANTINE_LABEL[x] for x in QUARANTINE_WHERE], dtype=object)
        )
    raise KeyError(f"no renderer for field {f!r}")


def _any(arr: pa.Array, needle: str) -> tuple[pa.Array, bool]:
    hit = pc.match_substring(arr, needle)
    return hit, bool(pc.any(hit).as_py())


def _csv_lines(src: Source, cols: list[rd.Cells]) -> pa.Array:
    """One line per row, values quoted only where they hold the delimiter or a quote."""
    d = src.delimiter
    parts = []
    for c in cols:
        t = pc.fill_null(c.text, "")
        quote, has_quote = _any(t, '"')
        delim, has_delim = _any(t, d)
        if has_quote:
            t = pc.if_else(quote, pc.replace_substring(t, '"', '""'), t)
        if has_quote or has_delim:
            t = pc.if_else(pc.or_(quote, delim), rd.join('"', t, '"'), t)
        parts.append(t)
    return rd.join(*parts, sep=d)


def _json_lines(src: Source, cols: list[rd.Cells]) -> pa.Array:
    """One JSON object per row (keys in layout order, values as strings, UTF-8 unescaped)."""
    parts = []
    for col, c in zip(src.columns, cols, strict=True):
        t = pc.fill_null(c.text, "")
        for needle, repl in (("\\", "\\\\"), ('"', '\\"'), ("\t", "\\t")):
            if _any(t, needle)[1]:
                t = pc.replace_substring(t, needle, repl)
        parts.append(rd.join(f'"{col.header}": "', t, '"'))
    return rd.join("{", rd.join(*parts, sep=", "), "}")


def _serialise(
    src: Source,
    cols: list[rd.Cells],
    unparse: np.ndarray,
    kind: np.ndarray,
    rng: np.random.Generator,
    is_copy: np.ndarray,
    local_copy: np.ndarray,
    file_name: str,
) -> bytes:
    """Bytes of the file, with unparseable rows broken in the ways real exports break."""
    n = len(unparse)
    bad = np.flatnonzero(unparse & ~is_copy)
    copies = np.flatnonzero(unparse & is_copy)
    values = (
        [
            [str(v) for v in row]
            for row in zip(*(c.rows(bad).fill_null("").to_pylist() for c in cols), strict=True)
        ]
        if len(bad)
        else []
    )
    if src.fmt == "xlsx":
        raw: dict[int, list[str | None]] = {}
        for i, vals in zip(bad, values, strict=True):  # loop over the few broken rows only
            k = kind[i]
            if k == 0:
                raw[int(i)] = ["", *vals[:-1]]  # shifted one column right
            elif k == 1:
                raw[int(i)] = [GARBAGE_LINES[int(rng.integers(0, 5))].format(n=n), None, str(n)]
            elif k == 2:
                raw[int(i)] = list(src.headers)  # the header again, mid-sheet
            else:
                raw[int(i)] = [vals[0], "#N/A", "#REF!", *["#N/A"] * (len(vals) - 3)]
        for i in copies:
            raw[int(i)] = raw.get(int(local_copy[i]), [])
        return write_xlsx(
            src.headers, cols, sheet=src.sheet, created=_monday(file_name.split(".")[0]), raw_rows=raw
        )
    lines = _csv_lines(src, cols) if src.fmt == "csv" else _json_lines(src, cols)
    if len(bad):
        originals = lines.take(pa.array(bad)).to_pylist()
        broken = []
        dlm = src.delimiter
        for i, vals, line in zip(bad, values, originals, strict=True):  # loop over the few broken rows only
            k = kind[i]
            if src.fmt == "jsonl":
                broken.append(
                    [
                        line[: max(5, int(len(line) * rng.uniform(0.3, 0.8)))],
                        line.replace('"', "'"),
                        line[:-1] + ", }",
                        GARBAGE_LINES[int(rng.integers(0, 5))].format(n=n),
                    ][k]
                )
            elif k == 0:  # values not quoted: the address splits into extra fields
                broken.append(dlm.join(vals) + ("" if dlm == "," else dlm))
            elif k == 1:  # cut short
                broken.append(dlm.join(vals[: int(rng.integers(2, max(3, len(vals) - 2)))]))
            elif k == 2:  # a quote opened and never closed
                broken.append('"' + dlm.join(v.replace('"', "") for v in vals))
            else:
                broken.append(GARBAGE_LINES[int(rng.integers(0, 6))].format(n=n).replace(",", dlm))
        where = np.zeros(n, dtype=bool)
        where[bad] = True
        lines = pc.replace_with_mask(lines, pa.array(where), pa.array(broken, type=pa.string()))
        if len(copies):
            where = np.zeros(n, dtype=bool)
            where[copies] = True
            lines = pc.replace_with_mask(lines, pa.array(where), lines.take(pa.array(local_copy[copies])))
    eol = src.eol
    header = _csv_header(src) if src.fmt == "csv" else ""
    body = concat_bytes(rd.join(lines, eol)) if n else b""
    head = ((header + eol) if header else "").encode("utf-8")
    return (b"\xef\xbb\xbf" if src.bom else b"") + head + body


def _csv_header(src: Source) -> str:
    return src.delimiter.join(f'"{h}"' if src.delimiter in h or '"' in h else h for h in src.headers)


def _monday(week_name: str) -> str:
    if "-W" not in week_name:
        return "2021-01-01"
    y, w = week_name.split("-W")
    jan4 = np.datetime64(f"{int(y)}-01-04")
    wd = (int((jan4 - np.datetime64("1970-01-01")).astype(np.int64)) + 3) % 7
    return str(jan4 - np.timedelta64(wd, "D") + np.timedelta64(7 * (int(w) - 1), "D"))


_SHARED: tuple[Context, list[Plan], Path] | None = None


def _write_one(task: tuple[int, int]) -> tuple[dict, dict[str, object]]:
    ctx, plans, out = _SHARED  # type: ignore[misc]
    pi, fi = task
    plan = plans[pi]
    content, rows = render_file(ctx, plan, fi)
    rel = f"feeds/{plan.source.name}/{plan.files[fi]}"
    (out / rel).write_bytes(content)
    entry = {
        "path": rel,
        "rows": len(rows["row_number"]),
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    return entry, rows


def write_feeds(
    ctx: Context,
    plans: list[Plan],
    out: Path,
    workers: int = 1,
    on_file: Callable[[dict, dict[str, object]], None] | None = None,
) -> list[dict]:
    """Render and write every file (in `workers` forked processes); `on_file` sees each file's manifest
    entry and truth rows in file order, so results never depend on the number of workers."""
    global _SHARED
    for plan in plans:
        (out / "feeds" / plan.source.name).mkdir(parents=True, exist_ok=True)
    tasks = [(pi, fi) for pi, plan in enumerate(plans) for fi in range(len(plan.files))]
    entries = []
    _SHARED = (ctx, plans, out)
    try:
        if workers > 1 and len(tasks) > 1:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(workers) as pool:
                for entry, rows in pool.imap(_write_one, tasks, chunksize=1):
                    entries.append(entry)
                    if on_file:
                        on_file(entry, rows)
        else:
            for task in tasks:
                entry, rows = _write_one(task)
                entries.append(entry)
                if on_file:
                    on_file(entry, rows)
    finally:
        _SHARED = None
    return entries


TRUTH_ROWS_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("file", pa.string()),
        ("row_number", pa.int32()),
        ("kind", pa.string()),
        ("event_id", pa.int64()),
        ("person_id", pa.int64()),
        ("household_id", pa.int64()),
        ("point_id", pa.int64()),
        ("errors", pa.string()),
        ("bad", pa.bool_()),
        ("bad_reason", pa.string()),
        ("duplicate_of", pa.string()),
    ]
)


def truth_table(rows: dict[str, object]) -> pa.Table:
    n = len(rows["row_number"])
    cols = {}
    for f in TRUTH_ROWS_SCHEMA:
        v = rows[f.name]
        if isinstance(v, str):
            v = np.full(n, v, dtype=object)
        cols[f.name] = pa.array(v, type=f.type)
    return pa.table(cols, schema=TRUTH_ROWS_SCHEMA)
