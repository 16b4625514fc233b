"""Address parts, their normal forms and the match key shared by the registry and parsed records.

The match key is what makes "the same address" a string comparison: both the registry
(`address_points.match_key`) and the geocoder build it with `match_key_for_point`, from parts normalised by
the functions here, so every spelling that parses to the same parts gets the same key:

    "<ward_id>|<street key>|<alley key>|<house key>"    e.g. "hcmc-2025:27439|so 7|130/75|5"

The street key drops the word "Đường" (the street type everybody omits) and folds diacritics; numbered
streets read "so 7" however written ("Đường số 07", "Đường 7", "Số 7"). House and alley keys are folded,
without spaces and leading zeros ("12 Bis" → "12bis", "008" → "8").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from functools import lru_cache

from geo.address.lexicon import STREET_ALIASES
from geo.address.text import ffold, normalize
from geo.vntext import fold

_HOUSE = re.compile(r"^0*(\d+)\s*([a-z]{0,3}?)\s*(bis|ter)?$")
_HOUSE_CODE = re.compile(r"^0*(\d+)([a-z]{1,3}\d{1,3})$")  # 14A1, 2C7: a number with a lot-style suffix
_ELEM = re.compile(r"[0-9a-z]+")
_DATE_STREET = re.compile(r"^(\d{1,2})\s*(?:/|thang)\s*(\d{1,2})$")
_NUMBERED = re.compile(r"^(?:so\s*)?0*(\d+[a-z]{0,3})$")
_STREET_PREFIX = re.compile(r"^(?:duong|dai lo|d)\s+")
_STREET_POSTFIX = re.compile(r"(?<=\w)\s+(?:street|st|road|rd)$")  # "Pasteur Street" is "Đường Pasteur"
# abbreviated street types, expanded in keys so "ĐT 830" and "Đường tỉnh 830" agree
_STREET_TYPE_ABBREV = re.compile(r"^(dt|ql|tl|hl)\s*(?=\d)")
_STREET_TYPE_WORDS = {"dt": "duong tinh ", "ql": "quoc lo ", "tl": "tinh lo ", "hl": "huong lo "}
_TYPED_STREET = ("Quốc lộ", "Tỉnh lộ", "Hương lộ", "Đại lộ", "Xa lộ", "Đường tỉnh", "Liên ấp")
_TYPED_STREET_FOLDED = [(t, fold(t) + " ") for t in _TYPED_STREET]


@dataclass(slots=True)
class AddressParts:
    """One address split into its parts, each in normal form ("" when absent).

    `house_number` is the number on the door (`12`, `12A`, `12 Bis`, `52-54`), with its pieces in
    `house_base` (12), `house_suffix` ("A"), `house_bis` and `house_range_end` (54). `alley` is the chain of
    alley numbers without the house (`130/75` for `130/75/5`), `alley_word` the word written for it
    (hẻm, kiệt, ngõ, ngách). `ward` and `district` are as written (normalised, diacritics restored when the
    name is known): they are resolved to units by `geo.resolve`, not here. `ward_other` is a second,
    different ward the text names (then no single ward can be trusted). `flags` say what was guessed or
    ambiguous.
    """

    house_number: str = ""
    house_base: int | None = None
    house_suffix: str = ""
    house_bis: bool = False
    house_range_end: int | None = None
    alley: str = ""
    alley_word: str = ""
    street: str = ""
    street_key: str = ""
    khu_pho: str = ""
    to: str = ""
    building: str = ""
    ward: str = ""
    ward_type: str = ""
    ward_name: str = ""
    ward_other: str = ""
    district: str = ""
    district_type: str = ""
    district_name: str = ""
    city: str = ""
    extra: str = ""
    flags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def normal(self) -> str:
        return normal_form(self)

    @property
    def address_key(self) -> str:
        """Street, alley and house as one key, without the ward (the geocoder adds the resolved ward)."""
        return f"{self.street_key}|{alley_key(self.alley)}|{house_key(self.house_number)}"

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in _FIELDS}
        d["flags"] = ";".join(self.flags)
        d["normal"] = self.normal
        d["address_key"] = self.address_key
        return d


_FIELDS = [f.name for f in fields(AddressParts)]
PART_COLUMNS = [*_FIELDS, "normal", "address_key"]


# ---------------------------------------------------------------------------------------------------------
# house numbers and alleys


@dataclass(frozen=True)
class House:
    """A house number read from text: normal form and its pieces."""

    text: str
    base: int | None
    suffix: str
    bis: bool
    range_end: int | None


@lru_cache(maxsize=262_144)
def read_house(text: str) -> House:
    """`12`, `012`, `12a`, `12 Bis`, `52-54`, `148EF` → normal form and pieces. Anything else (lot codes such
    as `C0-01`) is kept as written, upper-cased, with no base number."""
    f = ffold(normalize(text)).replace(" ", "")
    if not f:
        return House("", None, "", False, None)
    parts = f.split("-")
    if len(parts) > 1 and all(_HOUSE.match(p) for p in parts):
        ms = [_HOUSE.match(p) for p in parts]
        norm = "-".join(_house_text(m) for m in ms if m)
        first, last = ms[0], ms[-1]
        assert first and last
        return House(
            norm,
            int(first.group(1)),
            first.group(2).upper(),
            bool(first.group(3)),
            int(last.group(1)),
        )
    m = _HOUSE.match(f)
    if m:
        return House(_house_text(m), int(m.group(1)), m.group(2).upper(), bool(m.group(3)), None)
    m = _HOUSE_CODE.match(f)
    if m:
        return House(
            str(int(m.group(1))) + m.group(2).upper(), int(m.group(1)), m.group(2).upper(), False, None
        )
    return House(normalize(text).upper().replace(" ", ""), None, "", False, None)


def _house_text(m: re.Match[str]) -> str:
    s = str(int(m.group(1))) + m.group(2).upper()
    return s + (" Bis" if m.group(3) == "bis" else " Ter" if m.group(3) else "")


@lru_cache(maxsize=262_144)
def house_key(house_number: str) -> str:
    """Folded house number without spaces or leading zeros: the house part of the match key."""
    if not house_number:
        return ""
    return ffold(read_house(house_number).text).replace(" ", "")


@lru_cache(maxsize=262_144)
def normal_alley(chain: str) -> str:
    """`130/075/5a` → `130/75/5A` (each element a house-number-like piece)."""
    elems = [e for e in re.split(r"\s*/\s*", normalize(chain)) if e]
    return "/".join(read_house(e).text for e in elems)


@lru_cache(maxsize=262_144)
def alley_key(chain: str) -> str:
    return ffold(normal_alley(chain)).replace(" ", "") if chain else ""


# ---------------------------------------------------------------------------------------------------------
# streets


def _word_case(w: str) -> str:
    if any(ch.isdigit() for ch in w):
        return w.upper()
    return w[:1].upper() + w[1:].lower()


@lru_cache(maxsize=262_144)
def normal_street(name: str, street_type: str = "", *, normalized: bool = False) -> str:
    """Normal form of a street with its type word: `Đường Nguyễn Trãi`, `Đường số 7`, `Đường D1`,
    `Đường 3 Tháng 2`, `Quốc lộ 1A`. `name` is the name without the type word."""
    name = (name if normalized else normalize(name)).strip(" .,-")
    if not name:
        return ""
    f = ffold(name)
    alias = STREET_ALIASES.get(f.replace(".", "").replace(" ", "")) or STREET_ALIASES.get(f)
    if alias:
        name, f = alias, ffold(alias)
    m = _DATE_STREET.match(f)
    if m and 1 <= int(m.group(1)) <= 31 and 1 <= int(m.group(2)) <= 12:
        body = f"{int(m.group(1))} Tháng {int(m.group(2))}"
        return f"{street_type or 'Đường'} {body}"
    m = _NUMBERED.match(f)
    if m and (street_type in ("", "Đường")):
        return f"Đường số {m.group(1).upper()}"
    body = " ".join(_word_case(w) for w in name.split(" ") if w)
    if street_type and street_type != "Đường":
        return f"{street_type} {body}"
    fb = f.lower()
    for t, ft in _TYPED_STREET_FOLDED:
        if fb.startswith(ft):
            return t + body[len(t) :]
    return f"Đường {body}"


@lru_cache(maxsize=262_144)
def street_key(street: str, *, normalized: bool = False) -> str:
    """Folded street name without "Đường": the street part of the match key."""
    if not street:
        return ""
    f = ffold(street if normalized else normalize(street)).lower()
    f = re.sub(r"[^0-9a-z/ ]+", " ", f)
    f = " ".join(f.split())
    f = _STREET_POSTFIX.sub("", f)
    f = _STREET_PREFIX.sub("", f)
    f = _STREET_TYPE_ABBREV.sub(lambda m: _STREET_TYPE_WORDS[m.group(1)], f)
    f = _STREET_PREFIX.sub("", f)
    alias = STREET_ALIASES.get(f.replace(" ", ""))
    if alias:
        f = ffold(alias)
    m = _DATE_STREET.match(f)
    if m and 1 <= int(m.group(1)) <= 31 and 1 <= int(m.group(2)) <= 12:
        return f"{int(m.group(1))} thang {int(m.group(2))}"
    m = _NUMBERED.match(f)
    if m:
        return f"so {m.group(1)}"
    f = f.replace("thang tam", "thang 8")
    return " ".join(str(int(w)) if w.isdigit() else w for w in f.split(" "))


# ---------------------------------------------------------------------------------------------------------
# keys and normal forms


def ward_part(ward: str) -> str:
    """A ward code or unit id as it appears in match keys (a unit id; bare codes are 2025 codes)."""
    ward = str(ward or "")
    if not ward:
        return ""
    return ward if ":" in ward else f"hcmc-2025:{ward}"


def match_key_for_point(house_number: str, alley: str, street: str, ward: str) -> str:
    """The match key of a registry point (or of parsed parts once their ward is resolved)."""
    return f"{ward_part(ward)}|{street_key(street)}|{alley_key(alley)}|{house_key(house_number)}"


def full_house(alley: str, house_number: str) -> str:
    """What is written before the street: `130/75/5`, or `130/75` for the alley alone."""
    a = normal_alley(alley) if alley else ""
    h = read_house(house_number).text if house_number else ""
    return f"{a}/{h}" if a and h else (h or a)


def normal_form(p: AddressParts) -> str:
    """`130/75/5 Đường số 7, Khu phố 3, Phường Bình Hưng Hòa A, Quận Bình Tân, Thành phố Hồ Chí Minh`."""
    head = full_house(p.alley, p.house_number)
    if p.alley and not p.house_number and p.alley_word:
        head = f"{p.alley_word.capitalize()} {head}"
    first = " ".join(x for x in (head, p.street) if x)
    parts = [first, p.building, p.to, p.khu_pho, p.ward, p.district, p.city]
    return ", ".join(x for x in parts if x)
