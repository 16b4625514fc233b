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

# Markers as written with their diacritics (the key) → subtype. A token written with diacritics is a marker
# only where it matches this spelling ("Dương" in "An Dương Vương" is not "Đường"; "Xá" in "Cư Xá" is not
# "Xã"); written without any diacritics it may be either, and what follows decides.
WARD_MARKERS: dict[str, str] = {
    "phường": "phường",
    "p": "phường",
    "ph": "phường",
    "f": "phường",
    "ward": "phường",
    "xã": "xã",
    "x": "xã",
    "thị trấn": "thị trấn",
    "tt": "thị trấn",
    "đặc khu": "đặc khu",
    "đk": "đặc khu",
    "đ k": "đặc khu",
}
DISTRICT_MARKERS: dict[str, str] = {
    "quận": "quận",
    "q": "quận",
    "district": "quận",
    "dist": "quận",
    "huyện": "huyện",
    "h": "huyện",  # also hẻm: decided by what follows
    "thị xã": "thị xã",
    "tx": "thị xã",
    "thành phố": "thành phố",  # a city-level district (TP Thủ Đức) unless HCMC follows
    "tp": "thành phố",
}
KHU_PHO_MARKERS: dict[str, str] = {
    "khu phố": "Khu phố",
    "kp": "Khu phố",
    "k p": "Khu phố",
    "ấp": "Ấp",
}
TO_MARKERS: dict[str, str] = {
    "tổ dân phố": "Tổ",
    "tdp": "Tổ",
    "tổ": "Tổ",
}
# Street-type words. "Đường" is dropped from the key; the others are part of the street's name.
STREET_MARKERS: dict[str, str] = {
    "đường": "Đường",
    "đ": "Đường",  # only as "Đ." / "D." (with a dot)
    "đg": "Đường",
    "street": "Đường",
    "đại lộ": "Đại lộ",
    "đl": "Đại lộ",
    "quốc lộ": "Quốc lộ",
    "ql": "Quốc lộ",
    "tỉnh lộ": "Tỉnh lộ",
    "tl": "Tỉnh lộ",
    "hương lộ": "Hương lộ",
    "hl": "Hương lộ",
    "đường tỉnh": "Đường tỉnh",
    "đt": "Đường tỉnh",
    "xa lộ": "Xa lộ",
    "liên ấp": "Liên ấp",
}
ALLEY_MARKERS: dict[str, str] = {
    "hẻm": "hẻm",
    "h": "hẻm",
    "kiệt": "kiệt",
    "k": "kiệt",
    "ngõ": "ngõ",
    "ngách": "ngách",
    "alley": "hẻm",
    "lane": "hẻm",
}
HOUSE_MARKERS: dict[str, str] = {
    "số nhà": "số nhà",
    "nhà số": "số nhà",
    "sn": "số nhà",
    "số": "số",
    "no": "số",
}
BUILDING_MARKERS: dict[str, str] = {
    "phòng": "Phòng",
    "lầu": "Lầu",
    "tầng": "Tầng",
    "căn hộ": "Căn hộ",
    "chung cư": "Chung cư",
    "tòa nhà": "Tòa nhà",
    "block": "Block",
    "lô": "Lô",
    "khu dân cư": "Khu dân cư",
    "kdc": "Khu dân cư",
    "khu công nghiệp": "Khu công nghiệp",
    "kcn": "Khu công nghiệp",
    "chợ": "Chợ",
}

