"""The risk model: the calibrated probability of a new case in a household or an H3 cell within 7 days.

It informs riskmap's own levels (a step of `riskmap-household` and `riskmap-cell`, which says so when
it fires) and is shown beside them; it never changes an official (MoH) level. Trained models live in
the store's `models` table (append-only: model id, version, what they were trained on, their backtest,
the pickled estimator); every snapshot names the version it applied. See docs/model-card.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from risk.store import Store, StoreError

MODEL_FORMAT = "riskmap-model/1"


@dataclass
class Models:
    """The household and cell models of one version, ready to apply to a scoring run."""

    version: str
    household: Any = None  # risk.model.train.FittedModel
    cell: Any = None
    ids: dict[str, str] | None = None
    sha256: dict[str, str] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model_ids": self.ids or {},
            "sha256": self.sha256 or {},
            "kinds": [k for k in ("household", "cell") if getattr(self, k) is not None],
        }

    def predict(self, run: Any, kind: str) -> np.ndarray | None:
        """Probabilities for the households (kind 'household') or the cells of a type ('h3_9', …)."""
        fut = self.predict_async(run, kind)
        return None if fut is None else fut.result().astype(np.float32)

    def predict_async(self, run: Any, kind: str) -> Future[np.ndarray] | None:
        """`predict` in background threads: the features are computed now, the trees run off the GIL
        (see `FittedModel.predict_async`), and the caller takes `.result()` when it needs them."""
        from risk.model.features import cell_features, household_features

        if kind == "household":
            if self.household is None:
                return None
            return self.household.predict_async(household_features(run))
        if self.cell is None:
            return None
        return self.cell.predict_async(cell_features(run, kind))


def version_of(models: dict[str, Any], trained_at: dt.datetime) -> str:
    """A version string: training time and the last day trained on (readable, sortable)."""
    last = max(m.calibration_days[1] for m in models.values())
    from risk.score.inputs import date_of

    return f"{trained_at:%Y%m%dT%H%M%S}-to-{date_of(last)}"


def save_models(store: Store, models: dict[str, Any], *, trained_at: dt.datetime | None = None) -> Models:
    """Append fitted models (by kind) to the store's registry; returns them as a `Models`."""
    from risk.score.inputs import date_of

    trained_at = trained_at or dt.datetime.now(dt.UTC)
    version = version_of(models, trained_at)
    rows, ids, shas = [], {}, {}
    for kind, m in models.items():
        artifact = pickle.dumps({"format": MODEL_FORMAT, "model": m}, protocol=pickle.HIGHEST_PROTOCOL)
        sha = hashlib.sha256(artifact).hexdigest()
        model_id = f"{kind}:{version}"
        ids[kind], shas[kind] = model_id, sha
        rows.append(
            {
                "model_id": model_id,
                "version": version,
                "kind": kind,
                "trained_at": trained_at,
                "train_from": date_of(m.train_days[0]),
                "train_to": date_of(m.calibration_days[1]),
                "features": json.dumps(list(m.features)),
                "params": json.dumps(m.params, default=str),
                "metrics": json.dumps(m.metrics, default=str),
                "sha256": sha,
                "artifact": artifact,
            }
        )
    store.write_tables({"models": pd.DataFrame(rows)}, mode="append")
    return Models(version, models.get("household"), models.get("cell"), ids, shas)


def list_models(store: Store) -> pd.DataFrame:
    """The registry without the artifacts, newest first."""
    cols = [
        "model_id",
        "version",
        "kind",
        "trained_at",
        "train_from",
        "train_to",
        "features",
        "metrics",
        "sha256",
    ]
    try:
        df = store.read_table("models", columns=cols)
    except StoreError:
        return pd.DataFrame(columns=cols)
    return df.sort_values("trained_at", ascending=False).reset_index(drop=True)


def load_models(store: Store, version: str = "latest") -> Models | None:
    """The models of a version ('latest': the newest trained), or None when none is trained."""
    if version == "none":
        return None
    reg = list_models(store)
    if not len(reg):
        if version != "latest":
            raise StoreError(f"no trained model version {version!r} in the store (run `riskmap model train`)")
        return None
    chosen = reg["version"].iloc[0] if version == "latest" else version
    if chosen not in set(reg["version"]):
        raise StoreError(f"no model version {version!r}; known: {', '.join(reg['version'].unique()[:5])}")
    rows = store.read_table("models", filters=[("version", "=", chosen)])
    out = Models(chosen, ids={}, sha256={})
    for r in rows.itertuples(index=False):
        blob = bytes(r.artifact)
        if hashlib.sha256(blob).hexdigest() != r.sha256:
            raise StoreError(f"model {r.model_id}: artifact does not match its sha256")
        payload = pickle.loads(blob)
        if payload.get("format") != MODEL_FORMAT:
            raise StoreError(f"model {r.model_id}: unknown format {payload.get('format')!r}")
        setattr(out, r.kind, payload["model"])
        out.ids[r.kind] = r.model_id
        out.sha256[r.kind] = r.sha256
    return out
