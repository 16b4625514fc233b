"""Per-source column mappings, kept as TOML files: a new site's layout needs a mapping, not code.

A mapping names the source, the kind of records it sends and, for each riskmap field, the column
header(s) the site uses. Headers are compared on their folded form, so `Ngày sinh`, `NGAY SINH` and
`ngay_sinh` all match `ngay sinh`. Example (`risk/ingest/sources/tiem-chung-hcdc.toml`)::

    [source]
    id = "tiem-chung-hcdc"
    kind = "dose"
    title = "HCDC vaccination system export"

    [fields]
    full_name = ["Họ và tên"]
    birth_date = ["Ngày sinh"]
    event_date = ["Ngày tiêm"]

    [constants]          # values for fields the file does not carry
    site = "Trung tâm Y tế"

Mappings are read from the package's `sources/` folder and from RISKMAP_INGEST_SOURCES_DIR.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from geo.vntext import fold
from risk.ingest.errors import IngestError
from risk.ingest.settings import ingest_settings

KINDS = ("dose", "test", "case", "contact", "registry")
# Fields a mapping may fill. Address parts, if given separately, are joined into `address`.
FIELDS = (
    "full_name",
    "family_name",
    "middle_name",
    "given_name",
    "birth_date",
    "birth_year",
    "sex",
    "id_number",
    "phone",
    "address",
    "house_number",
    "street",
    "khu_pho",
    "ward",
    "district",
    "city",
    "event_date",
    "vaccine",
    "dose_kind",
    "site",
    "test_type",
    "pooled",
    "result",
    "found_in",
    "isolation",
    "outcome",
    "contact_of",
    "household_ref",
    "relation",
    "nationality",
    "source_ref",
    "exposure_date",
)
ADDRESS_PARTS = ("house_number", "street", "khu_pho", "ward", "district", "city")
REQUIRED: dict[str, tuple[str, ...]] = {
    "dose": ("full_name", "event_date", "vaccine", "dose_kind"),
    "test": ("full_name", "event_date", "test_type", "result"),
    "case": ("full_name", "event_date"),
    "contact": ("full_name", "event_date"),
    "registry": ("full_name", "household_ref"),
}
SOURCES_DIR = Path(__file__).with_name("sources")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class SourceMapping:
    """How to read one source's files."""

    id: str
    kind: str
    title: str
    fields: dict[str, tuple[str, ...]]
    constants: dict[str, str] = field(default_factory=dict)
    format: str | None = None
    path: Path | None = None

    def required(self) -> tuple[str, ...]:
        return REQUIRED[self.kind]

    def resolve_columns(self, header: list[str], file: Path) -> dict[str, str]:
        """field → the header present in this file; a missing required column is an error."""
        folded = {_header_key(h): h for h in header}
        found: dict[str, str] = {}
        for fieldname, candidates in self.fields.items():
            for cand in candidates:
                hit = folded.get(_header_key(cand))
                if hit is not None:
                    found[fieldname] = hit
                    break
        have = set(found) | set(self.constants)
        name_ok = "full_name" in have or {"family_name", "given_name"} <= have
        missing = [f for f in self.required() if f not in have and not (f == "full_name" and name_ok)]
        if missing:
            wanted = "; ".join(f"{f} (one of: {', '.join(self.fields.get(f, ('?',)))})" for f in missing)
            raise IngestError(
                f"source {self.id}: required column(s) not found: {wanted}. Columns in the file: "
                f"{', '.join(header)}. Fix the file or the mapping {self.path or ''}",
                file=file,
                column=missing[0],
            )
        return found


def _header_key(text: str) -> str:
    return re.sub(r"[\s_./-]+", " ", fold(text)).strip()


