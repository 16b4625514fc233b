"""Training, calibration and a time-split backtest of the risk model.

Weekly as-of dates give one row per household (or cell) and week: features known on that day, label =
a case in the following 7 days. A gradient-boosted tree model (scikit-learn's
HistGradientBoostingClassifier) is fitted on the earliest weeks, calibrated with isotonic regression on
the weeks after them (never on the weeks it was fitted on), and tested on later weeks it has never seen.
The backtest compares its ranking with two baselines on the same test rows: the rules alone (riskmap's
household and cell levels, without the model) and "cases last week". PR-AUC (average precision) is the
headline, since new cases are rare; calibration is reported as the Brier score and a reliability table.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from risk.model.features import (
    CELL_FEATURES,
    HOUSEHOLD_FEATURES,
    cell_features,
    household_features,
    new_case_cells,
    new_case_households,
)
from risk.score.compute import CELL_TYPES, Geography, ScoreConfig, ScoreRun
from risk.score.inputs import ScoreInputs, date_of, day_of

KINDS = ("household", "cell")
# Rows per prediction call. Each tree walks every row of its chunk, so a chunk whose features stay in
# the CPU's cache across all the trees (16,384 rows × 31 features as float64: 4 MB) predicts ~35 % faster
# than 131,072 rows; much smaller chunks lose it again to per-call overhead.
PREDICT_CHUNK = 16_384
# Distinct rows are predicted once when a matrix has this many rows and at most this share is distinct.
DISTINCT_MIN_ROWS = 100_000
DISTINCT_MAX_SHARE = 0.8


def score_threads() -> int:
    from risk.score.settings import score_settings

    return score_settings().threads


def model_threads() -> int:
    """Threads for fitting and applying models (RISKMAP_SCORE_MODEL_THREADS; OpenMP threads spin and
    slow everything down on a machine that is already busy, so the default is one)."""
    from risk.score.settings import score_settings

    return score_settings().model_threads


# Small trees: as good as 250 deep trees on the backtest (PR-AUC within 0.003) and 5× cheaper to apply
# to 4.5 million households in every full run.
PARAMS = {
    "max_iter": 60,
    "learning_rate": 0.15,
    "max_depth": 4,
    "max_leaf_nodes": 16,
    "min_samples_leaf": 80,
    "l2_regularization": 1.0,
    "early_stopping": False,
    "random_state": 0,
}
# Training keeps every positive row and this share of the negative ones (isotonic calibration on the
# untouched calibration weeks restores the probabilities): 4× less data to fit, no loss of ranking.
NEGATIVE_SHARE = 0.25
MIN_ROWS_TO_SUBSAMPLE = 100_000


@dataclass
class Dataset:
    """Rows of one kind over several weeks: features, label, week, and the two baselines' scores."""

    kind: str
    X: pd.DataFrame
    y: np.ndarray
    week: np.ndarray  # as-of day of each row
    rules: np.ndarray  # level by riskmap's rules (no model)
    last_week: np.ndarray  # "cases last week" score

    def take(self, mask: np.ndarray) -> Dataset:
        return Dataset(
            self.kind,
            self.X.iloc[mask].reset_index(drop=True),
            self.y[mask],
            self.week[mask],
            self.rules[mask],
            self.last_week[mask],
        )

    @staticmethod
    def concat(parts: list[Dataset]) -> Dataset:
        return Dataset(
            parts[0].kind,
            pd.concat([p.X for p in parts], ignore_index=True),
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.week for p in parts]),
            np.concatenate([p.rules for p in parts]),
            np.concatenate([p.last_week for p in parts]),
        )


def weekly_days(start: dt.date, end: dt.date, every_days: int = 7) -> list[int]:
    return [day_of(d) for d in pd.date_range(start, end, freq=f"{every_days}D").date]


def collect(
    inputs: ScoreInputs,
    geo: Geography,
    config: ScoreConfig,
    days: list[int],
    *,
    sample_households: int | None = None,
    seed: int = 0,
    cell_types: tuple[str, ...] = CELL_TYPES,
    progress: Any = None,
) -> dict[str, Dataset]:
    """Household and cell rows for each as-of day (a fixed random sample of households if asked)."""
    config = replace(config, models=None, unit_types=("ward", "group", *cell_types, "household"))
    rng = np.random.default_rng(seed)
    n = inputs.n_households
    sample = None
    if sample_households and sample_households < n:
        sample = np.sort(rng.choice(n, size=sample_households, replace=False))
    shared: dict[Any, Any] = {}
    out: dict[str, list[Dataset]] = {"household": [], "cell": []}
    for day in days:
        run = ScoreRun(inputs, day, config, geo, shared)
        X = household_features(run)
        y = new_case_households(inputs, day)
        rules = run.household_evaluation.level.astype(float)
        last = X["hh_cases_7d"].to_numpy() * 1e4 + X["g_cases_7d"].to_numpy()
        ds = Dataset("household", X, y, np.full(n, day), rules, last)
        out["household"].append(ds.take(sample) if sample is not None else ds)
        for t in cell_types:
            cx = cell_features(run, t)
            cy = new_case_cells(run, t)
            crules = run.cells(t).evaluation.level.astype(float)
            out["cell"].append(
                Dataset("cell", cx, cy, np.full(len(cx), day), crules, cx["cases_7d"].to_numpy())
            )
        if progress:
            progress(date_of(day))
    return {k: Dataset.concat(v) for k, v in out.items() if v}


