"""Vietnamese address parser: free text → `AddressParts`.

How it reads an address:

1. Normal form (`vntext.normalize`) and a folded copy aligned character by character, so markers are
   found on the folded text while names keep their diacritics.
2. Tokens: runs of letters/digits (keeping `130/75/5` and `52-54` whole), with commas, semicolons,
   brackets and new lines as chunk boundaries, and "was followed by a dot" remembered (`P.`, `Đ.`).
   Glued abbreviations are split (`P2`, `Q.3`, `KP3`, `F2`, `QL1A`).
3. A left-to-right scan: a marker (`Phường`, `P.`, `Quận`, `KP`, `Hẻm`, `Số`, `Đường`, `TP.HCM` …) starts a
   part and reads its value; text without a marker is a house number + street at the start, otherwise an
   admin name recognised from the lexicon of every shipped geography (`Bến Thành` → ward).
4. Without commas, a street run may end with unmarked admin names (`Nguyen Trai Ben Thanh`): known names are
   peeled off its end, never the whole run, and not when the whole run is a known street.

Everything per record is done once per distinct string (`parse_many`), since addresses repeat.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache

import pandas as pd

from geo.address.lexicon import (
    ALLEY,
    BUILDING,
    CITY,
    CITY_OR_WARD,
    COUNTRY,
    DISTRICT,
    HCMC,
    HOUSE,
    KHU_PHO,
    STREET,
    TO,
    WARD,
    AdminEntry,
    AdminLexicon,
    admin_lexicon,
    marker_table,
)
from geo.address.parts import (
    PART_COLUMNS,
    AddressParts,
    normal_alley,
    normal_street,
    read_house,
    street_key,
)
from geo.address.text import ffold, fold_word, normalize

MAX_CHARS = 400  # longer input is cut (and flagged): no real address is that long

_TOKEN = re.compile(r"[^\W_]+(?:[/\-][^\W_]+)*|[,;()\[\]|]|\.")
_BAD_CHARS = re.compile(r"[\ue000-\uf8ff\ufffd]")
_BOUNDARY = {",", ";", "(", ")", "[", "]", "\n", "|"}
_GLUED = re.compile(
    r"^(p|f|ph|q|kp|x|tt|tx|h|k|sn|tdp|ql|tl|hl|dt|no|so|to|phuong|quan|huyen|district|dist|ward)(\d+[a-z]?)$"
)
_DISTRICT_CODE = re.compile(r"^d\d{1,2}$")
_CODE = re.compile(r"^[a-z]{1,3}\d+[a-z]?$")
_SPACED_SLASH = re.compile(r"(?<=\d)\s*/\s*(?=\d)|(?<=\d[A-Za-z])\s*/\s*(?=\d)")
_SPACED_RANGE = re.compile(r"^\d+[A-Za-z]{0,2}(?:\s*-\s*\d+[A-Za-z]{0,2})+(?=\s)")
_NUM = re.compile(r"^\d+[a-z]?$")
_CHAIN = re.compile(r"^\d+[a-z]{0,3}(?:/\d+[a-z]{0,3})+$")
_HOUSE_TOKEN = re.compile(r"^\d+(?:[a-z]{1,3}\d{0,3})?(?:[/\-]\d+(?:[a-z]{1,3}\d{0,3})?)*$")
# "C6/27", "B10/9K": a block letter before the first number of a chain (Bình Chánh, estates)
_BLOCK_CHAIN = re.compile(r"^[a-z]{1,2}\d+[a-z]{0,2}(?:/\d+(?:[a-z]{1,3}\d{0,3})?)+$")
_LOT_TOKEN = re.compile(r"^[a-z]{1,2}\d+[a-z]?(?:[\-/]\d+[a-z]?)+$")
_MARKERS = marker_table()


def _clean(text: object) -> tuple[str, list[str]]:
    flags: list[str] = []
    if text is None or (isinstance(text, float) and text != text):
        return "", flags
    raw = str(text)
    if len(raw) > MAX_CHARS * 4:
        raw = raw[: MAX_CHARS * 4]
    s = normalize(raw)
    # A spreadsheet formula (=…, +…, @…) is data here: drop the sign and say so.
    if s[:1] in ("=", "+", "@"):
        flags.append("formula")
        s = s.lstrip("=+@").strip()
    if len(s) > MAX_CHARS:
        flags.append("truncated")
        s = s[:MAX_CHARS]
    if "-" in s[:24]:
        s = _SPACED_RANGE.sub(lambda m: m.group(0).replace(" ", ""), s)  # "54 - 56 Nguyễn Trãi": a range
    if "/ " in s or " /" in s:
        s = _SPACED_SLASH.sub("/", s)  # "14 / 12": an alley chain
    if not s.isascii() and _BAD_CHARS.search(s):
        flags.append("bad_encoding")
    return s, flags


_token_cache: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[bool, ...]]] = {}


def _split_token(orig: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[bool, ...]]:
    """(original pieces, folded pieces, abbreviation-dot) of one token; glued markers split (`P2`)."""
    hit = _token_cache.get(orig)
    if hit is not None:
        return hit
    t = fold_word(orig)
    g = _GLUED.match(t)
    if g and len(t) == len(orig):
        k = len(g.group(1))
        out = ((orig[:k], orig[k:]), (g.group(1), g.group(2)), (True, False))
    else:
        out = ((orig,), (t,), (False,))
    if len(_token_cache) > 500_000:
        _token_cache.clear()
    _token_cache[orig] = out
    return out


class _Tokens:
    """Tokens of one address: folded text, original text, followed-by-dot, chunk number, and a memo of
    the marker found at each position."""

    __slots__ = ("chunk", "dot", "f", "glued", "low", "mk", "n", "o")

    def __init__(self, s: str) -> None:
        f: list[str] = []
        o: list[str] = []
        dot: list[bool] = []
        chunk: list[int] = []
        glued: list[bool] = []
        c = 0
        for orig in _TOKEN.findall(s):
            if orig in _BOUNDARY:
                c += 1
                continue
            if orig == ".":
                if dot:
                    dot[-1] = True
                continue
            po, pf, pd = _split_token(orig)
            o.extend(po)
            f.extend(pf)
            dot.extend(pd)
            chunk.extend([c] * len(po))
            glued.append(False)
            if len(po) > 1:
                glued.append(True)
        self.f, self.o, self.dot, self.chunk, self.n = f, o, dot, chunk, len(f)
        self.glued = glued
        self.low = [x.lower() for x in o]
        self.mk: list[object] = [_UNSET] * len(f)

    def text(self, i: int, j: int) -> str:
        """Original text of tokens i..j, glued pieces (F|2) joined back (F2)."""
        if not any(self.glued[i + 1 : j]):
            return " ".join(self.o[i:j])
        out = self.o[i]
        for k in range(i + 1, j):
            out += ("" if self.glued[k] else " ") + self.o[k]
        return out

    def ftext(self, i: int, j: int) -> str:
        return " ".join(self.f[i:j])


_UNSET = object()


@lru_cache(maxsize=1)
def known_streets() -> frozenset[str]:
    """Keys of the real HCMC street names shipped in `data/streets` (for when no registry is at hand)."""
    from geo.gazetteer import _read_csv

    names = _read_csv("streets", "hcmc_street_names_by_district_2019.csv")["street_name"]
    return frozenset(street_key(normal_street(n)) for n in set(names))


_LEX_HOLDER: list[AdminLexicon] = []  # the lexicon of the parse under way (for helpers deep in the scan)


def _is_num(t: str) -> bool:
    return bool(_NUM.match(t))


class _State:
    __slots__ = (
        "admin",
        "alley",
        "alley_word",
        "building",
        "city",
        "extra",
        "flags",
        "house",
        "khu_pho",
        "multi",
        "street",
        "street_type",
        "streets",
        "to",
    )

    def __init__(self, flags: list[str], streets: Collection[str], multi: bool) -> None:
        self.streets = streets
        self.multi = multi
        self.house = ""
        self.alley = ""
        self.alley_word = ""
        self.street = ""
        self.street_type = ""
        self.khu_pho = ""
        self.to = ""
        self.building: list[str] = []
        self.city = ""
        self.extra: list[str] = []
        self.flags = flags
        # admin mentions in order: (kind or None when unmarked, subtype, name, roles, position)
        self.admin: list[tuple[str | None, str, str, set[str], int]] = []


def parse(text: object, lexicon: AdminLexicon | None = None, streets: Collection[str] = ()) -> AddressParts:
    """Parse one address. `streets` (known street keys: the registry's, by default the shipped street list)
    keeps the parser from reading a street's last words as a ward name ("Tân Kỳ Tân Quý")."""
    lex = lexicon or admin_lexicon()
    streets = streets or known_streets()
    s, flags = _clean(text)
    if not flags:
        fast = _parse_normal_form(s, lex, streets)
        if fast is not None:
            return fast
    return _parse_tokens(s, flags, lex, streets)


# The registry's own normal form ("130/75/5 Đường số 7, Khu phố 3, Phường Bình Hưng Hòa, Thành phố Hồ Chí
# Minh"), the most common form in feeds, with or without diacritics, in any case and with the usual
# abbreviations (Đ., KP3, P., F7, X., ĐK, TP.HCM …), and the same with an old district after the ward
# ("…, Phường 17, Quận Bình Thạnh, …"), is read by regular expressions on the folded text. It gives exactly
# what the token scanner gives (a test checks it); anything unusual falls through to it. The house number
# (`_HEAD`) is all that differs between the houses of one street: what follows it (`_TAIL`) is read once per
# distinct text and kept (`_tail_template`).
_HEAD = re.compile(r"\d+[a-z]{0,3}(?:/\d+[a-z]{0,3})*(?:-\d+[a-z]{0,3})*")
_TAIL = re.compile(
    r"(?:(?P<bis>bis) )?"
    r"(?P<sm>duong |d\. ?|quoc lo |tinh lo |huong lo |dai lo |dl |xa lo |(?:ql|tl|hl)(?= |\d) ?)?"
    r"(?P<street>[^,]+), "
    r"(?:to (?P<to>\d+), )?"
    r"(?P<kpw>khu pho |kp\.? ?|ap |ap\.)(?P<kp>\d+), "
    r"(?:(?P<wtype>phuong |p\. ?|ph\. ?|f(?=\d)|xa |x\. ?|x |thi tran |tt\.? ?|dac khu |dk\.? ?|d\.k\.? ?)"
    r"(?P<ward>[^,]+), )?"
    r"(?:(?P<dtype>quan |q\. ?|huyen |thanh pho |tp\. ?)(?P<district>[^,]+), )?"
    r"(?P<city>thanh pho ho chi minh|tp\. ?hcm|tphcm|tp\. ho chi minh|tp ho chi minh|tp hcm|hcm)"
)
_WORD = re.compile(r"[^\W_]+")
_WARD_SUB = {"p": "phường", "f": "phường", "x": "xã", "t": "thị trấn", "d": "đặc khu"}
_DISTRICT_SUB = {"q": "quận", "h": "huyện", "t": "thành phố"}
_KP_SUB = {"k": "Khu phố", "a": "Ấp"}
_STREET_TYPE = {
    "duong": "Đường",
    "d": "Đường",
    "quoc lo": "Quốc lộ",
    "ql": "Quốc lộ",
    "tinh lo": "Tỉnh lộ",
    "tl": "Tỉnh lộ",
    "huong lo": "Hương lộ",
    "hl": "Hương lộ",
    "dai lo": "Đại lộ",
    "dl": "Đại lộ",
    "xa lo": "Xa lộ",
}
# how each marker of the form is spelled with its diacritics (a written diacritic must agree)
_SPELLED = {
    "sm": "đường đ quốc lộ tỉnh hương đại đl xa",
    "kpw": "khu phố ấp",
    "wtype": "phường xã thị trấn đặc khu đk đ",
    "dtype": "quận huyện thành phố",
    "city": "thành phố hồ chí minh",
    "to": "tổ",
}


@lru_cache(maxsize=4096)
def _spelled_ok(written: str, spelled: str) -> bool:
    """Is every word of a marker as written either without diacritics or spelled as `spelled` has it?
    (A few hundred distinct markers as written: cached.)"""
    allowed = set(spelled.split())
    return all(w == fold_word(w) or w in allowed for w in _WORD.findall(written.lower()))


def _parse_normal_form(s: str, lex: AdminLexicon, streets: Collection[str]) -> AddressParts | None:
    sp = s.find(" ")
    if sp <= 0:
        return None
    head = s[:sp]
    fh = ffold(head).lower()
    if len(fh) != len(head) or _HEAD.fullmatch(fh) is None:
        return None
    tpl = _tail_template(s[sp + 1 :], lex, streets)
    if tpl is None:
        return None
    bis, street, street_type, to, khu_pho, admin = tpl
    st = _State([], streets, True)
    if "/" in head:
        st.alley, st.house = head.rsplit("/", 1)
    else:
        st.house = head
    if bis:
        st.house += " " + bis
    st.street, st.street_type = street, street_type
    st.to = to
    st.khu_pho = khu_pho
    st.admin.extend(admin)
    st.city = HCMC
    return _finish(st)


_Template = tuple[str, str, str, str, str, tuple[tuple[str, str, str, set[str], int], ...]]
_TEMPLATES: dict[tuple[int, int], tuple[AdminLexicon, Collection[str], dict[str, _Template | None]]] = {}
_TEMPLATE_LIMIT = 200_000  # distinct tails kept per (lexicon, street list)


def _tail_template(tail: str, lex: AdminLexicon, streets: Collection[str]) -> _Template | None:
    """What the fast path reads after the house number (None: not the normal form), cached per distinct
    tail for each lexicon and street list (held here, so their ids stay theirs)."""
    slot = _TEMPLATES.get((id(lex), id(streets)))
    if slot is None or slot[0] is not lex or slot[1] is not streets:
        if len(_TEMPLATES) >= 8:
            _TEMPLATES.clear()
        slot = _TEMPLATES[(id(lex), id(streets))] = (lex, streets, {})
    cache = slot[2]
    if tail in cache:
        return cache[tail]
    if len(cache) >= _TEMPLATE_LIMIT:
        cache.clear()
    got = cache[tail] = _read_tail(tail, lex, streets)
    return got


def _read_tail(s: str, lex: AdminLexicon, streets: Collection[str]) -> _Template | None:
    fl = ffold(s).lower()
    if len(fl) != len(s):
        return None
    m = _TAIL.fullmatch(fl)
    if m is None:
        return None
    for g in ("sm", "kpw", "wtype", "dtype", "city"):
        if m.group(g) and not _spelled_ok(s[m.start(g) : m.end(g)], _SPELLED[g]):
            return None
    if m.group("to") and not _spelled_ok(s[m.start("to") - 3 : m.start("to")], _SPELLED["to"]):
        return None
    name = s[m.start("street") : m.end("street")]
    words = _WORD.findall(m.group("street"))
    sm = m.group("sm")
    prefixed = sm is not None
    stype = _STREET_TYPE[sm.replace(".", "").strip()] if prefixed else ""
    if not words or m.group("street") != " ".join(words) or _has_marker(words, 1 if prefixed else 0):
        return None  # only plain words (no "-", "(", "." …), and no marker word inside
    if prefixed and len(words) > 1 and words[0] == "so" and _is_num(words[1]):
        name = "số " + name.split(" ", 1)[1]  # as the scanner writes a numbered street ("so 7" → "số 7")
    if streets and street_key(normal_street(name, stype, normalized=True), normalized=True) not in streets:
        return None  # the scanner may read the end of the street as an admin name: let it decide
    if stype not in ("", "Đường") and len(words) > 1 and lex.suffix(words, 0, len(words))[1] is not None:
        return None  # a typed street ending in an admin name: the scanner may cut it there
    if not prefixed:
        n, e = lex.longest(words, 0, len(words))
        if e is not None and n == len(words):
            return None  # a known admin name where the street should be: the scanner decides
    admin: list[tuple[str, str, str, set[str], int]] = []
    if m.group("wtype"):
        ward = s[m.start("ward") : m.end("ward")]
        wtoks = _WORD.findall(ward)
        if "." in ward:
            return None
        if len(wtoks) == 1 and _NUM.match(wtoks[0].lower()):
            ward_name = _num_text(wtoks[0])
        else:
            ward_name = _known_name(wtoks, ward, WARD, lex)
            if ward_name is None:
                return None
        wtype = m.group("wtype")
        sub = "phường" if wtype.startswith("ph") else _WARD_SUB[wtype[0]]
        admin.append((WARD, sub, ward_name, {WARD}, 0))
    if m.group("dtype"):
        # an old district ("Quận Bình Thạnh", "Q.8", "Huyện Củ Chi", "Thành phố Thủ Đức"), as written
        # before the 2025 reform: what the scanner reads after a district marker at a chunk's start
        district = s[m.start("district") : m.end("district")]
        dtoks = _WORD.findall(district)
        if " ".join(dtoks) != district:
            return None
        dsub = _DISTRICT_SUB[m.group("dtype")[0]]
        if len(dtoks) == 1 and _NUM.match(dtoks[0].lower()):
            district_name = _num_text(dtoks[0])
            if dsub == "huyện":
                dsub = "quận"
        else:
            if _city_alias_at_words([fold_word(w) for w in dtoks]):
                return None  # "Thành phố Hồ Chí Minh": the city, not a district
            district_name = _known_name(dtoks, district, DISTRICT, lex)
            if district_name is None:
                return None
        admin.append((DISTRICT, dsub, district_name, {DISTRICT}, 1))
    bis = s[m.start("bis") : m.end("bis")] if m.group("bis") else ""
    to = f"Tổ {_num_text(m.group('to'))}" if m.group("to") else ""
    khu_pho = f"{_KP_SUB[m.group('kpw')[0]]} {_num_text(m.group('kp'))}"
    return bis, name, stype, to, khu_pho, tuple(admin)


def _known_name(toks: list[str], written: str, role: str, lex: AdminLexicon) -> str | None:
    """Display form of an admin name written as plain words, known in `role` and spelled as the lexicon
    spells it (None otherwise: the scanner decides)."""
    e = lex.names.get(tuple(fold_word(w) for w in toks))
    if e is None or role not in e.roles or " ".join(toks) != written:
        return None
    if not e.spelled_as(tuple(w.lower() for w in toks)):
        return None
    return e.display


def _city_alias_at_words(folded: list[str]) -> bool:
    """Do these folded words start with a city alias (`_city_alias_at` on a list of words)?"""
    entries = _MARKERS.get(folded[0]) if folded else None
    return bool(entries) and any(k == CITY and tuple(folded[: len(q)]) == q for q, _, k, _ in entries)


def _has_marker(words: list[str], start: int) -> bool:
    """Could the scanner see a marker at any of words[start:]? (Then the fast path steps aside.)"""
    for k in range(start, len(words)):
        for seq, _sp, _kind, _sub in _MARKERS.get(words[k], ()):
            if tuple(words[k : k + len(seq)]) == seq:
                return True
    return False


def _parse_tokens(s: str, flags: list[str], lex: AdminLexicon, streets: Collection[str]) -> AddressParts:
    """The general scanner (see the module docstring)."""
    _LEX_HOLDER[:] = [lex]
    tk = _Tokens(s)
    multi_chunk = bool(tk.n) and tk.chunk[-1] != tk.chunk[0]
    st = _State(flags, streets, multi_chunk)
    if tk.n == 0:
        if s:
            flags.append("unparsed")
        return _finish(st)
    i = 0
    while i < tk.n:
        j = _marker(tk, i, st, lex)
        if j is not None:
            i = j
            continue
        # a run without markers, up to the next marker or chunk boundary
        end = i + 1
        while end < tk.n and tk.chunk[end] == tk.chunk[i] and not _starts_marker(tk, end, st, lex):
            end += 1
        i = _free_run(tk, i, end, st, lex, streets, multi_chunk)
    return _finish(st)


# ---------------------------------------------------------------------------------------------------------
# markers


def _value_end(tk: _Tokens, i: int, st: _State, lex: AdminLexicon) -> int:
    """End of a marker's free-text value: next boundary or next marker."""
    end = i
    while end < tk.n and tk.chunk[end] == tk.chunk[i] and (end == i or not _starts_marker(tk, end, st, lex)):
        end += 1
    return end


def _starts_marker(tk: _Tokens, i: int, st: _State, lex: AdminLexicon) -> bool:
    return _match_marker(tk, i, st, lex) is not None


def _next_is_num(tk: _Tokens, j: int, same_chunk_as: int) -> bool:
    return j < tk.n and tk.chunk[j] == tk.chunk[same_chunk_as] and _is_num(tk.f[j])


def _next_is_chain(tk: _Tokens, j: int, same_chunk_as: int) -> bool:
    return j < tk.n and tk.chunk[j] == tk.chunk[same_chunk_as] and bool(_HOUSE_TOKEN.match(tk.f[j]))


def _next_known(tk: _Tokens, j: int, lex: AdminLexicon, roles: set[str]) -> bool:
    if j >= tk.n:
        return False
    e = lex.longest(tk.f, j, _chunk_end(tk, j), tk.low)[1]
    return bool(e and e.roles & roles)


def _chunk_end(tk: _Tokens, i: int) -> int:
    j = i
    while j < tk.n and tk.chunk[j] == tk.chunk[i]:
        j += 1
    return j


def _match_marker(tk: _Tokens, i: int, st: _State, lex: AdminLexicon) -> tuple[str, str, int] | None:
    """(kind, subtype, tokens used) of a marker at token i, if what follows fits it (and the parts read so
    far: "số 7" after a house number is a numbered street, not a house)."""
    m = tk.mk[i]
    if m is _UNSET:
        m = tk.mk[i] = _static_marker(tk, i, lex)
    if m is None:
        return None
    kind, sub, _n = m  # type: ignore[misc]
    if kind == HOUSE and tk.f[i] == "so" and (st.house or st.alley or st.street):
        return None
    if kind == STREET and sub == "Liên ấp" and (st.street or not (st.house or st.alley)):
        return None
    if (
        kind == KHU_PHO
        and sub == "Ấp"
        and (st.house or st.alley)
        and not st.street
        and i + 1 < tk.n
        and not _is_num(tk.f[i + 1])
    ):
        return None  # "24A Ấp Bắc": right after the house number, an ấp with a name is the street
    return m  # type: ignore[return-value]


def _static_marker(tk: _Tokens, i: int, lex: AdminLexicon) -> tuple[str, str, int] | None:
    entries = _MARKERS.get(tk.f[i])
    if not entries:
        return None
    for seq, spelled, kind, sub in entries:
        n = len(seq)
        if tuple(tk.f[i : i + n]) != seq or any(tk.chunk[i + k] != tk.chunk[i] for k in range(n)):
            continue
        # written with diacritics, a token must carry the marker's own ("Dương" is not "Đường")
        written = [tk.o[i + k].lower() for k in range(n)]
        if any(w != f and w != sp for w, f, sp in zip(written, seq, spelled, strict=True)):
            continue
        marked = spelled != seq and all(w == sp for w, sp in zip(written, spelled, strict=True))
        j = i + n  # first token after the marker
        has_dot = tk.dot[i + n - 1]
        num_next = _next_is_num(tk, j, i)
        more = j < tk.n and tk.chunk[j] == tk.chunk[i]
        if kind in (CITY, COUNTRY):
            if seq in CITY_OR_WARD and _followed_by_admin(tk, j, lex):
                continue
            return kind, sub, n
        if kind == WARD:
            if seq == ("ward",):
                if num_next or _next_known(tk, j, lex, {WARD}):
                    return kind, sub, n
                continue
            if seq in (("d", "k"), ("dk",)):
                # "Đ.K Côn Đảo" is the đặc khu; "Đ. K4" is a street
                if _next_known(tk, j, lex, {WARD}):
                    return kind, sub, n
                continue
            if seq in (("p",), ("f",), ("ph",), ("x",), ("tt",)):
                if num_next or (more and (has_dot or _next_known(tk, j, lex, {WARD}))):
                    return kind, sub, n
                continue
            # "Công Xã Paris" is a street: mid-text, a ward word needs a number or a ward name after it
            if more and (num_next or _chunk_start(tk, i) or _next_known(tk, j, lex, {WARD})):
                return kind, sub, n
            continue
        if kind == DISTRICT:
            if seq in (("thanh", "pho"), ("tp",)):
                if more and not _city_alias_at(tk, j):
                    return kind, sub, n
                continue
            if seq == ("h",):
                if more and not num_next and _next_known(tk, j, lex, {DISTRICT}):
                    return kind, sub, n
                continue
            if seq in (("q",), ("tx",), ("dist",)):
                if num_next or (more and (has_dot or _next_known(tk, j, lex, {DISTRICT}))):
                    return kind, sub, n
                continue
            # "Bà Huyện Thanh Quan" is a street: mid-text, a district word needs a district name after it
            if more and (num_next or _chunk_start(tk, i) or _next_known(tk, j, lex, {DISTRICT})):
                return kind, sub, n
            continue
        if kind == KHU_PHO:
            if seq == ("ap",):
                if num_next or (more and marked):
                    return kind, sub, n
                continue
            if seq == ("khu",) and not num_next:
                continue
            if num_next or (more and seq != ("k", "p")):
                return kind, sub, n
            continue
        if kind == TO:
            if num_next and (seq != ("to",) or tk.o[i].lower() in ("tổ", "to")):
                return kind, sub, n
            continue
        if kind == STREET:
            if seq == ("street",):
                continue  # a postfix ("Vo Van Kiet street"), handled in free runs
            if seq == ("d",) and not has_dot:
                continue
            if seq == ("lien", "ap"):
                return kind, sub, 0
            if more:
                return kind, sub, n
            continue
        if kind == ALLEY:
            if _next_is_chain(tk, j, i):
                return kind, sub, n
            continue
        if kind == HOUSE:
            if num_next or (j < tk.n and _HOUSE_TOKEN.match(tk.f[j]) and tk.chunk[j] == tk.chunk[i]):
                if seq == ("no",) and not has_dot:
                    continue
                return kind, sub, n
            continue
        if kind == BUILDING:
            if seq in (("cho",), ("lo",), ("block",)) and not (
                num_next or (j < tk.n and any(c.isdigit() for c in tk.f[j]))
            ):
                continue
            if seq in (("phong",), ("lau",), ("tang",)) and not num_next:
                continue
            if more:
                return kind, sub, n
            continue
    return None


def _chunk_start(tk: _Tokens, i: int) -> bool:
    return i == 0 or tk.chunk[i - 1] != tk.chunk[i]


def _followed_by_admin(tk: _Tokens, j: int, lex: AdminLexicon) -> bool:
    """Is there an admin part after position j (so "Sài Gòn" here is a ward, not the city)?"""
    while j < tk.n:
        m = _MARKERS.get(tk.f[j])
        if m and any(k in (WARD, DISTRICT, CITY) for _, _, k, _ in m):
            return True
        j += 1
    return False


def _city_alias_at(tk: _Tokens, j: int) -> bool:
    entries = _MARKERS.get(tk.f[j]) if j < tk.n else None
    if not entries:
        return False
    return any(k == CITY and tuple(tk.f[j : j + len(s)]) == s for s, _, k, _ in entries)


def _marker(tk: _Tokens, i: int, st: _State, lex: AdminLexicon) -> int | None:
    """Read the part a marker at i starts; return the next position, or None if i is no marker."""
    m = _match_marker(tk, i, st, lex)
    if m is None:
        return None
    kind, sub, n = m
    j = i + n
    if kind == CITY:
        _, display = _city_span(tk, i)
        st.city = st.city or display
        return j
    if kind == COUNTRY:
        return j
    if kind == DISTRICT and tk.f[i] == "h":
        st.flags.append("h_ambiguous")
    if kind in (WARD, DISTRICT):
        return _admin_value(tk, i, j, kind, sub, st, lex)
    if kind == KHU_PHO:
        if _is_num(tk.f[j]):
            st.khu_pho = st.khu_pho or f"{sub} {_num_text(tk.o[j])}"
            return j + 1
        end = _value_end(tk, j, st, lex)
        end = _stop_before_admin(tk, j, end, lex)
        st.khu_pho = st.khu_pho or f"{sub} {_title(tk.text(j, end))}"
        return end
    if kind == TO:
        st.to = st.to or f"Tổ {_num_text(tk.o[j])}"
        return j + 1
    if kind == ALLEY:
        _read_number(tk, j, st, as_alley=True)
        st.alley_word = st.alley_word or sub
        return j + 1
    if kind == HOUSE:
        return _read_number(tk, j, st, as_alley=False)
    if kind == STREET:
        return _street_value(tk, i, j, sub, st, lex)
    if kind == BUILDING:
        end = _value_end(tk, j, st, lex)
        st.building.append(f"{sub} {tk.text(j, end)}")
        st.flags.append("building")
        return end
    return j  # pragma: no cover - every kind is handled above


def _city_span(tk: _Tokens, i: int) -> tuple[int, str]:
    for seq, _sp, kind, sub in _MARKERS.get(tk.f[i], ()):
        if kind == CITY and tuple(tk.f[i : i + len(seq)]) == seq:
            return len(seq), sub
    return 0, ""


@lru_cache(maxsize=4096)
def _num_text(t: str) -> str:
    f = ffold(t).lower()
    m = re.match(r"^0*(\d+)([a-z]?)$", f)
    return f"{int(m.group(1))}{m.group(2).upper()}" if m else t


def _title(s: str) -> str:
    return " ".join(w.upper() if any(c.isdigit() for c in w) else w[:1].upper() + w[1:] for w in s.split())


def _admin_value(tk: _Tokens, i: int, j: int, kind: str, sub: str, st: _State, lex: AdminLexicon) -> int:
    if j >= tk.n or tk.chunk[j] != tk.chunk[i]:
        return j
    if _is_num(tk.f[j]):
        name = _num_text(tk.o[j])
        if kind == DISTRICT and sub == "huyện":
            sub = "quận"
        st.admin.append((kind, sub, name, {kind}, i))
        return j + 1
    n, e = lex.longest(tk.f, j, _chunk_end(tk, j), tk.low)
    if e is not None:
        end = j + n
        # "P. Bình Hưng Hòa A": a trailing single letter belongs to the name when the lexicon knows it.
        name = e.display  # a known name: its own spelling, diacritics restored
        st.admin.append((kind, sub, name, {kind}, i))
        return end
    end = _value_end(tk, j, st, lex)
    if kind == WARD and end > j + 1:
        # an unknown ward name: keep at most what precedes a known district/city name
        end = _stop_before_admin(tk, j, end, lex)
    st.admin.append((kind, sub, _title(tk.text(j, end)), {kind}, i))
    st.flags.append(f"unknown_{kind}_name")
    return end


def _stop_before_admin(tk: _Tokens, i: int, end: int, lex: AdminLexicon) -> int:
    for k in range(i + 1, end):
        n, e = lex.longest(tk.f, k, end, tk.low)
        if e is not None and k + n == end:
            return k
    return end


def _read_number(tk: _Tokens, j: int, st: _State, *, as_alley: bool) -> int:
    """A house number or alley chain at j (`5`, `12A`, `12 Bis`, `130/75/5`, `52-54`)."""
    if j >= tk.n:
        return j
    t = tk.f[j]
    nxt = j + 1
    bis = nxt < tk.n and tk.f[nxt] in ("bis", "ter") and tk.chunk[nxt] == tk.chunk[j]
    if "/" in t:
        elems = tk.o[j].split("/")
        if as_alley:
            st.alley = st.alley or "/".join(elems)
        else:
            st.alley = st.alley or "/".join(elems[:-1])
            st.house = st.house or elems[-1] + (" " + tk.o[nxt] if bis else "")
    elif as_alley:
        st.alley = st.alley or tk.o[j]
    else:
        st.house = st.house or tk.o[j] + (" " + tk.o[nxt] if bis else "")
        # "63 A Nam Kỳ Khởi Nghĩa": a lone letter after the number is the house's letter
        if (
            not bis
            and nxt + 1 < tk.n
            and len(tk.f[nxt]) == 1
            and tk.f[nxt].isalpha()
            and tk.chunk[nxt] == tk.chunk[j]
            and tk.chunk[nxt + 1] == tk.chunk[j]
            and _is_num(tk.f[j])
            and not _starts_marker(tk, nxt, st, _LEX_HOLDER[0])
        ):
            st.house += tk.o[nxt]
            return nxt + 1
    return nxt + 1 if bis else nxt


def _street_value(tk: _Tokens, i: int, j: int, sub: str, st: _State, lex: AdminLexicon) -> int:
    if j >= tk.n or tk.chunk[j] != tk.chunk[i]:
        return j
    # numbered streets: "Đường số 7", "Đường 7", "Đường 3 tháng 2", "Đường 3/2", "Đường số 7 Cư Xá Đô Thành"
    k = j + 1 if tk.f[j] == "so" and _next_is_num(tk, j + 1, j) else j
    end = j + 1  # the first token always belongs to the name (Đường Ấp Bắc, Đường Tỉnh Lộ 10)
    if _is_num(tk.f[k]) or _CHAIN.match(tk.f[k]):
        end = k + 1
        if end + 1 < tk.n and tk.f[end] == "thang" and _is_num(tk.f[end + 1]):
            end += 2
    while end < tk.n and tk.chunk[end] == tk.chunk[j] and not _starts_marker(tk, end, st, lex):
        end += 1
    end = _extend_known_street(tk, j, end, st, k)
    if end < tk.n and tk.chunk[end] == tk.chunk[j] and tk.f[end] == "street":
        _set_street(st, _street_text(tk, j, k, end), sub)
        return end + 1
    cut = _peel_admin_suffix(tk, j, end, st, lex, st.streets, st.multi) if end > k + 1 else end
    _set_street(st, _street_text(tk, j, k, cut), sub)
    return cut


def _extend_known_street(tk: _Tokens, start: int, end: int, st: _State, k: int | None = None) -> int:
    """A street run stopped by a marker word may go on where the longer name is a known street
    ("Đường Bình Đường 2", "Đường Số 1 KDC Hiệp Ân"): the longest known one up to the end of the chunk
    wins. `k` is where a numbered street's number starts (its "số" is then part of the name)."""
    if not st.streets or end >= tk.n or tk.chunk[end] != tk.chunk[start]:
        return end
    ce = _chunk_end(tk, start)
    for e in range(min(ce, end + 6), end, -1):
        text = _street_text(tk, start, k, e) if k is not None else tk.text(start, e)
        if street_key(text, normalized=True) in st.streets:
            return e
    return end


def _street_text(tk: _Tokens, j: int, k: int, end: int) -> str:
    """The street's words; "số 7" keeps its "số" when written ("Đường số 7" and "Đường 7" are the same)."""
    return tk.text(k, end) if k == j else "số " + tk.text(k, end)


def _set_street(st: _State, name: str, street_type: str) -> None:
    if st.street:
        st.extra.append(name)
        st.flags.append("second_street")
        return
    st.street = name
    st.street_type = street_type


def _free_run(
    tk: _Tokens,
    i: int,
    end: int,
    st: _State,
    lex: AdminLexicon,
    streets: Collection[str],
    multi_chunk: bool,
) -> int:
    """Text without a marker: house number and street at the start, then admin names. Returns where the
    scan goes on (the run's end, or further when a known street runs over a marker word)."""
    f = tk.f
    # English postfix markers: "Cau Kho ward", "Binh Thanh district", "Vo Van Kiet street", "HCM city"
    last = f[end - 1]
    if end - i >= 2 and last in ("ward", "district", "street", "road", "st", "city", "province"):
        if last == "ward":
            _add_unmarked(tk, i, end - 1, st, lex, forced=WARD)
        elif last == "district":
            _add_unmarked(tk, i, end - 1, st, lex, forced=DISTRICT)
        else:
            _free_run(tk, i, end - 1, st, lex, streets, last in ("street", "road", "st") or multi_chunk)
        return end
    if st.street:
        _add_unmarked(tk, i, end, st, lex)
        return end
    k = i
    lot = bool(_LOT_TOKEN.match(f[k])) and end - k > 1
    code = bool(_LOT_TOKEN.match(f[k]) or _CODE.match(f[k]))
    if code and not lot and k == 0 and end - k > 2:
        lot = True  # "B3 Lê Đức Thọ": a lot number before a street name
    if not lot and code and end - k == 1 and end < tk.n and tk.chunk[end] == tk.chunk[k]:
        m = _match_marker(tk, end, st, lex)
        lot = m is not None and m[0] == STREET  # "B7 Đường số 4": a lot number before the street
    date_street = k + 2 < end and f[k + 1] == "thang" and _is_num(f[k + 2]) and _is_num(f[k])
    if _BLOCK_CHAIN.match(f[k]) and end - k > 1:
        lot = True
    if not st.house and (_HOUSE_TOKEN.match(f[k]) or lot) and not date_street:
        if end - k == 1 and st.admin:
            _add_unmarked(tk, i, end, st, lex)  # a lone number after admin parts: an admin number
            return end
        k = _read_number(tk, k, st, as_alley=False)
        if lot:
            st.flags.append("house_lot_code")
        if k >= end:
            return end
    n, e = lex.longest(f, k, end, tk.low)
    whole_admin = e is not None and k + n == end and street_key(tk.text(k, end)) not in streets
    if whole_admin and (st.admin or (multi_chunk and not (st.house or st.alley))):
        # a known admin name alone: after admin parts (or with no house number) it is not the street
        _add_unmarked(tk, k, end, st, lex)
        return end
    longer = _extend_known_street(tk, k, end, st)
    if longer > end:
        _set_street(st, tk.text(k, longer), "")
        return longer
    street_end = _peel_admin_suffix(tk, k, end, st, lex, streets, multi_chunk)
    if street_end > k:
        _set_street(st, tk.text(k, street_end), "")
        if not (st.house or st.alley):
            st.flags.append("no_house_number")
    if street_end < end:
        _add_unmarked(tk, street_end, end, st, lex)
    return end


def _peel_admin_suffix(
    tk: _Tokens,
    i: int,
    end: int,
    st: _State,
    lex: AdminLexicon,
    streets: Collection[str],
    multi_chunk: bool,
) -> int:
    """Where the street ends when admin names follow it without a comma (`Nguyen Trai Ben Thanh`).

    Known names are peeled off the end, never the whole run. With known streets (the registry's), a cut is
    taken only where it leaves a known street; without them, only when the address has no commas (with
    commas the writer separated the parts already: `Tân Kỳ Tân Quý` stays whole).
    """
    if streets and street_key(tk.text(i, end)) in streets:
        return end
    cuts = []
    cut = end
    while cut - i > 1:
        n, e = lex.suffix(tk.f, i, cut, tk.low)
        if e is None:
            break
        cut -= n
        cuts.append(cut)
    if not cuts:
        return end
    if streets:
        for c in cuts:
            if street_key(tk.text(i, c)) in streets:
                st.flags.append("admin_without_marker")
                return c
    if multi_chunk:
        return end
    st.flags.append("admin_without_marker")
    return cuts[-1]


def _add_unmarked(
    tk: _Tokens, i: int, end: int, st: _State, lex: AdminLexicon, forced: str | None = None
) -> None:
    """Recognise admin names (and bare numbers) in a run that is not the street."""
    k = i
    while k < end:
        if _is_num(tk.f[k]):
            roles = {forced} if forced else {WARD, DISTRICT}
            st.admin.append((None, "", _num_text(tk.o[k]), roles, k))
            k += 1
            continue
        if not forced and end - k == 1 and _DISTRICT_CODE.match(tk.f[k]):
            st.admin.append((DISTRICT, "quận", _num_text(tk.f[k][1:]), {DISTRICT}, k))  # "D1": District 1
            k += 1
            continue
        n, e = lex.longest(tk.f, k, end, tk.low)
        if e is None:
            # in admin position a name misspelt in its diacritics ("Bình Chành") is still that name
            n, e = lex.longest(tk.f, k, end)
            if e is not None:
                st.flags.append("admin_misspelt")
        if e is not None:
            roles = {forced} if forced else set(e.roles)
            name = e.display
            if roles == {CITY}:
                st.city = st.city or _city_display(e)
            else:
                roles.discard(CITY)  # "Sài Gòn" before other admin parts: the ward
                st.admin.append((None, "", name, roles, k))
            k += n
            continue
        if forced:
            st.admin.append((None, "", _title(tk.text(k, end)), {forced}, k))
            st.flags.append(f"unknown_{forced}_name")
            return
        # unknown words: keep them, say so
        j = k + 1
        while j < end and lex.longest(tk.f, j, end, tk.low)[1] is None and not _is_num(tk.f[j]):
            j += 1
        st.extra.append(tk.text(k, j))
        st.flags.append("unparsed_text")
        k = j


def _city_display(e: AdminEntry) -> str:
    return e.display if e.display.startswith(("Thành phố", "Tỉnh")) else HCMC


# ---------------------------------------------------------------------------------------------------------
# assembling the parts


def _assign_admin(st: _State) -> tuple[tuple[str, str, str], tuple[str, str, str], str]:
    """Ward and district from the admin mentions: marked ones first, then unmarked ones in order of writing
    (smallest first: an unmarked name or number before the district is the ward, one after it the
    district). A second, different ward is returned too: the address then names two wards, and a
    geocoder must not place it in either alone."""
    ward: tuple[str, str, str] | None = None
    district: tuple[str, str, str] | None = None
    other = ""
    district_pos = -1
    for kind, sub, name, _roles, pos in st.admin:
        if kind == WARD:
            if ward is None:
                ward = (sub, name, "marked")
            elif ward[1] != name:
                st.flags.append("second_ward")
                other = other or (f"{sub.capitalize()} {name}" if sub else name)
        if kind == DISTRICT:
            if district is None:
                district, district_pos = (sub, name, "marked"), pos
            elif district[1] != name:
                st.flags.append("second_district")
    for kind, _sub, name, roles, pos in st.admin:
        if kind is not None:
            continue
        before_district = district is None or pos < district_pos or roles == {WARD}
        if (ward is not None and name == ward[1]) or (district is not None and name == district[1]):
            continue  # the same name written twice
        if ward is None and WARD in roles and before_district:
            ward = ("", name, "unmarked")
            st.flags.append("ward_without_marker")
        elif district is None and DISTRICT in roles and (ward is not None or WARD not in roles):
            district, district_pos = ("", name, "unmarked"), pos
            st.flags.append("district_without_marker")
        else:
            if roles == {WARD} and ward is not None:
                st.flags.append("second_ward")
                other = other or name
            st.extra.append(name)
            st.flags.append("unparsed_text")
    return ward or ("", "", ""), district or ("", "", ""), other


def _finish(st: _State) -> AddressParts:
    (w_type, w_name, _), (d_type, d_name, _), ward_other = _assign_admin(st)
    if w_name and not w_type and _is_num(ffold(w_name).lower()):
        w_type = "phường"
    if d_name and not d_type and _is_num(ffold(d_name).lower()):
        d_type = "quận"
    ward = f"{w_type.capitalize()} {w_name}".strip() if w_type else w_name
    district = f"{d_type.capitalize()} {d_name}".strip() if d_type else d_name
    house = read_house(st.house) if st.house else None
    if house is not None and house.base is None and house.text and not any(c.isdigit() for c in house.text):
        st.extra.append(house.text)
        house = None
    street = normal_street(st.street, st.street_type, normalized=True) if st.street else ""
    if st.alley and not st.house and not st.alley_word:
        st.alley_word = "hẻm"
    flags = tuple(dict.fromkeys(st.flags))
    if not street:
        flags = (*flags, "no_street") if (st.house or st.alley) else flags
    return AddressParts(
        house_number=house.text if house else "",
        house_base=house.base if house else None,
        house_suffix=house.suffix if house else "",
        house_bis=house.bis if house else False,
        house_range_end=house.range_end if house else None,
        alley=normal_alley(st.alley) if st.alley else "",
        alley_word=st.alley_word,
        street=street,
        street_key=street_key(street, normalized=True),
        khu_pho=st.khu_pho,
        to=st.to,
        building=", ".join(st.building),
        ward=ward,
        ward_type=w_type,
        ward_name=w_name,
        ward_other=ward_other,
        district=district,
        district_type=d_type,
        district_name=d_name,
        city=st.city,
        extra=" ".join(st.extra),
        flags=flags,
    )


def parse_many(
    texts: pd.Series, lexicon: AdminLexicon | None = None, streets: Collection[str] = ()
) -> pd.DataFrame:
    """Parse a column of addresses, once per distinct value; one row per input, same index.

    Columns: every `AddressParts` field (flags `;`-joined), `normal` and `address_key`.
    """
    lex = lexicon or admin_lexicon()
    series = texts if isinstance(texts, pd.Series) else pd.Series(texts)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    rows = [parse(u, lex, streets).as_dict() for u in uniques]
    rows.append(parse(None, lex).as_dict())  # for missing values (code -1)
    table = pd.DataFrame(rows, columns=PART_COLUMNS)
    idx = codes.copy()
    idx[idx < 0] = len(rows) - 1
    out = table.iloc[idx].reset_index(drop=True)
    out.index = series.index
    return out
