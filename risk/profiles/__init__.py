"""Rule profiles: versioned level schemes kept as TOML data, and the engine that applies them.

A profile is a list of steps applied in order to each unit's metrics (vectorised over units):
* `band` sets the level from a metric and ascending thresholds (`compare = ">="`, the default: a value
  at a threshold is in the upper band, as "từ 150 trở lên"; `compare = ">"`: a value must exceed it, as
  "> 600"); `combine = "max"` keeps a higher level already set (several indicators, the worst decides);
* `adjust` adds `delta` when its condition holds (coverage ≥ 70 % → −1);
* `no_lowering` keeps the level at least at the last band when its condition holds (capacity failed);
* `floor` raises the level to at least `level` when its condition holds (event-based schemes);
* `matrix` looks the level up in `table` (rows: the level so far; columns: the categories of a
  categorical metric, e.g. response capacity high / medium / low).
A condition is `metric op value`, or `when = [{metric, op, value}, …]` with `when_mode = "any" | "all"`.
A step may name the unit types it applies to (`units = ["district", "city"]`). The computed metric
`neighbour_max_level` is the highest level of a unit's neighbours as it stood before that step (needs
an adjacency; "borders very-high units").

The level is clamped to 1…levels. A unit missing a required metric gets level 0 (unknown) and says
which; an optional step whose input was not supplied is skipped and says so; a `matrix` step with
`assume` uses that category when its input is missing and says it assumed it. Every unit's reasons
record each step's values and effect, so a level can always be explained; `explain` renders them in
Vietnamese or English from the profile's own texts. Thresholds the sources leave uncertain carry
`uncertain = true` (and `uncertain_why`), and the reasons repeat the mark.

Profiles ship in this folder; RISKMAP_SCORE_PROFILES_DIR adds or replaces them without a release.
`[overrides.<province code>]` tables replace step fields for one province (Decision 4800 let provinces
adjust criteria).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

PROFILES_DIR = Path(__file__).parent
UNKNOWN = 0
NEIGHBOUR_METRIC = "neighbour_max_level"
KINDS = ("band", "adjust", "no_lowering", "floor", "matrix")
_OPS = {
    ">=": np.greater_equal,
    ">": np.greater,
    "<=": np.less_equal,
    "<": np.less,
    "==": np.equal,
    "!=": np.not_equal,
}
_STEP_KEYS = ("id", "kind", "metric", "optional", "uncertain", "when", "when_mode", "units", "op", "value")


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str
    value: float


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    metric: str
    params: dict[str, Any]
    optional: bool = False
    uncertain: bool = False
    conditions: tuple[Condition, ...] = ()
    any_of: bool = False
    units: tuple[str, ...] = ()
    compound: bool = False  # conditions given as `when = [...]`

    @property
    def metrics(self) -> list[str]:
        """Every metric the step reads (its primary metric first)."""
        out = [self.metric]
        out += [c.metric for c in self.conditions if c.metric not in out]
        return out

    def applies_to(self, unit_type: str | None) -> bool:
        return not self.units or unit_type is None or unit_type in self.units


@dataclass(frozen=True)
class Outcome:
    """One step's result for every unit: the values it read, its effect on the level, whether it fired."""

    step: Step
    values: dict[str, np.ndarray]  # metric → float values (NaN = not supplied)
    effect: np.ndarray  # int16: band for `band`, level change otherwise
    applied: np.ndarray  # bool
    evaluated: np.ndarray  # bool: the step ran for the unit (inputs present, or assumed)
    not_supplied: np.ndarray  # bool: optional input missing, step skipped
    assumed: np.ndarray | None = None  # bool: matrix used its `assume` category


