"""benchmarks/load.py, briefly: a real server held at a fixed rate while rescoring and an ingest run;
zero errors and no answer mixing two snapshots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests import minicity
from tests.trust.trustcity import TrustCity

REPO = Path(__file__).resolve().parents[2]


def test_load_benchmark_briefly(trust_city: TrustCity, tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "mini-cases.toml").write_text(minicity.CASES, encoding="utf-8")
    cases = pd.read_csv(trust_city.city.feeds["mini-cases"], dtype=str)
    cases["Ngày báo cáo"] = "22/10/2021"  # a new week's file: a new batch
    feed = tmp_path / "feeds" / "mini-cases"
    feed.mkdir(parents=True)
    cases.to_csv(feed / "2021-W43.csv", index=False)
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "load.py"),
            "--store",
            str(trust_city.store.path),
            "--feeds",
            str(feed.parent),
            "--sources",
            str(sources),
            "--rate",
            "20",
            "--seconds",
            "5",
            "--baseline-seconds",
            "1.5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["loaded"]["errors"] == figures["quiet"]["errors"] == 0
    assert figures["mixed_answers"] == 0 and figures["rescorings"] >= 1 and figures["rescoring_failures"] == 0
    assert figures["ingest_exit_codes"] == [0]
    assert figures["loaded"]["requests"] == 100  # the rate held is a figure: the machine is shared
    assert "answers mixing snapshots: 0" in done.stdout
