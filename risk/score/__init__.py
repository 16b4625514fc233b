"""Scoring: metrics per unit at an as-of date → levels by a rule profile → an immutable snapshot."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.gazetteer import load_gazetteer
from risk.profiles import Profile, load_profile
from risk.score.metrics import EVENT_COLUMNS, Inputs, rates, ward_metrics
from risk.store import SnapshotInfo, Store

COUNT_METRICS = (
    "population",
    "adults",
    "adults_one_dose",
    "elderly",
    "elderly_full_dose",
    "community_cases_7d",
)


@dataclass(frozen=True)
class ScoreResult:
    snapshot: SnapshotInfo
    levels: pd.DataFrame

    def summary(self) -> str:
        s = self.snapshot
        wards = self.levels[self.levels["unit_type"] == "ward"]
        counts = wards["level"].value_counts().sort_index().to_dict()
        city = self.levels[self.levels["unit_type"] == "city"]["level"].iloc[0]
        return (
            f"snapshot {s.snapshot_id} as of {s.as_of:%Y-%m-%d} by {s.profile} {s.profile_version}: city level "
            f"{city}; wards per level {counts} (0 = unknown)"
        )


def read_inputs(store: Store) -> Inputs:
    hh = store.read_table("households", columns=["household_id", "ward_id", "group_id"])
    return Inputs(
        persons=store.read_table("persons", columns=["person_id", "household_id", "birth_year"]),
        households=hh,
        links=store.read_table("links", columns=["record_id", "person_id"]),
        events=store.read_table(
            "records", columns=list(EVENT_COLUMNS), filters=[("kind", "in", ["dose", "case"])]
        ),
    )


def level_rows(
    profile: Profile, metrics: pd.DataFrame, unit_type: str, names: pd.Series, parents: pd.Series
) -> pd.DataFrame:
    """Rows of the snapshot's `levels` table for units of one type."""
    evaluated = profile.evaluate(metrics)
    metric_cols = [c for c in metrics.columns]
    records = metrics[metric_cols].to_dict(orient="records")
    return pd.DataFrame(
        {
            "unit_type": unit_type,
            "unit_id": metrics.index.to_numpy(),
            "parent_id": parents.reindex(metrics.index).to_numpy(),
            "name": names.reindex(metrics.index).to_numpy(),
            "level": evaluated["level"].to_numpy(),
            "profile": profile.id,
            "profile_version": profile.version,
            "population": metrics["population"].astype(np.int64).to_numpy(),
            "metrics": [json.dumps(_clean(m), ensure_ascii=False) for m in records],
            "reasons": [json.dumps(r, ensure_ascii=False) for r in evaluated["reasons"]],
        }
    )


def _clean(m: dict) -> dict:
    out = {}
    for k, v in m.items():
        if isinstance(v, float | np.floating):
            out[k] = None if np.isnan(v) else round(float(v), 6)
        elif isinstance(v, np.integer):
            out[k] = int(v)
        else:
            out[k] = v
    return out


def score(
    store: Store,
    as_of: dt.date | dt.datetime,
    profile_id: str = "moh-4800",
    *,
    publish: bool = True,
) -> ScoreResult:
    """Score every ward and the city at `as_of` and write (and by default publish) a snapshot."""
    day = as_of.date() if isinstance(as_of, dt.datetime) else as_of
    profile = load_profile(profile_id)
    gaz = load_gazetteer()
    wards = gaz.wards
    inputs = read_inputs(store)
    counts = ward_metrics(inputs, day, profile.window_days, list(wards.index))
    ward_rates = rates(counts)
    city_counts = counts[list(COUNT_METRICS)].sum().to_frame().T
    city_counts.index = pd.Index([gaz.city.unit_id])
    city_rates = rates(city_counts)
    names = gaz.units["full_name"]
    parents = gaz.units["parent_id"]
    levels = pd.concat(
        [
            level_rows(profile, city_rates, "city", names, parents),
            level_rows(profile, ward_rates, "ward", names, parents),
        ],
        ignore_index=True,
    )
    batches = store.list_batches()
    info = SnapshotInfo(
        as_of=dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
        if not isinstance(as_of, dt.datetime)
        else as_of,
        profile=profile.id,
        profile_version=profile.version,
        input_watermark=max((b.batch_id or 0 for b in batches), default=0),
        parent_id=(cur.snapshot_id if (cur := store.current_snapshot()) else None),
        stats={
            "gazetteer": gaz.name,
            "units": levels["unit_type"].value_counts().to_dict(),
            "wards_per_level": {
                str(k): int(v)
                for k, v in levels[levels["unit_type"] == "ward"]["level"].value_counts().items()
            },
        },
    )
    snap = store.write_snapshot(info, {"levels": levels})
    if publish:
        store.publish_snapshot(snap.snapshot_id)
    return ScoreResult(snap, levels)