@dataclass
class Evaluation:
    """Levels of units and everything needed to explain them (typed arrays, one entry per unit)."""

    profile: Profile
    level: np.ndarray  # int8, 0 = unknown
    outcomes: list[Outcome]
    missing: dict[str, np.ndarray]  # required metric → bool (absent for the unit)
    index: pd.Index

    def __len__(self) -> int:
        return len(self.level)

    def take(self, idx: np.ndarray) -> Evaluation:
        """The evaluation of a subset of the units (positions `idx`)."""

        def sub(o: Outcome) -> Outcome:
            return Outcome(
                o.step,
                {m: v[idx] for m, v in o.values.items()},
                o.effect[idx],
                o.applied[idx],
                o.evaluated[idx],
                o.not_supplied[idx],
                None if o.assumed is None else o.assumed[idx],
            )

        return Evaluation(
            self.profile,
            self.level[idx],
            [sub(o) for o in self.outcomes],
            {m: v[idx] for m, v in self.missing.items()},
            self.index[idx],
        )

    def put(self, idx: np.ndarray, other: Evaluation) -> None:
        """Replace the evaluation of units `idx` by `other` (the same profile run on those units)."""
        self.level[idx] = other.level
        for mine, theirs in zip(self.outcomes, other.outcomes, strict=True):
            if mine.step.id != theirs.step.id:
                raise ValueError("put: evaluations of different steps")
            for m in mine.values:
                if not mine.values[m].flags.writeable:  # a read-only view of the metrics it was given
                    mine.values[m] = mine.values[m].copy()
                mine.values[m][idx] = theirs.values[m]
            mine.effect[idx] = theirs.effect
            mine.applied[idx] = theirs.applied
            mine.evaluated[idx] = theirs.evaluated
            mine.not_supplied[idx] = theirs.not_supplied
            if mine.assumed is not None and theirs.assumed is not None:
                mine.assumed[idx] = theirs.assumed
        for m in set(self.missing) | set(other.missing):
            if m not in self.missing:
                self.missing[m] = np.zeros(len(self.level), dtype=bool)
            self.missing[m][idx] = other.missing.get(m, False)

    def applied_bits(self) -> np.ndarray:
        """Bit i set when step i (in profile order) fired: a compact, typed form of the reasons."""
        bits = np.zeros(len(self), dtype=np.int64)
        pos = {s.id: i for i, s in enumerate(self.profile.steps)}
        for o in self.outcomes:
            bits |= np.where(o.applied, np.int64(1) << pos[o.step.id], 0)
        return bits

    def reasons(self, i: int) -> list[dict[str, Any]]:
        """The reasons of unit i (as stored in the `reasons` JSON)."""
        out: list[dict[str, Any]] = []
        for o in self.outcomes:
            if o.not_supplied[i]:
                out.append(
                    {"step": o.step.id, "not_supplied": [m for m in o.values if np.isnan(o.values[m][i])]}
                )
                continue
            if not o.evaluated[i]:
                continue
            r: dict[str, Any] = {
                "step": o.step.id,
                "metric": o.step.metric,
                "value": _py(o.values[o.step.metric][i]),
                "effect": int(o.effect[i]),
                "applied": bool(o.applied[i]),
            }
            if len(o.values) > 1:
                r["values"] = {m: _py(v[i]) for m, v in o.values.items()}
            if o.assumed is not None and o.assumed[i]:
                r["assumed"] = o.step.params.get("assume")
            if o.step.uncertain:
                r["uncertain"] = True
            out.append(r)
        gone = [m for m, miss in self.missing.items() if miss[i]]
        if gone:
            out.append({"step": "missing", "metrics": gone})
        return out

    def reasons_json(self) -> list[str]:
        """The reasons of every unit as JSON text, built column-wise (fast for 100 000s of units)."""
        n = len(self)
        if n == 0:
            return []
        parts: list[pa.Array] = []
        for o in self.outcomes:
            s = o.step
            head = '{"step":' + json.dumps(s.id) + ',"metric":' + json.dumps(s.metric) + ',"value":'
            frag = pc.binary_join_element_wise(
                pa.scalar(head),
                json_numbers(o.values[s.metric]),
                pa.scalar(',"effect":'),
                pc.cast(pa.array(o.effect.astype(np.int64)), pa.string()),
                pc.if_else(pa.array(o.applied), ',"applied":true', ',"applied":false'),
                "",
            )
            if len(o.values) > 1:
                inner = None
                for m, v in o.values.items():
                    piece = pc.binary_join_element_wise(pa.scalar(json.dumps(m) + ":"), json_numbers(v), "")
                    inner = piece if inner is None else pc.binary_join_element_wise(inner, piece, ",")
                frag = pc.binary_join_element_wise(frag, ',"values":{', inner, "}", "")
            if o.assumed is not None:
                frag = pc.if_else(
                    pa.array(o.assumed),
                    pc.binary_join_element_wise(frag, ',"assumed":' + json.dumps(s.params.get("assume")), ""),
                    frag,
                )
            if s.uncertain:
                frag = pc.binary_join_element_wise(frag, ',"uncertain":true', "")
            frag = pc.binary_join_element_wise(frag, "}", "")
            if o.not_supplied.any():
                ns = _by_pattern(
                    {m: np.isnan(v) for m, v in o.values.items()},
                    o.not_supplied,
                    lambda ms, sid=s.id: (
                        '{"step":' + json.dumps(sid) + ',"not_supplied":' + json.dumps(ms) + "}"
                    ),
                )
                frag = pc.if_else(pa.array(o.not_supplied), ns, frag)
            keep = o.evaluated | o.not_supplied
            parts.append(pc.if_else(pa.array(keep), frag, pa.nulls(n, pa.string())))
        if self.missing:
            any_missing = np.zeros(n, dtype=bool)
            for miss in self.missing.values():
                any_missing |= miss
            parts.append(
                _by_pattern(
                    self.missing,
                    any_missing,
                    lambda ms: '{"step":"missing","metrics":' + json.dumps(ms) + "}",
                )
            )
        if not parts:
            return ["[]"] * n
        joined = pc.binary_join_element_wise(*parts, ",", null_handling="skip")
        joined = pc.fill_null(joined, "")
        return pc.binary_join_element_wise(pa.scalar("["), joined, pa.scalar("]"), "").to_pylist()

    def frame(self) -> pd.DataFrame:
        """Columns `level` and `reasons` (a list of dicts per unit), indexed like the metrics."""
        return pd.DataFrame(
            {"level": self.level, "reasons": [self.reasons(i) for i in range(len(self))]}, index=self.index
        )