def distinct_rows(values: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(row → distinct row, first row of each distinct row) of a float32 feature matrix, or (None, None)
    when it is small or has few repeats.

    Households of one neighbourhood share every area feature and most have one of a few hundred
    make-ups, so many rows repeat: the model runs once per distinct row. Rows are matched by a 64-bit
    hash of their bytes, then compared in full (a collision, however unlikely, only turns this off)."""
    n = len(values)
    if n < DISTINCT_MIN_ROWS or values.ndim != 2:
        return None, None
    bits = np.ascontiguousarray(values).view(np.uint32)
    # a hash of each row's bytes: their dot product with fixed random weights (exact integers as float64,
    # one BLAS call per chunk of rows)
    weights = np.random.default_rng(0).random(bits.shape[1]) + 1.0
    h = np.empty(n, dtype=np.float64)
    step = 262_144
    for a in range(0, n, step):
        h[a : a + step] = bits[a : a + step].astype(np.float64) @ weights
    codes, uniques = pd.factorize(h)
    if len(uniques) > DISTINCT_MAX_SHARE * n:
        return None, None
    # factorize numbers values in order of appearance: a row is first of its kind where the code rises
    seen = np.maximum.accumulate(codes)
    first = np.flatnonzero(np.r_[True, seen[1:] > seen[:-1]])
    for a in range(0, n, step):  # the same bytes, not only the same hash (NaN == NaN here)
        if not np.array_equal(bits[a : a + step], bits[first[codes[a : a + step]]]):
            return None, None
    return codes, first


@dataclass
class FittedModel:
    """A calibrated classifier for one kind, with what it was trained on."""

    kind: str
    estimator: Any  # CalibratedClassifierCV over a frozen HistGradientBoostingClassifier
    features: tuple[str, ...]
    train_days: tuple[int, int]
    calibration_days: tuple[int, int]
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_async(X, threads=1).result()

    def predict_async(self, X: pd.DataFrame, threads: int | None = None) -> Future[np.ndarray]:
        """Probabilities computed in background threads (`threads`, default RISKMAP_SCORE_THREADS).

        Distinct rows only (`distinct_rows`), cut into chunks of `PREDICT_CHUNK`: each chunk's trees run
        in compiled code without the GIL, so chunks run side by side and beside the caller's own work
        (4.2 M households: ~13 s of CPU without repeats). Rows are independent: the result is the same
        as in one call over every row.
        """
        cols = list(self.features)
        values = (
            X.to_numpy(dtype=np.float32) if list(X.columns) == cols else X[cols].to_numpy(dtype=np.float32)
        )
        if threads is None:
            threads = score_threads()
        driver = ThreadPoolExecutor(max_workers=1)
        done = driver.submit(self._predict_all, values, threads)
        driver.shutdown(wait=False)
        return done

    def _predict_all(self, values: np.ndarray, threads: int) -> np.ndarray:
        rows, first = distinct_rows(values)
        if first is not None:
            values = values[first]
        n = len(values)
        out = np.empty(n, dtype=np.float64)
        if n == 0:
            return out

        def part(a: int, b: int) -> None:
            with threadpool_limits(limits=model_threads(), user_api="openmp"):
                out[a:b] = self.estimator.predict_proba(values[a:b])[:, 1]

        bounds = [*range(0, n, PREDICT_CHUNK), n]
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(bounds) - 1))) as pool:
            for f in [pool.submit(part, a, b) for a, b in itertools.pairwise(bounds)]:
                f.result()
        return out if rows is None else out[rows]


def fit(train: Dataset, calibration: Dataset, params: dict[str, Any] | None = None) -> FittedModel:
    """Fit on `train`, calibrate (isotonic) on `calibration` (later weeks)."""
    p = {**PARAMS, **(params or {})}
    if train.y.sum() == 0 or calibration.y.sum() == 0:
        raise ValueError(
            f"{train.kind} model: no new cases in the {'training' if train.y.sum() == 0 else 'calibration'} "
            "weeks; choose dates inside the epidemic"
        )
    features = tuple(train.X.columns)
    if len(train.y) > MIN_ROWS_TO_SUBSAMPLE:
        rng = np.random.default_rng(p.get("random_state", 0))
        train = train.take(train.y | (rng.random(len(train.y)) < NEGATIVE_SHARE))
    with threadpool_limits(limits=model_threads()):
        xt = train.X[list(features)].to_numpy(dtype=np.float32)
        xc = calibration.X[list(features)].to_numpy(dtype=np.float32)
        clf = HistGradientBoostingClassifier(**p).fit(xt, train.y)
        cal = CalibratedClassifierCV(FrozenEstimator(clf), method="isotonic").fit(xc, calibration.y)
    return FittedModel(
        train.kind,
        cal,
        features,
        (int(train.week.min()), int(train.week.max())),
        (int(calibration.week.min()), int(calibration.week.max())),
        p,
    )


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Reliability table: rows grouped by predicted probability (deciles of the predictions)."""
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, bins)
    rows = []
    for i, g in enumerate(groups):
        if not len(g):
            continue
        rows.append(
            {
                "bin": i + 1,
                "rows": len(g),
                "mean_predicted": float(p[g].mean()),
                "observed": float(y[g].mean()),
                "p_min": float(p[g].min()),
                "p_max": float(p[g].max()),
            }
        )
    return pd.DataFrame(rows)