def parse_mapping(data: dict, path: Path | None = None) -> SourceMapping:
    where = f"mapping {path}" if path else "mapping"
    try:
        src = data["source"]
        sid, kind = str(src["id"]), str(src["kind"])
    except (KeyError, TypeError):
        raise ValueError(f"{where}: needs a [source] table with id and kind") from None
    if not _SLUG.match(sid):
        raise ValueError(f"{where}: source id {sid!r} must be lower-case letters, digits and dashes")
    if kind not in KINDS:
        raise ValueError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    fields_raw = data.get("fields", {})
    unknown = set(fields_raw) - set(FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; known: {', '.join(FIELDS)}")
    fields = {k: tuple([v] if isinstance(v, str) else v) for k, v in fields_raw.items()}
    constants = {k: str(v) for k, v in data.get("constants", {}).items()}
    unknown = set(constants) - set(FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown constant field(s) {sorted(unknown)}")
    return SourceMapping(
        id=sid,
        kind=kind,
        title=str(src.get("title", sid)),
        fields=fields,
        constants=constants,
        format=src.get("format"),
        path=path,
    )


@lru_cache(maxsize=4)
def _load_dirs(dirs: tuple[Path, ...]) -> dict[str, SourceMapping]:
    out: dict[str, SourceMapping] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.toml")):
            with open(f, "rb") as fh:
                try:
                    m = parse_mapping(tomllib.load(fh), f)
                except tomllib.TOMLDecodeError as exc:
                    raise ValueError(f"mapping {f}: not valid TOML: {exc}") from None
            out[m.id] = m  # later directories override the shipped mappings
    return out


def load_sources() -> dict[str, SourceMapping]:
    extra = ingest_settings().sources_dir
    dirs = (SOURCES_DIR, *((extra,) if extra else ()))
    return _load_dirs(dirs)


def get_source(source_id: str) -> SourceMapping:
    sources = load_sources()
    if source_id not in sources:
        raise IngestError(
            f"unknown source {source_id!r}; known sources: {', '.join(sorted(sources)) or 'none'}"
        )
    return sources[source_id]


def map_fields(data: pd.DataFrame, mapping: SourceMapping, columns: dict[str, str]) -> pd.DataFrame:
    """The file's columns renamed to riskmap fields (text), constants filled, address parts joined."""
    out: dict[str, pd.Series] = {}
    for fieldname, header in columns.items():
        out[fieldname] = data[header]
    for fieldname, value in mapping.constants.items():
        if fieldname not in out:
            out[fieldname] = pd.Series(value, index=data.index)
    if "full_name" not in out and {"family_name", "given_name"} <= set(out):
        parts = [out[c] for c in ("family_name", "middle_name", "given_name") if c in out]
        joined = parts[0]
        for p in parts[1:]:
            joined = joined.str.cat(p, sep=" ")
        out["full_name"] = joined.str.replace(r"\s+", " ", regex=True).str.strip()
    parts = [c for c in ADDRESS_PARTS if c in out]
    if parts and "address" not in out:
        joined = out[parts[0]]
        for p in parts[1:]:
            joined = joined.str.cat(out[p], sep=", ")
        out["address"] = joined.str.replace(r"(,\s*)+", ", ", regex=True).str.strip(", ")
    elif parts and "address" in out:
        extra = out[parts[0]]
        for p in parts[1:]:
            extra = extra.str.cat(out[p], sep=", ")
        out["address"] = (
            out["address"].str.cat(extra, sep=", ").str.replace(r"(,\s*)+", ", ", regex=True).str.strip(", ")
        )
    # Fields the file does not carry: one shared Arrow buffer of empty strings (immutable), not a new
    # text column per field.
    n = len(data)
    empty = pa.StringArray.from_buffers(n, pa.py_buffer(np.zeros(n + 1, dtype=np.int32)), pa.py_buffer(b""))
    for fieldname in FIELDS:
        if fieldname not in out:
            out[fieldname] = pd.array(empty, dtype=_STR)
    return pd.DataFrame(out, index=data.index)


_STR = pd.StringDtype("pyarrow", na_value=np.nan)