def _by_pattern(flags: dict[str, np.ndarray], rows: np.ndarray, text: Any) -> pa.Array:
    """Per row, `text(names whose flag is set)` where `rows`, else null: one string per distinct pattern."""
    names = list(flags)
    n = len(rows)
    code = np.zeros(n, dtype=np.int64)
    for i, m in enumerate(names):
        code |= flags[m].astype(np.int64) << i
    out = np.full(n, None, dtype=object)
    for c in np.unique(code[rows]):
        ms = [m for i, m in enumerate(names) if c >> i & 1]
        out[rows & (code == c)] = text(ms)
    return pa.array(out, pa.string())


def json_numbers(values: np.ndarray) -> pa.Array:
    """Floats as JSON numbers (integers without a decimal point, NaN as null), vectorised.

    Whole numbers go through Arrow's integer formatting (fast); only the others through its float
    formatting (shortest round-trip text of the value rounded to 6 decimals).
    """
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    rounded = np.round(np.where(finite, v, 0.0), 6)
    whole = (rounded == np.trunc(rounded)) & (np.abs(rounded) < 2**53)
    text = pc.cast(pa.array(np.where(whole, rounded, 0).astype(np.int64)), pa.string())
    frac = finite & ~whole
    if frac.any():
        text = pc.replace_with_mask(text, pa.array(frac), pc.cast(pa.array(rounded[frac]), pa.string()))
    if not finite.all():
        text = pc.if_else(pa.array(finite), text, pa.scalar("null"))
    return text


