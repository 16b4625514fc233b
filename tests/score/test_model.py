"""The risk model on the generator's epidemic: a time-split backtest against the rules alone and "cases
last week", calibration, the registry, and the model's version inside the snapshot it informs."""

from __future__ import annotations

import numpy as np
import pytest

from risk.model import list_models, load_models
from risk.model.train import split_days
from risk.score.inputs import date_of


@pytest.mark.parametrize("kind", ["household", "cell"])
def test_model_beats_rules_and_cases_last_week_on_pr_auc(backtests, kind: str) -> None:
    r = backtests[kind].result
    # Enough new cases in the test weeks for PR-AUC to mean something (the test can fail either way).
    assert r["positives"] >= 100, r["positives"]
    pr = r["pr_auc"]
    print(f"\n{kind}: test rows {r['rows']}, positives {r['positives']}, PR-AUC {pr}, Brier {r['brier']}")
    assert pr["model"] > pr["rules"], pr
    assert pr["model"] > pr["cases_last_week"], pr
    assert r["beats_baselines"] is True
    assert r["roc_auc"]["model"] > 0.5


@pytest.mark.parametrize("kind", ["household", "cell"])
def test_model_is_calibrated(backtests, kind: str) -> None:
    r = backtests[kind].result
    # Better than forecasting the test weeks' own base rate for everyone (an oracle the model lacks).
    assert r["brier"]["model"] < r["brier"]["base_rate_forecast"], r["brier"]
    table = r["reliability"]
    assert sum(row["rows"] for row in table) == r["rows"]
    mean_pred = sum(row["rows"] * row["mean_predicted"] for row in table) / r["rows"]
    assert abs(mean_pred - r["base_rate"]) < 0.5 * r["base_rate"], (mean_pred, r["base_rate"])
    # The riskiest decile holds far more new cases than the safest.
    assert table[-1]["observed"] > 3 * max(table[0]["observed"], 1e-4), table


def test_time_split_never_trains_on_what_it_tests(backtests, model_days) -> None:
    train, cal, test = split_days(model_days)
    assert max(train) + 7 <= min(cal) and max(cal) < min(test)
    bt = backtests["household"]
    assert bt.model.train_days[1] < bt.model.calibration_days[0] < bt.model.calibration_days[1] < min(test)
    assert bt.split["test"].startswith(str(date_of(min(test))))


def test_registry_round_trip_and_the_snapshot_names_the_model(scored_city) -> None:
    store, res = scored_city.store, scored_city.result
    reg = list_models(store)
    assert set(reg["kind"]) == {"household", "cell"} and set(reg["version"]) == {scored_city.model_version}
    loaded = load_models(store)
    assert loaded is not None and loaded.version == scored_city.model_version
    model = res.snapshot.stats["model"]
    assert model["version"] == scored_city.model_version and model["kinds"] == ["household", "cell"]
    assert model["sha256"] == loaded.sha256
    p = res.households["model_probability"].to_numpy(zero_copy_only=False)
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all() and p.std() > 0
    # An official level is never the model's: the MoH profile has no model step.
    wards = res.levels[res.levels["unit_type"] == "ward"]
    assert not wards["reasons"].str.contains('"MODEL"').any()
    cells = res.levels[res.levels["unit_type"] == "h3_9"]
    assert cells["metrics"].str.contains('"model_probability"').all()


def test_threaded_prediction_of_distinct_rows_equals_one_plain_call(backtests, monkeypatch) -> None:
    """Repeated feature rows are predicted once and chunks run in threads: the same probabilities as the
    estimator over every row in one call (and the repeats are found)."""
    import pandas as pd

    import risk.model.train as train

    model = backtests["household"].model
    rng = np.random.default_rng(7)
    base = rng.integers(0, 4, (500, len(model.features))).astype(np.float32)
    base[::50, 3] = np.nan  # missing values repeat too
    X = pd.DataFrame(base[rng.integers(0, len(base), 20_000)], columns=list(model.features))
    monkeypatch.setattr(train, "DISTINCT_MIN_ROWS", 1_000)
    monkeypatch.setattr(train, "PREDICT_CHUNK", 64)
    rows, first = train.distinct_rows(X.to_numpy(np.float32))
    assert first is not None and len(first) <= 500
    assert np.array_equal(X.to_numpy(np.float32)[first][rows], X.to_numpy(np.float32), equal_nan=True)
    got = model.predict_async(X, threads=2).result()
    want = model.estimator.predict_proba(X.to_numpy(np.float32))[:, 1]
    assert np.array_equal(got, want)
