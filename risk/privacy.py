"""Personal data: which columns hold it, masking for roles that do not need it, opaque ids for URLs,
and retention (pseudonymise or delete personal details of old records).

Household health data is sensitive personal data (Decree 13/2023/NĐ-CP). Exports and household views
call `mask_frame` with whether the caller may see personal details (`VIEW_PERSONAL`); URLs carry
`opaque_id` tokens, never store ids; `apply_retention` is what `riskmap retention run` does.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from risk.store import Store

log = logging.getLogger("riskmap.privacy")

# Columns (in any table or answer) that identify a person: never in public or app answers.
PERSONAL_COLUMNS = frozenset(
    {
        "full_name",
        "full_name_raw",
        "name_key",
        "birth_date",
        "id_number",
        "phone",
        "address",
        "address_raw",
        "raw",
        "household_ref",
        "head_person_id",
        "person_id",
    }
)
# What retention clears in old event records and quarantined rows.
RECORD_PERSONAL = (
    "full_name_raw",
    "full_name",
    "name_key",
    "birth_date",
    "id_number",
    "phone",
    "address_raw",
)
QUARANTINE_PERSONAL = ("raw",)
EVENT_KINDS = ("dose", "test", "case", "contact")


class PrivacySettings(BaseSettings):
    """Environment variables prefixed RISKMAP_PRIVACY_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_PRIVACY_", extra="ignore")

    k: int = Field(
        default=10, ge=1, description="groups and cells with fewer households are suppressed for the public"
    )
    retention_days: int = Field(
        default=365, ge=1, description="personal details of older records are cleared"
    )
    retention_mode: Literal["pseudonymise", "delete"] = Field(
        default="pseudonymise", description="pseudonymise: clear identifying columns; delete: drop the rows"
    )
    id_key: str = Field(
        default="",
        description="64 hex characters (AES-256 key) for opaque household ids in URLs; set it when several "
        "processes serve (unset: a random key per process)",
    )


@lru_cache(maxsize=1)
def privacy_settings() -> PrivacySettings:
    return PrivacySettings()


# ---------------------------------------------------------------------------------------------------------
# masking (vectorised: one pass over the distinct values of a column)


def _mask(values: pd.Series, keep_start: int, keep_end: int) -> pd.Series:
    """Stars instead of all but the first `keep_start` and last `keep_end` characters (all stars when
    the value is that short); nulls and empty strings stay as they are."""

    def one(v: object) -> object:
        if not isinstance(v, str) or not v:
            return v
        if len(v) <= keep_start + keep_end:
            return "*" * len(v)
        return v[:keep_start] + "*" * (len(v) - keep_start - keep_end) + (v[-keep_end:] if keep_end else "")

    uniq = pd.unique(values.to_numpy(dtype=object))
    table = {v: one(v) for v in uniq if isinstance(v, str)}
    return values.map(lambda v: table.get(v, v) if isinstance(v, str) else v)


def mask_phone(values: pd.Series) -> pd.Series:
    """`0903123456` → `090****456`: enough to tell numbers apart on a call list, not to call them."""
    return _mask(values, 3, 3)


def mask_id(values: pd.Series) -> pd.Series:
    """`079190001234` → `*********234` (CCCD digits 1–6 give province, sex and birth year: masked too)."""
    return _mask(values, 0, 3)


def mask_frame(frame: pd.DataFrame, *, personal: bool) -> pd.DataFrame:
    """Phones and ID numbers masked unless the caller may see personal details."""
    if personal:
        return frame
    out = frame.copy()
    if "phone" in out.columns:
        out["phone"] = mask_phone(out["phone"])
    if "id_number" in out.columns:
        out["id_number"] = mask_id(out["id_number"])
    return out


def personal_columns(columns: list[str] | pd.Index) -> list[str]:
    return [c for c in columns if c in PERSONAL_COLUMNS]


# ---------------------------------------------------------------------------------------------------------
# opaque ids: an AES block per id (reversible with the key, stable, forgery evident)


@lru_cache(maxsize=4)
def _cipher_key(hex_key: str) -> bytes:
    if hex_key:
        try:
            key = bytes.fromhex(hex_key)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError("RISKMAP_PRIVACY_ID_KEY must be 64 hex characters (32 bytes)")
        return key
    log.warning("RISKMAP_PRIVACY_ID_KEY is not set: opaque ids change when the process restarts")
    return secrets.token_bytes(32)