def _py(v: float) -> float | int | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, np.floating) and np.isnan(v)):
        return None
    f = float(v)
    return int(f) if f.is_integer() and abs(f) < 2**53 else round(f, 6)


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
    scheme: str = "official"  # "official" (a government scheme) or "riskmap" (riskmap's own, labelled)
    title_vi: str = ""
    base_level: int = 1
    notice_hours: int = 0  # hours of public notice before a raised level takes effect (Resolution 128)
    params: dict[str, Any] = field(default_factory=dict)  # scheme-wide settings (windows, ages, …)

    @property
    def metrics(self) -> list[str]:
        out: list[str] = []
        for s in self.steps:
            out += [m for m in s.metrics if m not in out]
        return out

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def for_province(self, province: str | None) -> Profile:
        """This profile with a province's overrides applied to its steps."""
        if not province or province not in self.overrides:
            return self
        changes = self.overrides[province]
        steps = tuple(_parse_step({**_step_dict(s), **changes.get(s.id, {})}, "override") for s in self.steps)
        return replace(self, steps=steps, version=f"{self.version}+{province}")

    def label(self, level: int, lang: str = "vi") -> str:
        if level == UNKNOWN:
            return "Chưa đủ dữ liệu" if lang == "vi" else "Unknown (not enough data)"
        return self.labels[level][lang]

    def colour(self, level: int) -> str:
        return self.labels.get(level, {}).get("colour", "#9e9e9e")

    # -- evaluation --------------------------------------------------------------------------------------

    def run(
        self,
        metrics: pd.DataFrame | Mapping[str, Any],
        unit_type: str | None = None,
        neighbours: sp.csr_matrix | None = None,
    ) -> Evaluation:
        """Evaluate every unit (row of `metrics`: a frame, or equal-length arrays by metric name);
        `neighbours` is a units × units adjacency (CSR)."""
        if isinstance(metrics, pd.DataFrame):
            index = metrics.index
            columns = metrics
        else:
            columns = metrics
            index = pd.RangeIndex(len(next(iter(metrics.values()))) if len(metrics) else 0)
        n = len(index)
        level = np.full(n, self.base_level, dtype=np.int16)
        band = level.copy()
        unknown = np.zeros(n, dtype=bool)
        missing: dict[str, np.ndarray] = {}
        outcomes: list[Outcome] = []
        for step in self.steps:
            if not step.applies_to(unit_type):
                continue
            values: dict[str, np.ndarray] = {}
            for m in step.metrics:
                if m == NEIGHBOUR_METRIC:
                    values[m] = _neighbour_max(np.clip(level, 1, self.levels), neighbours, n)
                elif m in columns:
                    values[m] = _numeric(columns[m], step if step.kind == "matrix" else None)
                elif step.optional or (step.kind == "matrix" and "assume" in step.params):
                    values[m] = np.full(n, np.nan)
                else:
                    raise KeyError(f"profile {self.id}: metric {m!r} was not computed")
            absent = np.zeros(n, dtype=bool)
            for v in values.values():
                absent |= np.isnan(v)
            assumed = None
            if step.kind == "matrix" and "assume" in step.params:
                assumed = np.isnan(values[step.metric])
                absent = absent & ~assumed
            if step.optional:
                not_supplied = absent
                evaluated = ~absent
            else:
                for m, v in values.items():
                    miss = np.isnan(v) if assumed is None else np.zeros(n, dtype=bool)
                    if miss.any():
                        missing[m] = missing.get(m, np.zeros(n, dtype=bool)) | miss
                unknown |= absent
                not_supplied = np.zeros(n, dtype=bool)
                evaluated = ~absent
            if step.kind == "band":
                v = values[step.metric]
                thresholds = np.asarray(step.params["thresholds"], dtype=float)
                side = "left" if step.params.get("compare", ">=") == ">" else "right"
                b = (np.searchsorted(thresholds, np.where(evaluated, v, -np.inf), side=side) + 1).astype(
                    np.int16
                )
                if step.params.get("combine", "set") == "max":
                    b = np.maximum(b, level)
                band = np.where(evaluated, b, band)
                level = np.where(evaluated, b, level)
                outcomes.append(Outcome(step, values, b, evaluated.copy(), evaluated, not_supplied))
                continue
            if step.kind == "matrix":
                cats = values[step.metric]
                if assumed is not None:
                    cats = np.where(assumed, float(_category_index(step, step.params["assume"])), cats)
                table = np.asarray(step.params["table"], dtype=np.int16)
                row = np.clip(level, 1, table.shape[0]) - 1
                col = np.clip(np.where(evaluated, cats, 0).astype(np.int64), 0, table.shape[1] - 1)
                new = np.where(evaluated, table[row, col], level)
                effect = (new - level).astype(np.int16)
                level = new.astype(np.int16)
                outcomes.append(
                    Outcome(step, values, effect, evaluated.copy(), evaluated, not_supplied, assumed)
                )
                continue
            cond = _condition(step, values) & evaluated
            if step.kind == "adjust":
                delta = int(step.params["delta"])
                new = np.where(cond, level + delta, level)
            elif step.kind == "no_lowering":
                new = np.where(cond, np.maximum(level, band), level)
            elif step.kind == "floor":
                new = np.where(cond, np.maximum(level, int(step.params["level"])), level)
            else:  # parse_profile refuses other kinds
                raise ValueError(f"profile {self.id}: unknown step kind {step.kind!r}")
            effect = (new - level).astype(np.int16)
            level = new.astype(np.int16)
            outcomes.append(Outcome(step, values, effect, cond, evaluated, not_supplied))
        level = np.clip(level, 1, self.levels)
        level = np.where(unknown, UNKNOWN, level).astype(np.int8)
        return Evaluation(self, level, outcomes, missing, index)

    def evaluate(
        self, metrics: pd.DataFrame, unit_type: str | None = None, neighbours: sp.csr_matrix | None = None
    ) -> pd.DataFrame:
        """Levels for units (rows of `metrics`): columns `level` (int8, 0 = unknown) and `reasons`
        (a list of step outcomes per unit: step, metric, value, effect, applied)."""
        return self.run(metrics, unit_type, neighbours).frame()

    # -- explanation -------------------------------------------------------------------------------------

    def explain(self, reasons: list[dict[str, Any]], lang: str = "vi") -> list[str]:
        """Sentences for one unit's reasons, from this profile's own texts."""
        by_id = {s.id: s for s in self.steps}
        out = []
        for r in reasons:
            sid = r.get("step")
            if sid == "missing":
                m = ", ".join(r.get("metrics", []))
                out.append(f"Thiếu dữ liệu: {m}" if lang == "vi" else f"Not enough data: {m}")
                continue
            if sid == "notice":
                out.append(_notice_text(r, lang))
                continue
            step = by_id.get(sid)
            if step is None:
                if "text" in r:  # reasons added by the scorer (insufficient population, model, …)
                    out.append(str(r["text"].get(lang, r["text"].get("en", ""))))
                continue
            p = step.params
            name = p.get(f"name_{lang}", step.id)
            if "not_supplied" in r:
                m = ", ".join(r["not_supplied"])
                out.append(
                    f"{name}: chưa có dữ liệu ({m}), không xét"
                    if lang == "vi"
                    else f"{name}: not supplied ({m}), not evaluated"
                )
                continue
            outcome = p.get(f"if_true_{lang}" if r.get("applied") else f"if_false_{lang}", "")
            template = p.get(f"reason_{lang}", "{value}")
            values = _FormatDict(r.get("values") or {step.metric: r.get("value")})
            category = ""
            if step.kind == "matrix" and r.get("value") is not None:
                cats = p.get("categories", [])
                idx = int(r["value"])
                category = cats[idx] if 0 <= idx < len(cats) else str(r["value"])
            if r.get("assumed") is not None:
                category = str(r["assumed"])
            try:
                text = template.format(
                    value=_Num(r.get("value")),
                    band=r.get("effect"),
                    effect=r.get("effect"),
                    outcome=outcome,
                    values=values,
                    category=category,
                )
            except (KeyError, ValueError, IndexError):
                text = f"{name}: {r.get('value')} ({outcome})"
            if r.get("assumed") is not None:
                text += (
                    f" (giả định '{r['assumed']}': chưa có dữ liệu)"
                    if lang == "vi"
                    else f" (assumed '{r['assumed']}': not supplied)"
                )
            if r.get("uncertain"):
                text += " (ngưỡng chưa chắc chắn)" if lang == "vi" else " (uncertain threshold)"
            out.append(text)
        return out

    def explain_bits(self, bits: int, lang: str = "vi") -> list[str]:
        """Short texts of the steps that fired, from a typed `applied_bits` value (household rows)."""
        out = []
        for i, s in enumerate(self.steps):
            if bits >> i & 1:
                out.append(s.params.get(f"flag_{lang}") or s.params.get(f"name_{lang}") or s.id)
        if not out:  # nothing fired: the level is the profile's base, and the answer says so
            base = self.base_level
            out.append(
                f"Không có yếu tố nguy cơ nào: mức nền {base}"
                if lang == "vi"
                else f"No risk factor applies: base level {base}"
            )
        return out


