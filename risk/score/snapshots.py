"""Snapshot history: delta chains, public notice of raised levels, and diffs between snapshots.

* **Delta snapshots.** An incremental update writes a snapshot whose `parent_id` is the snapshot it
  amends and whose `stats["delta"]` is true; it holds only the rows that changed, in any snapshot table.
  The view of a delta is its parent's view with those rows replaced (by the table's key). Deltas can
  chain; `resolve_snapshot` walks back to the full snapshot and applies them in order.
* **Notice** (Resolution 128/NQ-CP): a raised official level is announced before it takes effect. The
  row keeps the level in force in `level` and carries the raise in `pending_level` and
  `pending_effective_at` (announcement + `notice_hours` of the profile); a lowered level applies at once.
  A raise announced earlier keeps its effective time while it still stands, and is in force once that time
  has passed.
* **Diff**: units whose level rose or fell between two snapshots.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from risk.profiles import Profile
from risk.store import SnapshotInfo, Store, StoreError
from risk.store.tables import spec


def is_delta(info: SnapshotInfo) -> bool:
    return bool(info.stats.get("delta"))


def chain(store: Store, snapshot_id: int) -> list[SnapshotInfo]:
    """The snapshot and the ones it amends, back to (and including) the full snapshot: newest first."""
    out = [store.get_snapshot(snapshot_id)]
    seen = {snapshot_id}
    while is_delta(out[-1]):
        parent = out[-1].parent_id
        if parent is None:
            raise StoreError(f"delta snapshot {out[-1].snapshot_id} names no parent")
        if parent in seen:
            raise StoreError(f"snapshot {snapshot_id}: the delta chain loops at {parent}")
        seen.add(parent)
        out.append(store.get_snapshot(parent))
    return out


def table_key(table: str) -> list[str]:
    return [c for c in spec(table).key if c != "snapshot_id"]


def apply_delta(base: pd.DataFrame, delta: pd.DataFrame, key: Sequence[str]) -> pd.DataFrame:
    """`base` with the rows of `delta` replacing those of the same key (and new keys added)."""
    if not len(delta):
        return base
    if not len(base):
        return delta.reset_index(drop=True)
    key = list(key)
    if len(key) == 1:
        gone = base[key[0]].isin(delta[key[0]])
    else:
        gone = pd.MultiIndex.from_frame(base[key]).isin(pd.MultiIndex.from_frame(delta[key]))
    kept = base[~np.asarray(gone)]
    return pd.concat([kept, delta.astype(kept.dtypes.to_dict(), errors="ignore")], ignore_index=True)


def resolve_snapshot(
    store: Store, snapshot_id: int, table: str, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The full rows of `table` as seen from `snapshot_id`, deltas applied on their full snapshot.

    Rows keep the `snapshot_id` of the snapshot that wrote them (the full one or a delta of the chain).
    """
    key = table_key(table)
    cols = None if columns is None else list(dict.fromkeys([*key, *columns]))
    snaps = chain(store, snapshot_id)
    out = store.read_snapshot(snaps[-1].snapshot_id, table, columns=cols)
    for info in reversed(snaps[:-1]):
        out = apply_delta(out, store.read_snapshot(info.snapshot_id, table, columns=cols), key)
    return out


def previous_snapshot(
    store: Store, profile_id: str, as_of: dt.datetime, *, exclude: int | None = None
) -> SnapshotInfo | None:
    """The latest snapshot by the same profile speaking for `as_of` or earlier (the one a new run amends)."""
    best = None
    for s in store.list_snapshots():
        if s.profile != profile_id or s.snapshot_id == exclude or s.as_of > as_of:
            continue
        if best is None or (s.as_of, s.snapshot_id) > (best.as_of, best.snapshot_id):
            best = s
    return best


