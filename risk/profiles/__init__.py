"""Rule profiles: versioned level schemes kept as TOML data, and the engine that applies them.

A profile is a list of steps applied in order to each unit's metrics:
* `band` sets the level from a metric and ascending thresholds (value < t1 → 1, < t2 → 2, …);
* `adjust` adds `delta` when the metric satisfies `op value` (e.g. coverage ≥ 70 % → −1);
* `no_lowering` keeps the level at least at the band when its condition holds (capacity failed).
The level is clamped to 1…levels. A unit missing a required metric gets level 0 (unknown) and says
which. Every unit's reasons record each step's value and effect, so a level can always be explained;
`explain` renders them in Vietnamese or English from the profile's own texts.

Profiles ship in this folder; RISKMAP_SCORE_PROFILES_DIR adds or replaces them without a release.
`[overrides.<province code>]` tables replace step fields for one province (Decision 4800 let provinces
adjust criteria).
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PROFILES_DIR = Path(__file__).parent
UNKNOWN = 0
_OPS = {
    ">=": np.greater_equal,
    ">": np.greater,
    "<=": np.less_equal,
    "<": np.less,
    "==": np.equal,
    "!=": np.not_equal,
}


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    metric: str
    params: dict[str, Any]
    optional: bool = False
    uncertain: bool = False


@dataclass(frozen=True)
class Profile:
    id: str
    version: str
    title: str
    source: str
    valid_from: dt.date
    valid_to: dt.date | None
    units: tuple[str, ...]
    window_days: int
    levels: int
    steps: tuple[Step, ...]
    labels: dict[int, dict[str, str]]
    overrides: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    path: Path | None = None

    @property
    def metrics(self) -> list[str]:
        return [s.metric for s in self.steps]

    def for_province(self, province: str | None) -> Profile:
        """This profile with a province's overrides applied to its steps."""
        if not province or province not in self.overrides:
            return self
        changes = self.overrides[province]
        steps = tuple(
            Step(s.id, s.kind, s.metric, {**s.params, **changes.get(s.id, {})}, s.optional, s.uncertain)
            for s in self.steps
        )
        return Profile(**{**self.__dict__, "steps": steps, "version": f"{self.version}+{province}"})

    def label(self, level: int, lang: str = "vi") -> str:
        if level == UNKNOWN:
            return "Chưa đủ dữ liệu" if lang == "vi" else "Unknown (not enough data)"
        return self.labels[level][lang]

    def colour(self, level: int) -> str:
        return self.labels.get(level, {}).get("colour", "#9e9e9e")

    def evaluate(self, metrics: pd.DataFrame) -> pd.DataFrame:
        """Levels for units (rows of `metrics`): columns `level` (int8, 0 = unknown) and `reasons`
        (a list of step outcomes per unit: step, metric, value, effect, applied)."""
        n = len(metrics)
        level = np.zeros(n, dtype=np.int16)
        band = np.zeros(n, dtype=np.int16)
        unknown = np.zeros(n, dtype=bool)
        missing: list[list[str]] = [[] for _ in range(n)]
        outcomes: list[tuple[Step, np.ndarray, np.ndarray, np.ndarray]] = []
        for step in self.steps:
            if step.metric not in metrics.columns:
                if step.optional:
                    continue
                raise KeyError(f"profile {self.id}: metric {step.metric!r} was not computed")
            values = pd.to_numeric(metrics[step.metric], errors="coerce").to_numpy(dtype=float)
            absent = np.isnan(values)
            if not step.optional:
                unknown |= absent
                for i in np.nonzero(absent)[0]:
                    missing[i].append(step.metric)
            if step.kind == "band":
                thresholds = np.asarray(step.params["thresholds"], dtype=float)
                b = (np.searchsorted(thresholds, np.where(absent, 0, values), side="right") + 1).astype(
                    np.int16
                )
                band = np.where(absent, band, b)
                level = np.where(absent, level, b)
                outcomes.append((step, values, b, ~absent))
            elif step.kind in ("adjust", "no_lowering"):
                cond = (
                    _OPS[step.params["op"]](np.where(absent, 0, values), float(step.params["value"]))
                    & ~absent
                )
                if step.kind == "adjust":
                    delta = int(step.params["delta"])
                    level = np.where(cond, level + delta, level)
                    effect = np.where(cond, delta, 0)
                else:
                    raised = np.maximum(level, band)
                    effect = np.where(cond, raised - level, 0)
                    level = np.where(cond, raised, level)
                outcomes.append((step, values, effect, cond))
            else:
                raise ValueError(f"profile {self.id}: unknown step kind {step.kind!r}")
        level = np.clip(level, 1, self.levels)
        level = np.where(unknown, UNKNOWN, level).astype(np.int8)
        reasons = []
        for i in range(n):
            r = [
                {
                    "step": s.id,
                    "metric": s.metric,
                    "value": None if math.isnan(v[i]) else float(v[i]),
                    "effect": int(e[i]),
                    "applied": bool(c[i]),
                    **({"uncertain": True} if s.uncertain else {}),
                }
                for s, v, e, c in outcomes
                if not math.isnan(v[i])
            ]
            if missing[i]:
                r.append({"step": "missing", "metrics": missing[i]})
            reasons.append(r)
        return pd.DataFrame({"level": level, "reasons": reasons}, index=metrics.index)

    def explain(self, reasons: list[dict[str, Any]], lang: str = "vi") -> list[str]:
        """Sentences for one unit's reasons, from this profile's own texts."""
        by_id = {s.id: s for s in self.steps}
        out = []
        for r in reasons:
            if r.get("step") == "missing":
                m = ", ".join(r.get("metrics", []))
                out.append(f"Thiếu dữ liệu: {m}" if lang == "vi" else f"Not enough data: {m}")
                continue
            step = by_id.get(r["step"])
            if step is None:
                continue
            p = step.params
            outcome = p.get(f"if_true_{lang}" if r["applied"] else f"if_false_{lang}", "")
            template = p.get(f"reason_{lang}", "{value}")
            text = template.format(value=r["value"], band=r["effect"], outcome=outcome)
            if r.get("uncertain"):
                text += " (ngưỡng chưa chắc chắn)" if lang == "vi" else " (uncertain threshold)"
            out.append(text)
        return out


