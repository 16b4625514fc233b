"""Compare parsed OSM address strings with their `addr:*` tags (used by test_osm_addresses.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from geo.address import AddressParts, parse, street_key
from geo.settings import geo_settings
from geo.vntext import fold

TAGS = ["addr_housenumber", "addr_street", "addr_ward", "addr_district", "addr_city"]
_ADMIN_TYPE = re.compile(
    r"^(?:phuong|ward|p|f|xa|thi tran|quan|district|dist|huyen|q|thanh pho|tp|t p|thi xa|tx)\b\.?\s*"
)
_ADMIN_POST = re.compile(r"\s+(?:ward|district|city)$")
_HCMC = {
    "ho chi minh",
    "thanh pho ho chi minh",
    "tp ho chi minh",
    "hcm",
    "tp hcm",
    "hcmc",
    "sai gon",
    "tphcm",
    "ho chi minh city",
    "t p ho chi minh",
    "tp ho chi minh city",
}
_ALLEY_ONLY = re.compile(r"^(?:hem|kiet|ngo|k|h)\s*\.?\s*([0-9][0-9a-z/]*)$")
_HOUSE_IN_ALLEY = re.compile(r"^(?:so\s+)?([0-9][0-9a-z]*)\s+(?:hem|kiet|ngo)\s+([0-9][0-9a-z/]*)$")
_HOUSE = re.compile(
    r"^(?:so|so nha|no\.?|sn)?\s*([0-9][0-9a-z]*(?:\s*(?:bis|ter|[a-z]))?(?:\s*[/-]\s*[0-9][0-9a-z]*)*)$"
)
_LOT = re.compile(r"^([a-z]{1,3}[0-9]+[a-z]?(?:-[0-9]+[a-z]?)?)$")
_BLOCK = re.compile(r"^([a-z]{1,2}[0-9]+[a-z]{0,2}(?:/[0-9][0-9a-z]*)+)$")
_STREET_HOUSE = re.compile(r"^([0-9][0-9a-z]*(?:/[0-9][0-9a-z]*)*)\s+(.*[a-z].*)$")
_STREET_ALLEY = re.compile(r"^(?:hem|kiet|ngo)\s+([0-9][0-9a-z/]*)\s+(.+)$")


def load_points() -> gpd.GeoDataFrame:
    path = geo_settings().data_dir / "osm" / "hcmc_osm_pois_with_addresses_2023.geojson"
    g = gpd.read_file(path, engine="pyogrio")
    return g[g[["addr_housenumber", "addr_street"]].notna().any(axis=1)].reset_index(drop=True)


def admin_key(text: object) -> str:
    """A ward/district tag without its type word, folded ("Phường 05" → "5", "Ward 14" → "14")."""
    if not isinstance(text, str) or not text.strip():
        return ""
    f = " ".join(re.findall(r"[a-z]+|[0-9]+", fold(text)))  # "District1" → "district 1"
    f = _ADMIN_POST.sub("", _ADMIN_TYPE.sub("", f))
    f = re.sub(r"^d ([0-9]+)$", r"\1", f)  # "D1": District 1
    return " ".join(str(int(t)) if t.isdigit() else t for t in f.split())


def _num(s: str) -> str:
    s = re.sub(r"\s*-\s*", "-", s)
    return "/".join(
        "-".join(re.sub(r"^0+(?=\d)", "", x.replace(" ", "")) for x in e.split("-")) for e in s.split("/")
    )


def house_expect(tag: str) -> tuple[str, str] | None:
    """(alley, house) the tag says, or None when the tag is not a house number at all."""
    f = " ".join(fold(tag).replace(",", " ").split())
    m = _ALLEY_ONLY.match(f)
    if m:
        return _num(m.group(1)), ""
    m = _HOUSE_IN_ALLEY.match(f)
    if m:
        return _num(m.group(2)), _num(m.group(1))
    m = _HOUSE.match(f)
    if m:
        chain = _num(m.group(1).replace(" ", ""))
        if "/" in chain:
            alley, house = chain.rsplit("/", 1)
            return alley, house
        return "", chain
    m = _LOT.match(f)
    if m:
        return "", m.group(1)
    m = _BLOCK.match(f)
    if m:
        alley, house = m.group(1).rsplit("/", 1)
        return _num(alley), _num(house)
    return None


def compose(r: pd.Series) -> str:
    """The address as the tags spell it: `house street, ward, district, city` (missing parts left out; a
    street already written at the end of the house tag is not written twice)."""
    hn, st = (r[c] if isinstance(r[c], str) else "" for c in ("addr_housenumber", "addr_street"))
    if hn and st and fold(hn).endswith(fold(st)) and len(hn) > len(st):
        st = ""
    head = " ".join(x for x in (hn, st) if x)
    rest = [str(r[c]) for c in ("addr_ward", "addr_district", "addr_city") if isinstance(r[c], str) and r[c]]
    return ", ".join([head, *rest]) if head else ", ".join(rest)


_ADMIN_WORDS = re.compile(r"\b(ward|district|phuong|quan|huyen|city|vietnam|viet nam)\b")


def malformed(r: pd.Series) -> list[str]:
    """Tags that do not hold a value of their own kind, judged from the tags alone (never from a parse):
    such points cannot agree or disagree on that part."""
    out = []
    hn, st, wd, ds, ct = (r[c] if isinstance(r[c], str) else None for c in TAGS)
    if hn and house_expect(hn) is None:
        out.append("house tag holds no house number (floor, lot name, text)")
    if st and ("," in st or ";" in st or _ADMIN_WORDS.search(fold(st)) or re.search(r"\s-\s", st)):
        out.append("street tag holds more than a street")
    for tag, label in ((wd, "ward"), (ds, "district")):
        if tag and ("," in tag or re.search(r"\b(khu pho|kdc|khu dan cu|cu xa|to)\b", fold(tag))):
            out.append(f"{label} tag holds something else")
    if ct and admin_key(ct) not in _HCMC and not re.search(r"thu duc|binh duong|vung tau", fold(ct)):
        out.append("city tag holds a ward, district or typo")
    return out


@dataclass
class Check:
    text: str
    agree: bool
    classes: list[str]


def check(r: pd.Series, p: AddressParts | None = None) -> Check:
    """Do the parts parsed from the composed string agree with each tag? If not, why (classes)."""
    text = compose(r)
    p = p or parse(text)
    classes = []
    hn, st, wd, ds, ct = (r[c] if isinstance(r[c], str) else None for c in TAGS)
    got_house = (fold(p.alley).replace(" ", ""), fold(p.house_number).replace(" ", ""))
    alley_in_street = _STREET_ALLEY.match(" ".join(fold(st).split())) if st else None
    if alley_in_street:
        # the street tag holds the alley too ("Hẻm 649/20 Điện Biên Phủ"): read both from it
        st = alley_in_street.group(2)
    house_in_street = _STREET_HOUSE.match(" ".join(fold(st).split())) if st and not hn else None
    if house_in_street and street_key(st) != p.street_key:
        # the street tag holds the house number ("23 Đường Huỳnh Thúc Kháng"): read both from it
        hn, st = house_in_street.group(1), house_in_street.group(2)
    bis = re.match(r"^(bis|ter)\s+(.+)$", " ".join(fold(st).split())) if st else None
    if hn and bis:
        # "158" + "Bis Pasteur Street": the house's Bis was tagged with the street
        hn, st = f"{hn} {bis.group(1)}", bis.group(2)
    if hn:
        want = house_expect(hn)
        if want is not None and alley_in_street and not want[0]:
            want = (_num(alley_in_street.group(1)), want[1])
        if want is None:
            classes.append("house tag is not a house number (lot code, text)")
        elif want != got_house:
            classes.append("house number read differently")
    if st and street_key(st) != p.street_key:
        if (
            not hn
            and isinstance(r["addr_street"], str)
            and fold(r["addr_street"]).startswith(("hem", "kiet"))
        ):
            classes.append("alley without a house number")
        elif not hn:
            classes.append("street without a house number read as something else")
        elif re.search(r"\d", st) and not re.search(r"[a-zA-Z]{3}", fold(st)):
            classes.append("street tag is a bare number or code")
        elif "," in st or re.search(r"\b(ward|district|phuong|quan)\b", fold(st)):
            classes.append("street tag holds more than the street")
        else:
            classes.append("street read differently")
    for tag, part, label in ((wd, p.ward, "ward"), (ds, p.district, "district")):
        if not tag:
            continue
        if admin_key(tag) == admin_key(part):
            continue
        other = p.district if label == "ward" else p.ward
        if admin_key(tag) == admin_key(other) and admin_key(other):
            classes.append(f"{label} tag read as the {'district' if label == 'ward' else 'ward'}")
        else:
            classes.append(f"{label} tag not recognised")
    if ct:
        k = admin_key(ct)
        if k in _HCMC:
            if not p.city:
                classes.append("city tag not recognised")
        elif k not in (admin_key(p.ward), admin_key(p.district)):
            classes.append("city tag holds a ward or district name not read as such")
    return Check(text, not classes, classes)
