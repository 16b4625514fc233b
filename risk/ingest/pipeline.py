"""Ingest one feed file as one atomic, idempotent batch.

read (every row accounted for) → map columns (the source's TOML mapping) → clean (reason codes) →
drop exact duplicates → place addresses → commit records and quarantined rows together with the batch's
account: rows in = accepted + corrected + quarantined + exact duplicates.

The batch is identified by the file's SHA-256: the same file twice adds nothing. Nothing is visible
until the store commits the batch, so a crash mid-file leaves no half-loaded batch.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from risk.clean.reasons import REASONS
from risk.ingest.clean import clean_rows
from risk.ingest.readers import RawRows, read_rows, sha256_file
from risk.ingest.sources import SourceMapping, get_source, map_fields
from risk.store import BatchInfo, Store

ROW_BITS = 24  # record_id = batch_id << 24 | row_number: unique, stable, and says where a record came from
MAX_ROWS = (1 << ROW_BITS) - 1

Placer = Callable[[pd.Series, pd.Series], pd.DataFrame]


@dataclass(frozen=True)
class IngestResult:
    batch: BatchInfo
    new: bool  # False when the same file had been ingested before

    def summary(self) -> str:
        b = self.batch
        state = "ingested" if self.new else "already ingested (nothing added)"
        return (
            f"{b.file_name} [{b.source}] {state}: rows in {b.rows_in} = accepted {b.accepted} + corrected "
            f"{b.corrected} + quarantined {b.quarantined} + duplicates {b.duplicates}"
        )


def ingest_file(
    store: Store,
    path: str | Path,
    source: str | SourceMapping,
    *,
    placer: Placer | None = None,
    latest: dt.date | None = None,
) -> IngestResult:
    """Ingest one file from a source. `latest` is the latest believable date (default today)."""
    path = Path(path)
    mapping = source if isinstance(source, SourceMapping) else get_source(source)
    sha = sha256_file(path)
    existing = store.find_batch(sha)
    if existing is not None:
        return IngestResult(existing, new=False)

    raw = read_rows(path, fmt=mapping.format)
    if raw.rows_in > MAX_ROWS:
        raise ValueError(f"file {path}: {raw.rows_in} rows; split files above {MAX_ROWS} rows")
    columns = mapping.resolve_columns(raw.header, path)
    fields = map_fields(raw.data, mapping, columns)
    cleaned = clean_rows(fields, mapping.kind, latest=latest or dt.date.today())

    row_hash = _row_hashes(raw.data)
    dup_in_file = pd.Series(row_hash).duplicated().to_numpy()
    seen = store.read_table("records", columns=["row_hash"], filters=[("source", "=", mapping.id)])[
        "row_hash"
    ]
    dup_before = pd.Series(row_hash, dtype=object).isin(seen.to_numpy(dtype=object)).to_numpy()
    duplicate = dup_in_file | dup_before
    bad = (cleaned["bad"] != "").to_numpy() & ~duplicate
    good = ~bad & ~duplicate

    corrected = _has_correction(cleaned["corrections"]) & good
    batch_id = store.next_ids("batch", 1)
    records = _records(cleaned[good], raw.row_numbers[good], row_hash[good], batch_id, mapping, placer)
    quarantine = _quarantine(raw, cleaned, bad, batch_id, mapping, path)

    reasons = Counter()
    for codes in cleaned["bad"][bad]:
        reasons.update(c for c in codes.split(";") if c)
    reasons.update({"unparseable": len(raw.unparseable)})
    fixes = Counter()
    for codes in cleaned["corrections"][good]:
        fixes.update(c for c in codes.split(";") if c)
    batch = BatchInfo(
        source=mapping.id,
        kind=mapping.kind,
        file_name=path.name,
        content_sha256=sha,
        rows_in=raw.rows_in,
        accepted=int(good.sum() - corrected.sum()),
        corrected=int(corrected.sum()),
        quarantined=int(bad.sum()) + len(raw.unparseable),
        duplicates=int(duplicate.sum()),
        batch_id=batch_id,
        report={
            "encoding": raw.encoding,
            "format": raw.format,
            "columns": columns,
            "quarantine_reasons": dict(sorted(reasons.items())),
            "corrections": dict(sorted(fixes.items())),
            "duplicates_in_file": int(dup_in_file.sum()),
            "duplicates_of_earlier_batches": int((dup_before & ~dup_in_file).sum()),
            "placed": dict(records["geocode_tier"].value_counts().items()) if len(records) else {},
        },
    )
    committed = store.commit_batch(batch, {"records": records, "quarantine": quarantine})
    return IngestResult(committed, new=committed.batch_id == batch_id)


def _row_hashes(data: pd.DataFrame) -> np.ndarray:
    """A content hash per row (all raw values), to drop exact duplicates within and across files."""
    if not len(data):
        return np.array([], dtype=object)
    h = pd.util.hash_pandas_object(data, index=False).to_numpy()
    return np.char.mod("%016x", h).astype(object)


def _has_correction(corrections: pd.Series) -> np.ndarray:
    corr = {c for c, r in REASONS.items() if r.severity == "corrected"}
    pattern = "|".join(sorted(corr))
    return corrections.str.contains(rf"(?:^|;)(?:{pattern})(?:;|$)", regex=True).to_numpy(dtype=bool)


def _records(
    cleaned: pd.DataFrame,
    row_numbers: np.ndarray,
    row_hash: np.ndarray,
    batch_id: int,
    mapping: SourceMapping,
    placer: Placer | None,
) -> pd.DataFrame:
    rec = cleaned.drop(columns=["bad", "id_consistent"]).copy()
    rec.insert(0, "record_id", (np.int64(batch_id) << ROW_BITS) | row_numbers.astype(np.int64))
    rec.insert(1, "batch_id", np.int64(batch_id))
    rec.insert(2, "source", mapping.id)
    rec.insert(3, "kind", mapping.kind)
    rec.insert(4, "row_number", row_numbers.astype(np.int32))
    rec.insert(5, "row_hash", row_hash)
    # A CCCD that contradicts the record is kept for review but not as the record's identity.
    rec["id_number"] = np.where(
        cleaned["id_consistent"] | (cleaned["id_kind"] != "cccd"), rec["id_number"], ""
    )
    if placer is not None and len(rec):
        placed = placer(rec["address_raw"], rec["event_date"])
        for c in ("point_id", "ward_id", "geocode_tier", "geocode_confidence"):
            rec[c] = placed[c].to_numpy()
    else:
        rec["geocode_tier"] = "unplaced"
    return rec.reset_index(drop=True)


def _quarantine(
    raw: RawRows,
    cleaned: pd.DataFrame,
    bad: np.ndarray,
    batch_id: int,
    mapping: SourceMapping,
    path: Path,
) -> pd.DataFrame:
    rows = raw.data[bad]
    raw_json = [
        orjson.dumps(dict(zip(raw.header, vals, strict=True))).decode()
        for vals in rows.itertuples(index=False)
    ]
    q = pd.DataFrame(
        {
            "row_number": raw.row_numbers[bad].astype(np.int32),
            "raw": raw_json,
            "reasons": cleaned["bad"][bad].to_numpy(),
            "message": [_message(c) for c in cleaned["bad"][bad]],
        }
    )
    u = raw.unparseable
    q2 = pd.DataFrame(
        {
            "row_number": u["row_number"].astype(np.int32).to_numpy(),
            "raw": u["raw"].astype(str).to_numpy(),
            "reasons": "unparseable",
            "message": u["message"].astype(str).to_numpy(),
        }
    )
    out = pd.concat([q, q2], ignore_index=True).sort_values("row_number", kind="stable")
    out.insert(0, "batch_id", np.int64(batch_id))
    out.insert(1, "source", mapping.id)
    out.insert(2, "file_name", path.name)
    out["kind"] = mapping.kind
    out["status"] = "open"
    return out.reset_index(drop=True)


def _message(codes: str) -> str:
    return "; ".join(REASONS[c].en for c in codes.split(";") if c in REASONS)
