"""Quality reports: per batch and per source, what came in, what was fixed, what was kept aside and why,
and how much of it linked to a person.

A report is plain data (JSON-ready dicts): counts of the account (rows in = accepted + corrected +
quarantined + duplicates), each reason code with its severity, English and Vietnamese label and count,
examples (row numbers and values from the batch reports), quarantine still open, and match rates by
linkage method with the review list and the link flags (swapped birth dates, typo'd IDs …).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from risk.clean.reasons import REASONS
from risk.store import BatchInfo, Store

ACCOUNT = ("rows_in", "accepted", "corrected", "quarantined", "duplicates")


def _reason_rows(counts: Counter[str]) -> list[dict[str, Any]]:
    out = []
    for code, n in counts.most_common():
        r = REASONS.get(code)
        out.append(
            {
                "code": code,
                "count": int(n),
                "severity": r.severity if r else "unknown",
                "en": r.en if r else code,
                "vi": r.vi if r else code,
            }
        )
    return out


def open_quarantine(store: Store, *, source: str | None = None, ward: str | None = None) -> pd.DataFrame:
    """Quarantined rows not yet resolved by a corrections file."""
    filters = [("source", "=", source)] if source else []
    q = store.read_table("quarantine", filters=filters)
    res = store.read_table("quarantine_resolutions", columns=["batch_id", "row_number"])
    if len(res):
        done = pd.MultiIndex.from_frame(res.astype({"batch_id": "int64", "row_number": "int64"}))
        key = pd.MultiIndex.from_arrays([q["batch_id"].astype("int64"), q["row_number"].astype("int64")])
        q = q[~key.isin(done)]
    if ward:
        q = q[q["ward_id"] == ward]
    return q.reset_index(drop=True)


def _link_stats(store: Store, batch_ids: list[int]) -> dict[str, Any]:
    if not batch_ids:
        return {}
    recs = store.read_table("records", columns=["record_id", "kind"], filters=[("batch_id", "in", batch_ids)])
    recs = recs[recs["kind"] != "registry"]
    if not len(recs):
        return {}
    ids = recs["record_id"].tolist()
    links = store.read_table(
        "links", columns=["record_id", "method", "flags", "same_as"], filters=[("record_id", "in", ids)]
    )
    review = store.read_table("link_reviews", columns=["record_id"], filters=[("record_id", "in", ids)])
    n = len(recs)
    flags: Counter[str] = Counter()
    for f in links["flags"].fillna(""):
        flags.update(c for c in str(f).split(";") if c)
    linked = links["record_id"].nunique()
    return {
        "event_records": n,
        "linked": int(linked),
        "linked_share": round(linked / n, 4),
        "to_registry_persons": int(links["method"].isin(["id", "probabilistic"]).sum()),
        "new_persons": int((links["method"] == "new_person").sum()),
        "by_method": {str(k): int(v) for k, v in links["method"].value_counts().items()},
        "review": int(review["record_id"].nunique()),
        "unlinked": int(n - linked),
        "merged_duplicate_doses": int(links["same_as"].notna().sum()),
        "flags": _reason_rows(flags),
    }


def batch_report(store: Store, batch: BatchInfo, *, links: bool = True) -> dict[str, Any]:
    """One batch: account, reasons, corrections, examples, placement, linkage."""
    rep = dict(batch.report)
    out: dict[str, Any] = {
        "batch_id": batch.batch_id,
        "source": batch.source,
        "kind": batch.kind,
        "file": batch.file_name,
        "committed_at": batch.committed_at.isoformat() if batch.committed_at else None,
        "account": {k: int(getattr(batch, k)) for k in ACCOUNT},
        "balanced": batch.balanced,
        "quarantine_reasons": _reason_rows(Counter(rep.get("quarantine_reasons", {}))),
        "corrections": _reason_rows(Counter(rep.get("corrections", {}))),
        "placed": rep.get("placed", {}),
        "examples": rep.get("examples", {}),
    }
    if links:
        out["linkage"] = _link_stats(store, [int(batch.batch_id)])
    return out


def source_report(store: Store, source: str, *, links: bool = True) -> dict[str, Any]:
    """Every batch of a source added up, with open quarantine and linkage."""
    batches = store.list_batches(source=source)
    acc = {k: sum(int(getattr(b, k)) for b in batches) for k in ACCOUNT}
    reasons: Counter[str] = Counter()
    fixes: Counter[str] = Counter()
    placed: Counter[str] = Counter()
    examples: dict[str, list] = {}
    for b in batches:
        reasons.update(b.report.get("quarantine_reasons", {}))
        fixes.update(b.report.get("corrections", {}))
        placed.update(b.report.get("placed", {}))
        for code, ex in b.report.get("examples", {}).items():
            if len(examples.setdefault(code, [])) < 3:
                examples[code].extend({"file": b.file_name, **e} for e in ex[: 3 - len(examples[code])])
    oq = open_quarantine(store, source=source)
    out: dict[str, Any] = {
        "source": source,
        "kind": batches[0].kind if batches else None,
        "batches": len(batches),
        "account": acc,
        "balanced": acc["rows_in"] == sum(acc[k] for k in ACCOUNT[1:]),
        "rates": {
            k: round(acc[k] / acc["rows_in"], 5) if acc["rows_in"] else 0.0
            for k in ("accepted", "corrected", "quarantined", "duplicates")
        },
        "quarantine_reasons": _reason_rows(reasons),
        "corrections": _reason_rows(fixes),
        "placed": dict(placed),
        "open_quarantine": len(oq),
        "examples": examples,
    }
    if links:
        out["linkage"] = _link_stats(store, [int(b.batch_id) for b in batches])
    return out


def quality_report(store: Store, *, source: str | None = None, batch_id: int | None = None) -> dict[str, Any]:
    """The report the command line and the notebook show: one batch, one source, or every source."""
    if batch_id is not None:
        found = [b for b in store.list_batches() if b.batch_id == batch_id]
        if not found:
            raise ValueError(f"no batch {batch_id}")
        return {"batch": batch_report(store, found[0])}
    sources = [source] if source else sorted({b.source for b in store.list_batches()})
    per = [source_report(store, s) for s in sources]
    total = {k: sum(p["account"][k] for p in per) for k in ACCOUNT}
    return {"total": total, "sources": per}