def apply_notice(
    levels: pd.DataFrame, previous: pd.DataFrame | None, profile: Profile, as_of: dt.datetime
) -> pd.DataFrame:
    """Hold raised official levels for the profile's notice period (Resolution 128: 48 hours).

    `levels`: new rows (level = the level computed now); `previous`: the rows of the snapshot they follow.
    Only rows of `profile` are held (riskmap's own cell levels take effect at once).
    """
    out = levels.copy()
    out["pending_level"] = pd.array([pd.NA] * len(out), dtype="Int8")
    out["pending_effective_at"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[us, UTC]")
    if profile.notice_hours <= 0 or previous is None or not len(previous):
        return out
    mine = (out["profile"] == profile.id).to_numpy()
    prev = previous[previous["profile"] == profile.id].set_index(["unit_type", "unit_id"])
    idx = pd.MultiIndex.from_frame(out[["unit_type", "unit_id"]])
    p_level = prev["level"].reindex(idx).to_numpy(dtype=float, na_value=np.nan)
    p_pending = prev["pending_level"].reindex(idx).to_numpy(dtype=float, na_value=np.nan)
    p_eff = pd.to_datetime(prev["pending_effective_at"].reindex(idx), utc=True).reset_index(drop=True)
    ts = pd.Timestamp(as_of)
    now = ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")
    has_eff = p_eff.notna().to_numpy()
    due = (p_eff <= now).fillna(False).to_numpy(dtype=bool)
    matured = ~np.isnan(p_pending) & has_eff & due
    in_force = np.where(matured, p_pending, p_level)
    computed = out["level"].to_numpy().astype(float)
    raise_ = mine & ~np.isnan(in_force) & (in_force > 0) & (computed > in_force)
    if not raise_.any():
        return out
    keep_time = raise_ & ~matured & (p_pending == computed) & has_eff
    announce = now + pd.Timedelta(hours=profile.notice_hours)
    effective = p_eff.where(pd.Series(keep_time), announce)
    rows = np.flatnonzero(raise_)
    out.loc[out.index[rows], "level"] = in_force[rows].astype(np.int8)
    out.loc[out.index[rows], "pending_level"] = computed[rows].astype(np.int8)
    eff = pd.to_datetime(effective.iloc[rows], utc=True)
    out.loc[out.index[rows], "pending_effective_at"] = eff.to_numpy()
    reasons = out["reasons"].to_numpy(dtype=object).copy()
    for i, r, e, lv in zip(rows, computed[rows], eff, in_force[rows], strict=True):
        item = json.dumps(
            {
                "step": "notice",
                "computed_level": int(r),
                "level_in_force": int(lv),
                "pending_level": int(r),
                "effective_at": e.isoformat(),
                "notice_hours": profile.notice_hours,
            }
        )
        text = reasons[i]
        reasons[i] = "[" + item + "]" if text in ("", "[]", None) else text[:-1] + "," + item + "]"
    out["reasons"] = reasons
    return out


def diff_levels(
    a: pd.DataFrame, b: pd.DataFrame, *, key: Sequence[str] = ("unit_type", "unit_id")
) -> pd.DataFrame:
    """Units whose level differs between two sets of rows: level_a, level_b, change ('rose' or 'fell')."""
    key = list(key)
    cols = [c for c in ("name", "level", "pending_level", "pending_effective_at") if c in b.columns]
    m = a[[*key, "level"]].merge(b[[*key, *cols]], on=key, how="outer", suffixes=("_a", "_b"))
    la = m["level_a"].astype("Int16")
    lb = m["level_b"].astype("Int16")
    changed = (la != lb).fillna(True) & (la.notna() | lb.notna())
    m = m[changed.to_numpy(dtype=bool)].copy()
    la, lb = m["level_a"].astype("Int16"), m["level_b"].astype("Int16")
    m["change"] = np.select(
        [
            la.isna().to_numpy(),
            lb.isna().to_numpy(),
            (lb == 0).fillna(False).to_numpy(dtype=bool),
            (la == 0).fillna(False).to_numpy(dtype=bool),
            (lb > la).fillna(False).to_numpy(dtype=bool),
        ],
        ["new", "gone", "unknown", "known", "rose"],
        "fell",
    )
    return m.sort_values([*key]).reset_index(drop=True)