class _Num(float):
    """A value that formats as a number, or as "n/a" when missing (templates use {value:.1f})."""

    def __new__(cls, v: Any) -> _Num:
        obj = super().__new__(cls, float("nan") if v is None else float(v))
        obj.missing = v is None
        return obj

    def __format__(self, spec: str) -> str:
        return "n/a" if self.missing else float.__format__(self, spec)


class _FormatDict(dict):
    def __getitem__(self, key: str) -> _Num:
        return _Num(super().get(key))


def _notice_text(r: dict[str, Any], lang: str) -> str:
    when = r.get("effective_at", "")
    if lang == "vi":
        return f"Cấp {r.get('pending_level')} được công bố, có hiệu lực từ {when} (báo trước 48 giờ)"
    return f"Level {r.get('pending_level')} announced, in force from {when} (48 hours' notice)"


def _numeric(col: pd.Series | np.ndarray, matrix_step: Step | None) -> np.ndarray:
    if isinstance(col, np.ndarray) and col.dtype.kind in "biuf":
        return col.astype(float, copy=False)
    col = pd.Series(col) if not isinstance(col, pd.Series) else col
    if matrix_step is not None and not pd.api.types.is_numeric_dtype(col.dtype):
        cats = [str(c).lower() for c in matrix_step.params["categories"]]
        lookup = {c: float(i) for i, c in enumerate(cats)}
        return np.array([lookup.get(str(v).strip().lower(), np.nan) if pd.notna(v) else np.nan for v in col])
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _category_index(step: Step, category: str) -> int:
    cats = [str(c).lower() for c in step.params["categories"]]
    return cats.index(str(category).lower())


