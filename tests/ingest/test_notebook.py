"""notebooks/quality.ipynb runs top to bottom on the session's small linked city."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quality.ipynb"


def test_quality_notebook_runs(linked_city, monkeypatch) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit notebooks without outputs"
    )
    monkeypatch.setenv("RISKMAP_NOTEBOOK_STORE", str(linked_city.store_dir))
    monkeypatch.setenv("RISKMAP_NOTEBOOK_CITY", str(linked_city.city))
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute(env=dict(os.environ))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = " ".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "rows_in" in text and "tiem-chung-hcdc" in text
