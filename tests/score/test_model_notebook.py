"""notebooks/model.ipynb (the model's backtest and calibration) runs top to bottom on the session's small
scoring city and shows the ranking, the Brier scores, the reliability table and the feature importances."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "model.ipynb"


def test_model_notebook_runs(tiny_city, monkeypatch) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit notebooks without outputs"
    )
    monkeypatch.setenv("RISKMAP_NOTEBOOK_STORE", str(tiny_city.store_dir))  # read only
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute(env=dict(os.environ))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = " ".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    for shown in ("PR-AUC", "cases_last_week", "base_rate_forecast", "mean_predicted", "PR-AUC drop"):
        assert shown in text, f"the notebook no longer shows {shown}"
    assert "model beats both baselines: True" in text
    assert any("image/png" in o.get("data", {}) for o in outputs), "the reliability diagram is missing"