def _condition(step: Step, values: dict[str, np.ndarray]) -> np.ndarray:
    conds = step.conditions
    results = []
    for c in conds:
        v = values[c.metric]
        ok = ~np.isnan(v)
        results.append(_OPS[c.op](np.where(ok, v, 0.0), c.value) & ok)
    if not results:
        return np.zeros(len(next(iter(values.values()))), dtype=bool)
    out = results[0]
    for r in results[1:]:
        out = (out | r) if step.any_of else (out & r)
    return out


def _neighbour_max(level: np.ndarray, neighbours: sp.csr_matrix | None, n: int) -> np.ndarray:
    """Highest level among each unit's neighbours (0 without neighbours; NaN without an adjacency)."""
    if neighbours is None:
        return np.full(n, np.nan)
    adj = sp.csr_matrix(neighbours)
    if adj.shape != (n, n):
        raise ValueError(f"adjacency is {adj.shape}, expected ({n}, {n})")
    weighted = adj.multiply(level[np.newaxis, :].astype(float)).tocsr()
    return np.asarray(weighted.max(axis=1).todense()).ravel().astype(float)


# ---------------------------------------------------------------------------------------------------------
# parsing


def _step_dict(s: Step) -> dict[str, Any]:
    d: dict[str, Any] = {"id": s.id, "kind": s.kind, "metric": s.metric, **s.params}
    if s.optional:
        d["optional"] = True
    if s.uncertain:
        d["uncertain"] = True
    if s.units:
        d["units"] = list(s.units)
    if s.compound:
        d["when"] = [{"metric": c.metric, "op": c.op, "value": c.value} for c in s.conditions]
        d["when_mode"] = "any" if s.any_of else "all"
    elif s.conditions:
        d.update(op=s.conditions[0].op, value=s.conditions[0].value)
    return d