HCMC = "Thành phố Hồ Chí Minh"
# City and province spellings → normal form. The longest match wins.
CITY_ALIASES: dict[str, str] = {
    "thành phố hồ chí minh": HCMC,
    "tp hồ chí minh": HCMC,
    "t p hồ chí minh": HCMC,
    "tp hcm": HCMC,
    "tp hcmc": HCMC,
    "t p hcm": HCMC,
    "tphcm": HCMC,
    "tp sg": HCMC,
    "hcm": HCMC,
    "hcmc": HCMC,
    "hồ chí minh city": HCMC,
    "ho chi minh city": HCMC,
    "hồ chí minh": HCMC,
    "sg": HCMC,
    "sài gòn": HCMC,
    "saigon": HCMC,
    "thành phố sài gòn": HCMC,
    "bình dương": "Tỉnh Bình Dương",
    "tỉnh bình dương": "Tỉnh Bình Dương",
    "bình dương province": "Tỉnh Bình Dương",
    "tỉnh bà rịa vũng tàu": "Tỉnh Bà Rịa - Vũng Tàu",
    "bà rịa vũng tàu": "Tỉnh Bà Rịa - Vũng Tàu",
    "brvt": "Tỉnh Bà Rịa - Vũng Tàu",
    "br vt": "Tỉnh Bà Rịa - Vũng Tàu",
}
COUNTRY_ALIASES: dict[str, str] = {
    "việt nam": "Việt Nam",
    "vietnam": "Việt Nam",
    "vn": "Việt Nam",
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


Marker = tuple[tuple[str, ...], tuple[str, ...], str, str]  # folded tokens, spelled tokens, kind, subtype


def marker_table() -> dict[str, list[Marker]]:
    """First folded token → [(folded sequence, spelled sequence, kind, subtype)], longest first."""
    table: dict[str, list[Marker]] = {}
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
        for spelled, sub in markers.items():
            sp = tuple(spelled.split(" "))
            seq = tuple(fold(t) for t in sp)
            table.setdefault(seq[0], []).append((seq, sp, kind, sub))
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
    """A known admin name: its display form (with diacritics), the roles it can play, and every spelling
    (lower case tokens) that folds to it: text written with diacritics must match one of them ("Tháng Tám"
    is not the ward "Thắng Tam")."""

    display: str
    roles: set[str] = field(default_factory=set)
    spellings: set[tuple[str, ...]] = field(default_factory=set)
    _seen: dict[tuple[str, ...], bool] = field(default_factory=dict, repr=False, compare=False)

    def spelled_as(self, written: list[str] | tuple[str, ...]) -> bool:
        written = tuple(written)
        hit = self._seen.get(written)
        if hit is None:
            hit = any(
                all(w == sp or w == fold(w) for w, sp in zip(written, spelling, strict=True))
                for spelling in self.spellings
                if len(spelling) == len(written)
            )
            if len(self._seen) < 256:
                self._seen[written] = hit
        return hit


@dataclass
class AdminLexicon:
    """Folded admin names (ward, district, city) by token sequence, for marker-less recognition."""

    names: dict[tuple[str, ...], AdminEntry]
    max_len: int
    first: frozenset[str]

    def longest(
        self, toks: list[str], i: int, end: int, written: list[str] | None = None
    ) -> tuple[int, AdminEntry | None]:
        """Longest known name starting at toks[i] (not past `end`): (length, entry) or (0, None).
        `written` (the tokens as written, lower case) must agree with the name's diacritics."""
        if toks[i] not in self.first:
            return 0, None
        for n in range(min(self.max_len, end - i), 0, -1):
            e = self.names.get(tuple(toks[i : i + n]))
            if e is not None and (written is None or e.spelled_as(written[i : i + n])):
                return n, e
        return 0, None

    def suffix(
        self, toks: list[str], start: int, end: int, written: list[str] | None = None
    ) -> tuple[int, AdminEntry | None]:
        """Longest known name ending at toks[end-1] and starting after `start`."""
        for n in range(min(self.max_len, end - start - 1), 0, -1):
            e = self.names.get(tuple(toks[end - n : end]))
            if e is not None and (written is None or e.spelled_as(written[end - n : end])):
                return n, e
        return 0, None


def _spelling(name: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[^\W_]+", normalize(name).lower()))


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
            e = names[toks] = AdminEntry(display, {role})
        else:
            e.roles.add(role)
        e.spellings.add(_spelling(display))
    for spelled, display in CITY_ALIASES.items():
        seq = tuple(fold(t) for t in spelled.split(" "))
        e = names.setdefault(seq, AdminEntry(display, set()))
        e.roles.add(CITY)
        e.spellings.add(tuple(spelled.split(" ")))
        if seq not in CITY_OR_WARD:
            e.display = display
    # names written without their spaces ("Đakao", "GoVap", "Q.BinhThanh"), where that is unambiguous
    joined: dict[tuple[str, ...], list[AdminEntry]] = {}
    for toks, e in names.items():
        if len(toks) > 1 and not any(t.isdigit() for t in toks):
            joined.setdefault(("".join(toks),), []).append(e)
    for k, es in joined.items():
        if k not in names and len(es) == 1:
            e = es[0]
            names[k] = AdminEntry(e.display, set(e.roles), {("".join(sp),) for sp in e.spellings})
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