def parse_profile(data: dict[str, Any], path: Path | None = None) -> Profile:
    where = f"profile {path}" if path else "profile"
    try:
        p = data["profile"]
        steps_raw = data["steps"]
    except KeyError as exc:
        raise ValueError(f"{where}: missing [{exc.args[0]}]") from None
    steps = []
    for i, s in enumerate(steps_raw):
        for key in ("id", "kind", "metric"):
            if key not in s:
                raise ValueError(f"{where}: step {i + 1} lacks {key!r}")
        if s["kind"] == "band" and sorted(s.get("thresholds", [])) != list(s.get("thresholds", [])):
            raise ValueError(f"{where}: step {s['id']}: thresholds must ascend")
        if s["kind"] in ("adjust", "no_lowering") and (
            "op" not in s or "value" not in s or s["op"] not in _OPS
        ):
            raise ValueError(f"{where}: step {s['id']}: needs op (one of {', '.join(_OPS)}) and value")
        params = {k: v for k, v in s.items() if k not in ("id", "kind", "metric", "optional", "uncertain")}
        steps.append(
            Step(s["id"], s["kind"], s["metric"], params, bool(s.get("optional")), bool(s.get("uncertain")))
        )
    labels = {int(k): v for k, v in data.get("labels", {}).items()}
    levels = int(p.get("levels", 4))
    if sorted(labels) != list(range(1, levels + 1)):
        raise ValueError(f"{where}: [labels] must define levels 1..{levels}")
    return Profile(
        id=p["id"],
        version=str(p["version"]),
        title=p.get("title", p["id"]),
        source=p.get("source", ""),
        valid_from=p["valid_from"],
        valid_to=p.get("valid_to"),
        units=tuple(p.get("units", ())),
        window_days=int(p.get("window_days", 7)),
        levels=levels,
        steps=tuple(steps),
        labels=labels,
        overrides=data.get("overrides", {}),
        path=path,
    )


@lru_cache(maxsize=16)
def _load_file(path: Path, mtime: float) -> Profile:
    with open(path, "rb") as fh:
        try:
            return parse_profile(tomllib.load(fh), path)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"profile {path}: not valid TOML: {exc}") from None


def profile_files(extra_dir: Path | None = None) -> dict[str, Path]:
    files = {f.stem: f for f in sorted(PROFILES_DIR.glob("*.toml"))}
    if extra_dir and extra_dir.is_dir():
        files.update({f.stem: f for f in sorted(extra_dir.glob("*.toml"))})
    return files


def load_profile(profile_id: str, extra_dir: Path | None = None) -> Profile:
    files = profile_files(extra_dir)
    if profile_id not in files:
        raise KeyError(f"unknown profile {profile_id!r}; known: {', '.join(sorted(files))}")
    path = files[profile_id]
    return _load_file(path, path.stat().st_mtime)