def _parse_step(s: dict[str, Any], where: str) -> Step:
    for key in ("id", "kind"):
        if key not in s:
            raise ValueError(f"{where}: a step lacks {key!r}")
    sid, kind = s["id"], s["kind"]
    if kind not in KINDS:
        raise ValueError(f"{where}: step {sid}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
    conditions: list[Condition] = []
    if "when" in s:
        for c in s["when"]:
            if not {"metric", "op", "value"} <= set(c):
                raise ValueError(f"{where}: step {sid}: each condition needs metric, op and value")
            conditions.append(_condition_of(sid, c["metric"], c["op"], c["value"], where))
    elif kind in ("adjust", "no_lowering", "floor"):
        if "metric" not in s or "op" not in s or "value" not in s:
            raise ValueError(
                f"{where}: step {sid}: needs metric, op (one of {', '.join(_OPS)}) and value, or when = [...]"
            )
        conditions.append(_condition_of(sid, s["metric"], s["op"], s["value"], where))
    metric = s.get("metric") or (conditions[0].metric if conditions else None)
    if metric is None:
        raise ValueError(f"{where}: step {sid} lacks 'metric'")
    if kind == "band":
        th = list(s.get("thresholds", []))
        if not th or sorted(th) != th:
            raise ValueError(f"{where}: step {sid}: thresholds must ascend")
        if s.get("compare", ">=") not in (">=", ">"):
            raise ValueError(f"{where}: step {sid}: compare must be '>=' or '>'")
        if s.get("combine", "set") not in ("set", "max"):
            raise ValueError(f"{where}: step {sid}: combine must be 'set' or 'max'")
    if kind == "adjust" and "delta" not in s:
        raise ValueError(f"{where}: step {sid}: adjust needs delta")
    if kind == "floor" and "level" not in s:
        raise ValueError(f"{where}: step {sid}: floor needs level")
    if kind == "matrix":
        cats, table = s.get("categories"), s.get("table")
        if not cats or not table or any(len(r) != len(cats) for r in table):
            raise ValueError(f"{where}: step {sid}: matrix needs categories and a table with one column each")
        if "assume" in s and str(s["assume"]).lower() not in [str(c).lower() for c in cats]:
            raise ValueError(f"{where}: step {sid}: assume {s['assume']!r} is not one of the categories")
    if s.get("when_mode", "all") not in ("any", "all"):
        raise ValueError(f"{where}: step {sid}: when_mode must be 'any' or 'all'")
    params = {k: v for k, v in s.items() if k not in _STEP_KEYS}
    return Step(
        id=sid,
        kind=kind,
        metric=metric,
        params=params,
        optional=bool(s.get("optional")),
        uncertain=bool(s.get("uncertain")),
        conditions=tuple(conditions),
        any_of=s.get("when_mode", "all") == "any",
        units=tuple(s.get("units", ())),
        compound="when" in s,
    )


def _condition_of(sid: str, metric: str, op: str, value: Any, where: str) -> Condition:
    if op not in _OPS:
        raise ValueError(f"{where}: step {sid}: unknown op {op!r}; known: {', '.join(_OPS)}")
    try:
        return Condition(metric, op, float(value))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: step {sid}: value {value!r} is not a number") from None


def parse_profile(data: dict[str, Any], path: Path | None = None) -> Profile:
    where = f"profile {path}" if path else "profile"
    try:
        p = data["profile"]
        steps_raw = data["steps"]
    except KeyError as exc:
        raise ValueError(f"{where}: missing [{exc.args[0]}]") from None
    for key in ("id", "version", "valid_from"):
        if key not in p:
            raise ValueError(f"{where}: [profile] lacks {key!r}")
    steps = [_parse_step(s, where) for s in steps_raw]
    ids = [s.id for s in steps]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{where}: step ids must be unique")
    if len(steps) > 62:
        raise ValueError(f"{where}: at most 62 steps (reasons are kept as a 64-bit mask for households)")
    labels = {int(k): v for k, v in data.get("labels", {}).items()}
    levels = int(p.get("levels", 4))
    if sorted(labels) != list(range(1, levels + 1)):
        raise ValueError(f"{where}: [labels] must define levels 1..{levels}")
    scheme = p.get("scheme", "official")
    if scheme not in ("official", "riskmap"):
        raise ValueError(f"{where}: scheme must be 'official' or 'riskmap'")
    valid_from = _date(p["valid_from"], where)
    return Profile(
        id=p["id"],
        version=str(p["version"]),
        title=p.get("title", p["id"]),
        title_vi=p.get("title_vi", p.get("title", p["id"])),
        source=p.get("source", ""),
        valid_from=valid_from,
        valid_to=_date(p["valid_to"], where) if p.get("valid_to") else None,
        units=tuple(p.get("units", ())),
        window_days=int(p.get("window_days", 7)),
        levels=levels,
        steps=tuple(steps),
        labels=labels,
        overrides=data.get("overrides", {}),
        path=path,
        scheme=scheme,
        base_level=int(p.get("base_level", 1)),
        notice_hours=int(p.get("notice_hours", 0)),
        params=dict(data.get("params", {})),
    )


def _date(v: Any, where: str) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        raise ValueError(f"{where}: {v!r} is not a date (YYYY-MM-DD)") from None


@lru_cache(maxsize=32)
def _load_file(path: Path, mtime: float) -> Profile:
    with open(path, "rb") as fh:
        try:
            return parse_profile(tomllib.load(fh), path)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"profile {path}: not valid TOML: {exc}") from None


def profile_files(extra_dir: Path | None = None) -> dict[str, Path]:
    from risk.score.settings import score_settings

    extra_dir = extra_dir or score_settings().profiles_dir
    files = {f.stem: f for f in sorted(PROFILES_DIR.glob("*.toml"))}
    if extra_dir and Path(extra_dir).is_dir():
        files.update({f.stem: f for f in sorted(Path(extra_dir).glob("*.toml"))})
    return files


def load_profile(profile_id: str, extra_dir: Path | None = None) -> Profile:
    files = profile_files(extra_dir)
    if profile_id not in files:
        raise KeyError(f"unknown profile {profile_id!r}; known: {', '.join(sorted(files))}")
    path = files[profile_id]
    return _load_file(path, path.stat().st_mtime)


def list_profiles(extra_dir: Path | None = None) -> list[Profile]:
    return [load_profile(pid, extra_dir) for pid in profile_files(extra_dir)]


__all__: Sequence[str] = (
    "UNKNOWN",
    "Evaluation",
    "Profile",
    "Step",
    "list_profiles",
    "load_profile",
    "parse_profile",
)
