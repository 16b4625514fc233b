"""Ingest one feed file as one atomic, idempotent batch.

read (every row accounted for) → map columns (the source's TOML mapping) → clean (reason codes) →
drop exact duplicates → place addresses → commit records and quarantined rows together with the batch's
account: rows in = accepted + corrected + quarantined + exact duplicates.

The batch is identified by the file's SHA-256: the same file twice adds nothing. Nothing is visible
until the store commits the batch, so a crash mid-file leaves no half-loaded batch.

An `Ingestor` is a session over many files: it keeps each source's row hashes in memory (read once,
then only the batches committed since), so a file costs its own rows, not a scan of every earlier one.

A corrections file (the export of `risk.ingest.corrections`, fixed and sent back) carries the original
batch and row of each quarantined row; its rows land like any other, and the original quarantine rows
are marked resolved, pointing at the new batch, in the same commit.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from risk.clean.reasons import REASONS
from risk.ingest.clean import clean_rows
from risk.ingest.errors import IngestError
from risk.ingest.readers import RawRows, read_rows, sha256_file
from risk.ingest.repair import apply_repairs, repair_candidates, repair_unparseable
from risk.ingest.sources import SourceMapping, get_source, map_fields
from risk.store import BatchInfo, Store
from risk.store.base import utcnow

ROW_BITS = 24  # record_id = batch_id << 24 | row_number: unique, stable, and says where a record came from
MAX_ROWS = (1 << ROW_BITS) - 1
EXAMPLES = 3  # examples per reason code in a batch report
# Columns a corrections export adds (Vietnamese header, English alias): they are not feed fields.
CORRECTION_BATCH = ("Mã lô gốc", "_batch_id")
CORRECTION_ROW = ("Dòng gốc", "_row_number")
CORRECTION_REASONS = ("Lý do cách ly", "_reasons")
_ISO_WEEK = re.compile(r"(\d{4})-W(\d{2})")
# The raw field a reason code is about (for examples in reports).
_EXAMPLE_FIELD = {
    "name": "full_name",
    "dob": "birth_date",
    "id": "id_number",
    "phone": "phone",
    "date": "event_date",
    "address": "address",
}

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

    def as_dict(self) -> dict:
        b = self.batch
        return {
            "file": b.file_name,
            "source": b.source,
            "new": self.new,
            "batch_id": b.batch_id,
            "rows_in": b.rows_in,
            "accepted": b.accepted,
            "corrected": b.corrected,
            "quarantined": b.quarantined,
            "duplicates": b.duplicates,
        }


def file_latest(path: Path, latest: dt.date) -> dt.date:
    """The latest believable event date of a file: a weekly report (`2021-W35.csv`) cannot hold events
    after its week; otherwise `latest`."""
    m = _ISO_WEEK.search(path.name)
    if not m:
        return latest
    try:
        week_end = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 7)
    except ValueError:
        return latest
    return min(latest, week_end)


@dataclass
class _Prepared:
    """One file after the per-row work, before anything is committed."""

    path: Path
    sha: str
    mapping: SourceMapping
    raw: RawRows
    columns: dict[str, str]
    fields: pd.DataFrame
    latest: dt.date
    cleaned: pd.DataFrame
    row_hash: np.ndarray
    dup_in_file: np.ndarray
    placed: pd.DataFrame


_SESSION: Ingestor | None = None  # the session a forked `ingest_many` worker prepares files for


def _prepare_worker(item: tuple[Path, str, SourceMapping]) -> _Prepared | IngestError:
    session = _SESSION
    assert session is not None
    geocoder = getattr(session.placer, "geocoder", None)
    if geocoder is not None:
        geocoder.workers = 1  # already one of the session's workers: no nested pools
    try:
        return session._prepare(*item)
    except IngestError as exc:
        return exc


@dataclass
class Ingestor:
    """A session of ingests into one store (see the module docstring)."""

    store: Store
    placer: Placer | None = None
    latest: dt.date | None = None
    capture_scope: set[str] | None = None  # wards a submitter may send records for (None = any)
    _hashes: dict[str, set[str]] = field(default_factory=dict)
    _seen_batches: dict[str, set[int]] = field(default_factory=dict)

    def ingest(self, path: str | Path, source: str | SourceMapping) -> IngestResult:
        path = Path(path)
        mapping = source if isinstance(source, SourceMapping) else get_source(source)
        sha = sha256_file(path)
        existing = self.store.find_batch(sha)
        if existing is not None:
            return IngestResult(existing, new=False)
        return self._commit(self._prepare(path, sha, mapping))

    def ingest_many(
        self, files: Iterable[tuple[Path, str | SourceMapping]], *, workers: int = 1
    ) -> Iterator[IngestResult | IngestError]:
        """Ingest files in order, one batch each, yielding each file's result (or the `IngestError` that
        rejected it, so one bad file does not stop the rest). With `workers` > 1, reading, cleaning and
        placing (the per-row work) run in that many forked processes while this one commits in file
        order, so batches, duplicates and accounts are exactly those of a sequential run."""
        todo: list[tuple[Path, str, SourceMapping]] = []
        for f, src in files:
            f = Path(f)
            mapping = src if isinstance(src, SourceMapping) else get_source(src)
            todo.append((f, sha256_file(f), mapping))
        if workers <= 1 or len(todo) < 2:
            for f, sha, mapping in todo:
                yield self._ingest_checked(f, sha, mapping)
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        global _SESSION
        _SESSION = self  # forked workers inherit the placer and caches; nothing big is pickled
        try:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
                # files already in the store are not prepared at all; a bounded window keeps at most a
                # few prepared files in memory at once
                window = 2 * workers
                pending: list = []
                it = iter(todo)

                def submit() -> bool:
                    for item in it:
                        known = self.store.find_batch(item[1])
                        pending.append(
                            (item, known if known is not None else pool.submit(_prepare_worker, item))
                        )
                        return True
                    return False

                while len(pending) < window and submit():
                    pass
                while pending:
                    (f, sha, mapping), fut = pending.pop(0)
                    submit()
                    existing = fut if isinstance(fut, BatchInfo) else self.store.find_batch(sha)
                    if existing is not None:
                        yield IngestResult(existing, new=False)
                        continue
                    got = fut.result()
                    yield got if isinstance(got, IngestError) else self._commit(got)
        finally:
            _SESSION = None

    def _ingest_checked(self, path: Path, sha: str, mapping: SourceMapping) -> IngestResult | IngestError:
        existing = self.store.find_batch(sha)
        if existing is not None:
            return IngestResult(existing, new=False)
        try:
            return self._commit(self._prepare(path, sha, mapping))
        except IngestError as exc:
            return exc

    def _prepare(self, path: Path, sha: str, mapping: SourceMapping) -> _Prepared:
        """The per-row work of one file (read, map, clean, hash, place): needs nothing committed."""
        raw = read_rows(path, fmt=mapping.format)
        if raw.rows_in > MAX_ROWS:
            raise ValueError(f"file {path}: {raw.rows_in} rows; split files above {MAX_ROWS} rows")
        columns = mapping.resolve_columns(raw.header, path)
        latest = file_latest(path, self.latest or dt.date.today())
        fields, cleaned, raw, repaired = _clean_with_repairs(raw, mapping, columns, latest)
        if repaired.any():
            corr = cleaned["corrections"].astype(str).to_numpy(dtype=object)
            cleaned["corrections"] = np.where(
                repaired, np.where(corr == "", "row_repaired", "row_repaired;" + corr), corr
            )
        row_hash = _row_hashes(raw.data)
        dup_in_file = pd.Series(row_hash).duplicated().to_numpy()
        # rows repeated within the file are placed once (the first); repeats of earlier batches are
        # placed too (a few exact duplicates) so that this needs nothing from the store
        placed = self._place(cleaned, ~dup_in_file)
        return _Prepared(
            path, sha, mapping, raw, columns, fields, latest, cleaned, row_hash, dup_in_file, placed
        )

    def _commit(self, prep: _Prepared) -> IngestResult:
        store = self.store
        raw, path, sha, mapping = prep.raw, prep.path, prep.sha, prep.mapping
        columns, fields, latest, cleaned = prep.columns, prep.fields, prep.latest, prep.cleaned
        row_hash, dup_in_file, placed = prep.row_hash, prep.dup_in_file, prep.placed
        origin = _correction_origin(raw)
        seen = self._seen(mapping.id)
        dup_before = np.fromiter(map(seen.__contains__, row_hash), bool, len(row_hash))
        duplicate = dup_in_file | dup_before
        bad_codes = cleaned["bad"].to_numpy(dtype=object)
        bad = (bad_codes != "") & ~duplicate
        if self.capture_scope is not None:
            outside = (
                ~duplicate
                & placed["ward_id"].notna().to_numpy()
                & ~placed["ward_id"].isin(self.capture_scope).to_numpy(dtype=bool)
            )
            bad_codes = np.where(
                outside,
                np.where(bad_codes != "", bad_codes + ";outside_capture_scope", "outside_capture_scope"),
                bad_codes,
            )
            bad |= outside
        good = ~bad & ~duplicate
        corrected = _has_correction(cleaned["corrections"]) & good

        batch_id = store.next_ids("batch", 1)
        records = _records(
            cleaned[good], placed[good], raw.row_numbers[good], row_hash[good], batch_id, mapping
        )
        quarantine = _quarantine(raw, bad_codes, bad, placed, batch_id, mapping, path)
        resolutions = _resolutions(origin, raw, bad, duplicate, batch_id)

        reasons = _count_codes(bad_codes[bad])
        reasons.update({"unparseable": len(raw.unparseable)})
        fixes = _count_codes(cleaned["corrections"].to_numpy(dtype=object)[good])
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
                "latest_event_date": latest.isoformat(),
                "quarantine_reasons": dict(sorted(reasons.items())),
                "corrections": dict(sorted(fixes.items())),
                "duplicates_in_file": int(dup_in_file.sum()),
                "duplicates_of_earlier_batches": int((dup_before & ~dup_in_file).sum()),
                "placed": {str(k): int(v) for k, v in records["geocode_tier"].value_counts().items()},
                "examples": _examples(raw, fields, cleaned, bad_codes, bad, good),
                "resubmitted": len(resolutions),
            },
        )
        tables = {"records": records, "quarantine": quarantine}
        if len(resolutions):
            tables["quarantine_resolutions"] = resolutions
        committed = store.commit_batch(batch, tables)
        new = committed.batch_id == batch_id
        if new:
            self._hashes.setdefault(mapping.id, set()).update(row_hash[good].tolist())
            self._seen_batches.setdefault(mapping.id, set()).add(batch_id)
        return IngestResult(committed, new=new)

    def _seen(self, source: str) -> set[str]:
        """Row hashes of the source's committed records: read once, then only newer batches."""
        known = self._seen_batches.setdefault(source, set())
        hashes = self._hashes.setdefault(source, set())
        batches = [b.batch_id for b in self.store.list_batches(source=source) if b.batch_id not in known]
        if batches:
            if not known:
                frame = self.store.read_table(
                    "records", columns=["row_hash"], filters=[("source", "=", source)]
                )
            else:
                frame = self.store.read_table(
                    "records", columns=["row_hash"], filters=[("batch_id", "in", batches)]
                )
            hashes.update(frame["row_hash"].dropna().tolist())
            known.update(batches)
        return hashes

    def _place(self, cleaned: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
        n = len(cleaned)
        out = pd.DataFrame(
            {
                "point_id": pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)),
                "ward_id": np.full(n, None, dtype=object),
                "geocode_tier": np.full(n, "unplaced", dtype=object),
                "geocode_confidence": np.zeros(n, dtype=np.float32),
                "geocode_flags": np.full(n, "", dtype=object),
            },
            index=cleaned.index,
        )
        if self.placer is None or not rows.any():
            return out
        sub = cleaned.loc[rows, ["address_raw", "event_date"]]  # not a copy of every column
        got = self.placer(sub["address_raw"], sub["event_date"])
        for c in out.columns:
            if c in got:
                out.loc[rows, c] = got[c].to_numpy()
        out["point_id"] = out["point_id"].astype("Int64")
        return out