def evaluate(model: FittedModel, test: Dataset) -> dict[str, Any]:
    """PR-AUC of the model and both baselines, ROC-AUC, Brier score, reliability table."""
    p = model.predict(test.X)
    y = test.y.astype(bool)
    out: dict[str, Any] = {
        "rows": len(y),
        "positives": int(y.sum()),
        "base_rate": float(y.mean()),
        "pr_auc": {
            "model": float(average_precision_score(y, p)),
            "rules": float(average_precision_score(y, test.rules)),
            "cases_last_week": float(average_precision_score(y, test.last_week)),
        },
        "roc_auc": {
            "model": float(roc_auc_score(y, p)),
            "rules": float(roc_auc_score(y, test.rules)),
            "cases_last_week": float(roc_auc_score(y, test.last_week)),
        },
        "brier": {
            "model": float(brier_score_loss(y, p)),
            "base_rate_forecast": float(brier_score_loss(y, np.full(len(y), y.mean()))),
        },
        "reliability": reliability(y, p).to_dict(orient="records"),
    }
    pr = out["pr_auc"]
    out["beats_baselines"] = pr["model"] > pr["rules"] and pr["model"] > pr["cases_last_week"]
    return out


@dataclass
class Backtest:
    kind: str
    model: FittedModel
    result: dict[str, Any]
    split: dict[str, str]
    seconds: float

    def table(self) -> pd.DataFrame:
        r = self.result
        return pd.DataFrame(
            {
                "PR-AUC": r["pr_auc"],
                "ROC-AUC": r["roc_auc"],
            }
        )


def split_days(
    days: list[int], calibration_weeks: int = 2, test_weeks: int | None = None
) -> tuple[list[int], list[int], list[int]]:
    """Time split: the earliest weeks train, the next `calibration_weeks` calibrate, the rest test.

    Labels look 7 days ahead, so a week is used only once its label window has closed before the next
    part begins (training labels never overlap calibration or test features' future).
    """
    if test_weeks is None:
        test_weeks = max(2, len(days) // 3)
    if len(days) < calibration_weeks + test_weeks + 2:
        raise ValueError(
            f"a backtest needs at least {calibration_weeks + test_weeks + 2} weekly dates, got {len(days)}"
        )
    test = days[-test_weeks:]
    cal = days[-test_weeks - calibration_weeks : -test_weeks]
    train = [d for d in days[: -test_weeks - calibration_weeks] if d + 7 <= cal[0]]
    return train, cal, test


def backtest(
    data: dict[str, Dataset], days: list[int], *, calibration_weeks: int = 2, test_weeks: int | None = None
) -> dict[str, Backtest]:
    """Fit on the early weeks, calibrate on the next, evaluate on the last: per kind."""
    train_d, cal_d, test_d = split_days(days, calibration_weeks, test_weeks)
    out = {}
    for kind, ds in data.items():
        t0 = time.perf_counter()
        tr = ds.take(np.isin(ds.week, train_d))
        ca = ds.take(np.isin(ds.week, cal_d))
        te = ds.take(np.isin(ds.week, test_d))
        model = fit(tr, ca)
        res = evaluate(model, te)
        split = {
            "train": f"{date_of(min(train_d))} … {date_of(max(train_d))}",
            "calibrate": f"{date_of(min(cal_d))} … {date_of(max(cal_d))}",
            "test": f"{date_of(min(test_d))} … {date_of(max(test_d))}",
        }
        model.metrics = {"backtest": {k: v for k, v in res.items() if k != "reliability"}, "split": split}
        out[kind] = Backtest(kind, model, res, split, time.perf_counter() - t0)
    return out


def train_final(
    data: dict[str, Dataset], days: list[int], *, calibration_weeks: int = 2
) -> dict[str, FittedModel]:
    """Models for serving: fitted on every week but the last `calibration_weeks`, calibrated on those."""
    cal_d = days[-calibration_weeks:]
    train_d = [d for d in days[:-calibration_weeks] if d + 7 <= cal_d[0]]
    out = {}
    for kind, ds in data.items():
        out[kind] = fit(ds.take(np.isin(ds.week, train_d)), ds.take(np.isin(ds.week, cal_d)))
    return out


FEATURES = {"household": HOUSEHOLD_FEATURES, "cell": CELL_FEATURES}