def _ecb(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.ECB())  # one block per id: ECB is the right mode here


def opaque_id(ids: int | np.ndarray | pd.Series, kind: str = "h", key: str | None = None) -> str | list[str]:
    """Store ids (int64) → URL tokens like `h_3f0c…` (32 hex), which reveal nothing without the key."""
    k = _cipher_key(privacy_settings().id_key if key is None else key)
    single = np.isscalar(ids)
    arr = np.atleast_1d(np.asarray(ids, dtype=np.int64))
    tag = kind.encode()[:8].ljust(8, b"\0")
    blocks = b"".join(tag + int(v).to_bytes(8, "big", signed=True) for v in arr)
    enc = _ecb(k).encryptor()
    raw = enc.update(blocks) + enc.finalize()
    out = [f"{kind}_{raw[i : i + 16].hex()}" for i in range(0, len(raw), 16)]
    return out[0] if single else out


def resolve_id(token: str, kind: str = "h", key: str | None = None) -> int | None:
    """The store id behind a token of this kind, or None for anything else (forged, other kind, junk)."""
    prefix = f"{kind}_"
    if not isinstance(token, str) or not token.startswith(prefix) or len(token) != len(prefix) + 32:
        return None
    try:
        block = bytes.fromhex(token[len(prefix) :])
    except ValueError:
        return None
    dec = _ecb(_cipher_key(privacy_settings().id_key if key is None else key)).decryptor()
    plain = dec.update(block) + dec.finalize()
    if plain[:8] != kind.encode()[:8].ljust(8, b"\0"):
        return None
    return int.from_bytes(plain[8:], "big", signed=True)


# ---------------------------------------------------------------------------------------------------------
# retention


@dataclass(frozen=True)
class RetentionResult:
    cutoff: dt.date
    mode: str
    records: int
    quarantined_rows: int
    links: int

    def summary(self) -> str:
        verb = "pseudonymised" if self.mode == "pseudonymise" else "deleted"
        return (
            f"records with events before {self.cutoff}: {self.records} {verb}; quarantined rows of batches "
            f"committed before it: {self.quarantined_rows} {verb}"
            + (f"; {self.links} links deleted" if self.mode == "delete" else "")
        )


def apply_retention(
    store: Store,
    days: int | None = None,
    mode: str | None = None,
    *,
    today: dt.date | None = None,
    dry_run: bool = False,
) -> RetentionResult:
    """Clear (or delete) personal details of event records older than `days` and of quarantined rows
    of batches committed before then. Each table changes atomically; running it again is harmless."""
    s = privacy_settings()
    days = days or s.retention_days
    mode = mode or s.retention_mode
    if mode not in ("pseudonymise", "delete"):
        raise ValueError(f"retention mode {mode!r}: use pseudonymise or delete")
    cutoff = (today or dt.date.today()) - dt.timedelta(days=days)
    old = [("kind", "in", list(EVENT_KINDS)), ("event_date", "<", cutoff)]
    old_batches = [
        b.batch_id
        for b in store.list_batches()
        if b.committed_at is not None and b.committed_at.date() < cutoff and b.batch_id is not None
    ]
    q_filter = [("batch_id", "in", old_batches)]
    if dry_run:
        n_links = 0
        if mode == "delete":
            ids = store.read_table("records", columns=["record_id"], filters=old)["record_id"]
            n_links = store.count("links", filters=[("record_id", "in", ids.tolist())]) if len(ids) else 0
        return RetentionResult(
            cutoff,
            mode,
            store.count("records", filters=old),
            store.count("quarantine", filters=q_filter),
            n_links,
        )
    n_links = 0
    if mode == "pseudonymise":
        n_rec = store.redact_rows("records", old, RECORD_PERSONAL)
        n_q = store.redact_rows("quarantine", q_filter, QUARANTINE_PERSONAL) if old_batches else 0
    else:
        ids = store.read_table("records", columns=["record_id"], filters=old)["record_id"].to_numpy()
        for chunk in np.array_split(ids, max(1, len(ids) // 50_000 + 1)):
            if len(chunk):
                n_links += store.delete_rows("links", [("record_id", "in", chunk.tolist())])
        n_rec = store.delete_rows("records", old)
        n_q = store.delete_rows("quarantine", q_filter) if old_batches else 0
    return RetentionResult(cutoff, mode, n_rec, n_q, n_links)