def _clean_with_repairs(
    raw: RawRows, mapping: SourceMapping, columns: dict[str, str], latest: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame, RawRows, np.ndarray]:
    """Mapped fields and cleaned rows of a file, its broken rows rebuilt where one reading is clean
    (`risk.ingest.repair`); the readings are cleaned in the same pass as the file's rows. Returns
    fields, cleaned, the repaired raw rows and the mask of rebuilt rows."""
    cand = repair_candidates(raw, mapping, columns)
    fields = map_fields(raw.data, mapping, columns)
    if cand is not None:
        cfields = map_fields(cand.frame, mapping, columns)
        # A rebuilt row's fields must be those the file's own rows get (Arrow's string kernels, whose
        # \s is ASCII only): when they differ (exotic spaces), repair and clean apart as before.
        sfields = map_fields(cand.frame.astype(str), mapping, columns)
        if _same_fields(cfields, sfields):
            n = len(fields)
            both_fields = pd.concat([fields, sfields], ignore_index=True)  # text columns stay Arrow
            both = clean_rows(both_fields, mapping.kind, latest=latest)
            bad = both["bad"].to_numpy(dtype=object)[n:]
            raw, repaired, take = apply_repairs(raw, cand, bad)
            fields = both_fields.iloc[take].reset_index(drop=True)
            return fields, both.iloc[take].reset_index(drop=True), raw, repaired
        raw, repaired = repair_unparseable(raw, mapping, columns, latest)
        fields = map_fields(raw.data, mapping, columns)
        return fields, clean_rows(fields, mapping.kind, latest=latest), raw, repaired
    cleaned = clean_rows(fields, mapping.kind, latest=latest)
    return fields, cleaned, raw, np.zeros(len(raw.data), dtype=bool)


