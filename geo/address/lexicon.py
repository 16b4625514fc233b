"""Words the address parser recognises: markers (abbreviations in every spelling) and admin names.

Markers are matched on folded tokens (no diacritics, lower case), so `P.`, `p`, `Phường`, `phuong` and
`F.` are the same ward marker. Short markers that are also ordinary syllables (`to` = tổ / Tô, `ngo` =
ngõ / Ngô, `ap` = ấp / áp, `quan` = quận / quán, `so` = số / sở) only count where what follows fits
(a number, or a known admin name): the parser checks that, this module only lists them.

Admin names come from the shipped geographies (2019, 2021, 2025 and the pre-merger lists), so the parser
can recognise a ward or district written without its marker (`So 5 Nguyen Trai Ben Thanh Q1`) and give it
back with its diacritics restored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from geo.vntext import fold, normalize

# kind of marker → {folded token sequence: subtype}. Longest sequences are tried first.
WARD = "ward"
DISTRICT = "district"
CITY = "city"
COUNTRY = "country"
KHU_PHO = "khu_pho"
TO = "to"
STREET = "street"
ALLEY = "alley"
HOUSE = "house"
BUILDING = "building"

WARD_MARKERS: dict[tuple[str, ...], str] = {
    ("phuong",): "phường",
    ("p",): "phường",
    ("ph",): "phường",
    ("f",): "phường",
    ("ward",): "phường",
    ("xa",): "xã",
    ("x",): "xã",
    ("thi", "tran"): "thị trấn",
    ("tt",): "thị trấn",
    ("dac", "khu"): "đặc khu",
}
DISTRICT_MARKERS: dict[tuple[str, ...], str] = {
    ("quan",): "quận",
    ("q",): "quận",
    ("district",): "quận",
    ("dist",): "quận",
    ("huyen",): "huyện",
    ("h",): "huyện",  # also hẻm: decided by what follows
    ("thi", "xa"): "thị xã",
    ("tx",): "thị xã",
    ("thanh", "pho"): "thành phố",  # a city-level district (TP Thủ Đức) unless HCMC follows
    ("tp",): "thành phố",
}
KHU_PHO_MARKERS: dict[tuple[str, ...], str] = {
    ("khu", "pho"): "Khu phố",
    ("kp",): "Khu phố",
    ("k", "p"): "Khu phố",
    ("ap",): "Ấp",
}
TO_MARKERS: dict[tuple[str, ...], str] = {
    ("to", "dan", "pho"): "Tổ",
    ("tdp",): "Tổ",
    ("to",): "Tổ",
}
# Street-type words. "Đường" is dropped from the key; the others are part of the street's name.
STREET_MARKERS: dict[tuple[str, ...], str] = {
    ("duong",): "Đường",
    ("d",): "Đường",  # only as "Đ." / "D." (with a dot)
    ("dg",): "Đường",
    ("street",): "Đường",
    ("dai", "lo"): "Đại lộ",
    ("quoc", "lo"): "Quốc lộ",
    ("ql",): "Quốc lộ",
    ("tinh", "lo"): "Tỉnh lộ",
    ("tl",): "Tỉnh lộ",
    ("huong", "lo"): "Hương lộ",
    ("hl",): "Hương lộ",
    ("duong", "tinh"): "Đường tỉnh",
    ("dt",): "Đường tỉnh",
    ("xa", "lo"): "Xa lộ",
    ("lien", "ap"): "Liên ấp",
}
ALLEY_MARKERS: dict[tuple[str, ...], str] = {
    ("hem",): "hẻm",
    ("h",): "hẻm",
    ("kiet",): "kiệt",
    ("k",): "kiệt",
    ("ngo",): "ngõ",
    ("ngach",): "ngách",
    ("alley",): "hẻm",
    ("lane",): "hẻm",
}
HOUSE_MARKERS: dict[tuple[str, ...], str] = {
    ("so", "nha"): "số nhà",
    ("nha", "so"): "số nhà",
    ("sn",): "số nhà",
    ("so",): "số",
    ("no",): "số",
}
BUILDING_MARKERS: dict[tuple[str, ...], str] = {
    ("phong",): "Phòng",
    ("lau",): "Lầu",
    ("tang",): "Tầng",
    ("can", "ho"): "Căn hộ",
    ("chung", "cu"): "Chung cư",
    ("toa", "nha"): "Tòa nhà",
    ("block",): "Block",
    ("lo",): "Lô",
    ("khu", "dan", "cu"): "Khu dân cư",
    ("kdc",): "Khu dân cư",
    ("khu", "cong", "nghiep"): "Khu công nghiệp",
    ("kcn",): "Khu công nghiệp",
    ("cho",): "Chợ",
}

# The exact spelling of marker words: a token written so is a marker even where a folded look-alike is not
# ("xã" is a commune, "Cư Xá" is a housing estate; "Tổ 5" a group, "Tô Hiến Thành" a street).
MARKER_SPELLING: dict[str, str] = {
    "phuong": "phường",
    "quan": "quận",
    "huyen": "huyện",
    "xa": "xã",
    "tran": "trấn",
    "khu": "khu",
    "pho": "phố",
    "ap": "ấp",
    "to": "tổ",
    "so": "số",
    "duong": "đường",
    "hem": "hẻm",
    "kiet": "kiệt",
    "ngo": "ngõ",
    "ngach": "ngách",
    "nha": "nhà",
}

HCMC = "Thành phố Hồ Chí Minh"
# City and province spellings → normal form. Order does not matter: the longest match wins.
CITY_ALIASES: dict[tuple[str, ...], str] = {
    ("thanh", "pho", "ho", "chi", "minh"): HCMC,
    ("tp", "ho", "chi", "minh"): HCMC,
    ("tp", "hcm"): HCMC,
    ("tp", "hcmc"): HCMC,
    ("tphcm",): HCMC,
    ("tp", "sg"): HCMC,
    ("hcm",): HCMC,
    ("hcmc",): HCMC,
    ("ho", "chi", "minh", "city"): HCMC,
    ("ho", "chi", "minh"): HCMC,
    ("sg",): HCMC,
    ("sai", "gon"): HCMC,
    ("saigon",): HCMC,
    ("thanh", "pho", "sai", "gon"): HCMC,
    ("tinh", "binh", "duong"): "Tỉnh Bình Dương",
    ("binh", "duong", "province"): "Tỉnh Bình Dương",
    ("tinh", "ba", "ria", "vung", "tau"): "Tỉnh Bà Rịa - Vũng Tàu",
    ("ba", "ria", "vung", "tau"): "Tỉnh Bà Rịa - Vũng Tàu",
    ("brvt",): "Tỉnh Bà Rịa - Vũng Tàu",
    ("br", "vt"): "Tỉnh Bà Rịa - Vũng Tàu",
}
COUNTRY_ALIASES: dict[tuple[str, ...], str] = {
    ("viet", "nam"): "Việt Nam",
    ("vietnam",): "Việt Nam",
    ("vn",): "Việt Nam",
}
# Names that are both a city alias and a 2025 ward: a city when last in the address, else a ward.
CITY_OR_WARD = {("sai", "gon"), ("binh", "duong")}

# Famous streets written in short forms.
STREET_ALIASES: dict[str, str] = {
    "cmt8": "Cách Mạng Tháng 8",
    "cmtt": "Cách Mạng Tháng 8",
    "cach mang thang tam": "Cách Mạng Tháng 8",
    "nkkn": "Nam Kỳ Khởi Nghĩa",
    "ntmk": "Nguyễn Thị Minh Khai",
    "xvnt": "Xô Viết Nghệ Tĩnh",
    "dbp": "Điện Biên Phủ",
}

# District-level units of the former Bình Dương and Bà Rịa–Vũng Tàu (before 1 Jul 2025), so that addresses
# naming them are understood; they are hints only (no codes are needed or assumed).
FORMER_PROVINCE_DISTRICTS: dict[str, str] = {
    "Thủ Dầu Một": "thành phố",
    "Dĩ An": "thành phố",
    "Thuận An": "thành phố",
    "Tân Uyên": "thành phố",
    "Bến Cát": "thành phố",
    "Bàu Bàng": "huyện",
    "Bắc Tân Uyên": "huyện",
    "Dầu Tiếng": "huyện",
    "Phú Giáo": "huyện",
    "Vũng Tàu": "thành phố",
    "Bà Rịa": "thành phố",
    "Phú Mỹ": "thành phố",
    "Châu Đức": "huyện",
    "Xuyên Mộc": "huyện",
    "Long Đất": "huyện",
    "Côn Đảo": "huyện",
}


def marker_table() -> dict[str, list[tuple[tuple[str, ...], str, str]]]:
    """First token → [(sequence, kind, subtype)], longest sequence first."""
    table: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
    for kind, markers in (
        (CITY, CITY_ALIASES),
        (COUNTRY, COUNTRY_ALIASES),
        (WARD, WARD_MARKERS),
        (DISTRICT, DISTRICT_MARKERS),
        (KHU_PHO, KHU_PHO_MARKERS),
        (TO, TO_MARKERS),
        (STREET, STREET_MARKERS),
        (ALLEY, ALLEY_MARKERS),
        (HOUSE, HOUSE_MARKERS),
        (BUILDING, BUILDING_MARKERS),
    ):
        for seq, sub in markers.items():
            table.setdefault(seq[0], []).append((seq, kind, sub))
    for entries in table.values():
        entries.sort(key=lambda e: -len(e[0]))
    return table


# ---------------------------------------------------------------------------------------------------------
# admin names

_DIGITS = re.compile(r"\d+")


def name_tokens(name: str) -> tuple[str, ...]:
    """Folded tokens of a name, numbers without leading zeros ("Phường 02" → ("phuong", "2"))."""
    toks = re.findall(r"[0-9a-z]+", fold(name))
    return tuple(str(int(t)) if t.isdigit() else t for t in toks)


@dataclass
class AdminEntry:
    """A known admin name: its display form (with diacritics) and the roles it can play."""

    display: str
    roles: set[str] = field(default_factory=set)


@dataclass
class AdminLexicon:
    """Folded admin names (ward, district, city) by token sequence, for marker-less recognition."""

    names: dict[tuple[str, ...], AdminEntry]
    max_len: int
    first: frozenset[str]

    def longest(self, toks: list[str], i: int, end: int) -> tuple[int, AdminEntry | None]:
        """Longest known name starting at toks[i] (not past `end`): (length, entry) or (0, None)."""
        if toks[i] not in self.first:
            return 0, None
        for n in range(min(self.max_len, end - i), 0, -1):
            e = self.names.get(tuple(toks[i : i + n]))
            if e is not None:
                return n, e
        return 0, None

    def suffix(self, toks: list[str], start: int, end: int) -> tuple[int, AdminEntry | None]:
        """Longest known name ending at toks[end-1] and starting after `start`."""
        for n in range(min(self.max_len, end - start - 1), 0, -1):
            e = self.names.get(tuple(toks[end - n : end]))
            if e is not None:
                return n, e
        return 0, None


def build_lexicon(entries: list[tuple[str, str]]) -> AdminLexicon:
    """Lexicon from (display name, role) pairs. Numbered names ("Phường 7") are left out: numbers are read
    by the parser after a marker, never as bare names."""
    names: dict[tuple[str, ...], AdminEntry] = {}
    for display, role in entries:
        display = normalize(display)
        toks = name_tokens(display)
        if not toks or all(t.isdigit() for t in toks):
            continue
        e = names.get(toks)
        if e is None:
            names[toks] = AdminEntry(display, {role})
        else:
            e.roles.add(role)
    for seq in CITY_ALIASES:
        e = names.setdefault(seq, AdminEntry(CITY_ALIASES[seq], set()))
        e.roles.add(CITY)
        if seq not in CITY_OR_WARD:
            e.display = CITY_ALIASES[seq]
    max_len = max(len(k) for k in names)
    return AdminLexicon(names, max_len, frozenset(k[0] for k in names))


@lru_cache(maxsize=1)
def admin_lexicon() -> AdminLexicon:
    """Every ward and district name of every shipped geography (2019, 2021, 2025, pre-merger lists)."""
    from geo.gazetteer import load_gazetteer, pre_merger_units, split_type, ward_attributes_2025

    entries: list[tuple[str, str]] = []
    # 2025 first: its spelling wins as the display form.
    for name in ward_attributes_2025()["ward_name"]:
        entries.append((name, WARD))
    for version in ("hcmc-2021", "hcmc-2019"):
        units = load_gazetteer(version).units
        for name, level in zip(units["name"], units["level"], strict=True):
            if level in (WARD, DISTRICT):
                entries.append((name, level))
    for row in pre_merger_units().itertuples(index=False):
        entries.append((row.name, DISTRICT if row.unit_type == "huyện" else WARD))
        if row.qualifier:
            entries.append((split_type(row.qualifier)[1], DISTRICT))
    for name in FORMER_PROVINCE_DISTRICTS:
        entries.append((name, DISTRICT))
    return build_lexicon(entries)