def _same_fields(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return list(a.columns) == list(b.columns) and all(
        a[c].astype(object).tolist() == b[c].astype(object).tolist() for c in a.columns
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
    return Ingestor(store, placer=placer, latest=latest).ingest(path, source)


def ingest_files(
    store: Store,
    files: Iterable[tuple[Path, str]],
    *,
    placer: Placer | None = None,
    latest: dt.date | None = None,
) -> list[IngestResult]:
    """Ingest several (file, source) pairs in one session (row hashes read once per source)."""
    session = Ingestor(store, placer=placer, latest=latest)
    return [session.ingest(f, s) for f, s in files]


def _row_hashes(data: pd.DataFrame) -> np.ndarray:
    """A content hash per row (all raw values), to drop exact duplicates within and across files."""
    if not len(data):
        return np.array([], dtype=object)
    h = pd.util.hash_pandas_object(data, index=False).to_numpy()
    # 16 lower-case hex digits per hash, as "%016x" formats them, from a nibble lookup (a third of
    # np.char.mod's time)
    digits = _HEX_DIGITS[((h[:, None] >> _NIBBLE_SHIFTS) & np.uint64(15)).astype(np.intp)]
    return digits.view("S16").ravel().astype("U16").astype(object)


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)


_CORRECTED = "|".join(sorted(c for c, r in REASONS.items() if r.severity == "corrected"))
_CORRECTED_RX = re.compile(rf"(?:^|;)(?:{_CORRECTED})(?:;|$)")


def _has_correction(corrections: pd.Series) -> np.ndarray:
    codes, uniq = pd.factorize(corrections.astype(object).fillna("").to_numpy(dtype=object))
    hit = np.array([bool(_CORRECTED_RX.search(u)) for u in uniq], dtype=bool)
    return hit[codes] if len(uniq) else np.zeros(len(corrections), dtype=bool)


def _records(
    cleaned: pd.DataFrame,
    placed: pd.DataFrame,
    row_numbers: np.ndarray,
    row_hash: np.ndarray,
    batch_id: int,
    mapping: SourceMapping,
) -> pd.DataFrame:
    """The accepted rows as records: ids and provenance first, then the cleaned columns, built as one
    frame from columns (no copy and insert per column)."""
    n = len(cleaned)
    cols: dict[str, object] = {
        "record_id": (np.int64(batch_id) << ROW_BITS) | row_numbers.astype(np.int64),
        "batch_id": np.full(n, batch_id, dtype=np.int64),
        "source": np.full(n, mapping.id, dtype=object),
        "kind": np.full(n, mapping.kind, dtype=object),
        "row_number": row_numbers.astype(np.int32),
        "row_hash": row_hash,
    }
    dropped = {"bad", "id_consistent", "family_name", "middle_name", "given_name"}
    cols.update({c: cleaned[c].array for c in cleaned.columns if c not in dropped})
    # raw text is kept as written, except NUL, which no database stores
    cols["full_name_raw"] = (
        cleaned["full_name_raw"].astype(str).str.replace("\x00", "\ufffd", regex=False).array
    )
    # A CCCD that contradicts the record is kept for review but not as the record's identity.
    cols["id_number"] = np.where(
        cleaned["id_consistent"] | (cleaned["id_kind"] != "cccd"), cleaned["id_number"], ""
    )
    for c in ("point_id", "ward_id", "geocode_tier", "geocode_confidence"):
        cols[c] = placed[c].to_numpy()
    flags = placed["geocode_flags"].fillna("").astype(str).to_numpy(dtype=object)
    fcode, funiq = pd.factorize(flags)  # a few distinct flag lists: each searched once

    def flagged(word: str) -> np.ndarray:
        return np.array([word in f for f in funiq], dtype=bool)[fcode] if n else np.zeros(0, bool)

    extra = np.where(flagged("old_ward"), "address_old_ward", "").astype(object)
    extra = np.where(
        (placed["geocode_tier"].to_numpy(dtype=object) == "unmatched")
        & (cleaned["address_raw"] != "").to_numpy(),
        np.where(extra != "", extra + ";address_unmatched", "address_unmatched"),
        extra,
    )
    extra = np.where(
        flagged("ambiguous"), np.where(extra != "", extra + ";address_ambiguous", "address_ambiguous"), extra
    )
    corr = cleaned["corrections"].astype(str).to_numpy(dtype=object)
    cols["corrections"] = np.where(extra == "", corr, np.where(corr == "", extra, corr + ";" + extra)).astype(
        object
    )
    return pd.DataFrame(cols)


def _quarantine(
    raw: RawRows,
    bad_codes: np.ndarray,
    bad: np.ndarray,
    placed: pd.DataFrame,
    batch_id: int,
    mapping: SourceMapping,
    path: Path,
) -> pd.DataFrame:
    """The quarantined rows of a file (bad rows and unparseable lines) in row order, built as columns
    once (a file has few of them: per-file frame operations would cost more than the rows)."""
    idx = np.flatnonzero(bad)
    raw_json = [
        orjson.dumps(dict(zip(raw.header, vals, strict=True))).decode()
        for vals in raw.data.iloc[idx].itertuples(index=False)
    ]
    u = raw.unparseable
    codes = bad_codes[idx]
    row_number = np.concatenate(
        [raw.row_numbers[idx].astype(np.int32), u["row_number"].astype(np.int32).to_numpy()]
    )
    order = np.argsort(row_number, kind="stable")
    n_u = len(u)
    column = {
        "raw": [*raw_json, *u["raw"].astype(str).str.replace("\x00", "\ufffd", regex=False).tolist()],
        "reasons": [*codes.tolist(), *["unparseable"] * n_u],
        "message": [*(_message(c) for c in codes), *u["message"].astype(str).tolist()],
        "ward_id": [*placed["ward_id"].to_numpy(dtype=object)[idx].tolist(), *[None] * n_u],
    }
    n = len(row_number)
    return pd.DataFrame(
        {
            "batch_id": np.full(n, batch_id, dtype=np.int64),
            "source": np.full(n, mapping.id, dtype=object),
            "file_name": np.full(n, path.name, dtype=object),
            "row_number": row_number[order],
            **{
                k: np.asarray(v, dtype=object)[order] if n else np.zeros(0, object) for k, v in column.items()
            },
            "kind": np.full(n, mapping.kind, dtype=object),
            "status": np.full(n, "open", dtype=object),
        }
    )


def _count_codes(code_lists: np.ndarray) -> Counter[str]:
    """How often each reason code occurs in ';'-joined code lists, split once per distinct list."""
    out: Counter[str] = Counter()
    if not len(code_lists):
        return out
    inv, uniq = pd.factorize(code_lists)
    for combo, n in zip(uniq.tolist(), np.bincount(inv, minlength=len(uniq)).tolist(), strict=True):
        for code in combo.split(";"):
            if code:
                out[code] += n
    return out


def _message(codes: str) -> str:
    return "; ".join(REASONS[c].en for c in codes.split(";") if c in REASONS)


def _find(header: list[str], names: tuple[str, ...]) -> str | None:
    low = {h.strip().lower(): h for h in header}
    for n in names:
        if n.lower() in low:
            return low[n.lower()]
    return None


def _correction_origin(raw: RawRows) -> pd.DataFrame | None:
    """(batch_id, row_number) of the quarantined row each row of a corrections file corrects."""
    b, r = _find(raw.header, CORRECTION_BATCH), _find(raw.header, CORRECTION_ROW)
    if b is None or r is None:
        return None
    return pd.DataFrame(
        {
            "batch_id": pd.to_numeric(raw.data[b], errors="coerce").astype("Int64").to_numpy(),
            "row_number": pd.to_numeric(raw.data[r], errors="coerce").astype("Int64").to_numpy(),
        }
    )


def _resolutions(
    origin: pd.DataFrame | None, raw: RawRows, bad: np.ndarray, duplicate: np.ndarray, batch_id: int
) -> pd.DataFrame:
    """Quarantine rows a corrections file resolves: each row that names its origin. A row still bad is
    quarantined again (in the new batch) and its origin marked `resubmitted` all the same: the open
    quarantine is always the latest attempt."""
    if origin is None or not len(origin):
        return pd.DataFrame()
    ok = origin["batch_id"].notna().to_numpy() & origin["row_number"].notna().to_numpy() & ~duplicate
    if not ok.any():
        return pd.DataFrame()
    status = np.where(bad[ok], "resubmitted_still_bad", "resolved")
    return pd.DataFrame(
        {
            "batch_id": origin["batch_id"].to_numpy()[ok].astype(np.int64),
            "row_number": origin["row_number"].to_numpy()[ok].astype(np.int32),
            "resolved_batch_id": np.int64(batch_id),
            "resolved_row_number": raw.row_numbers[ok].astype(np.int32),
            "status": status,
            "resolved_at": utcnow(),
        }
    ).drop_duplicates(["batch_id", "row_number"], keep="last")


def _examples(
    raw: RawRows,
    fields: pd.DataFrame,
    cleaned: pd.DataFrame,
    bad_codes: np.ndarray,
    bad: np.ndarray,
    good: np.ndarray,
) -> dict[str, list[dict]]:
    """Up to EXAMPLES rows per reason code: row number, the raw value concerned, and the clean one."""
    out: dict[str, list[dict]] = {}
    numbers = raw.row_numbers
    # the cells examples show, read afterwards with one take per column (not one lookup per example)
    wanted: dict[tuple[str, str], list[tuple[dict, int]]] = {}

    for label, codes_col, mask in (("bad", bad_codes, bad), ("corrections", None, good)):
        col = codes_col if codes_col is not None else cleaned["corrections"].to_numpy(dtype=object)
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        codes, uniq = pd.factorize(col[idx])
        # each combination's first EXAMPLES rows, in file order (one stable sort, not a scan per combination)
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], np.arange(len(uniq)))
        ends = np.r_[starts[1:], len(order)]
        for k, combo in enumerate(uniq):
            for code in str(combo).split(";"):
                if not code or len(out.get(code, [])) >= EXAMPLES:
                    continue
                first = idx[order[starts[k] : min(ends[k], starts[k] + EXAMPLES)]]
                rows = first[: EXAMPLES - len(out.get(code, []))]
                fname = _EXAMPLE_FIELD.get(code.split("_", 1)[0])
                for i in rows:
                    ex = {"row": int(numbers[i]), "kind": label}
                    if fname and fname in fields:
                        wanted.setdefault(("raw", fname), []).append((ex, i))
                        clean = {"birth_date": "birth_date", "event_date": "event_date"}.get(fname, fname)
                        if clean in cleaned and label == "corrections":
                            wanted.setdefault(("clean", clean), []).append((ex, i))
                    out.setdefault(code, []).append(ex)
    for key in sorted(wanted, key=lambda k: k[0] != "raw"):  # "raw" before "clean" in every example
        which, name = key
        frame = fields if which == "raw" else cleaned
        cells = wanted[key]
        values = frame[name].iloc[[i for _, i in cells]].tolist()
        for (ex, _), v in zip(cells, values, strict=True):
            if which == "raw":
                ex["raw"] = str(v)[:120]
            else:
                ex["clean"] = "" if pd.isna(v) else str(v)[:120]
    for _, row in raw.unparseable.head(EXAMPLES).iterrows():
        out.setdefault("unparseable", []).append(
            {"row": int(row["row_number"]), "kind": "bad", "raw": str(row["raw"])[:120]}
        )
    return out
