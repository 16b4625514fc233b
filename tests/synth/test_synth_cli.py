"""`riskmap generate` runs, writes the layout and prints where it wrote."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from api.cli import app


def test_generate_help():
    result = CliRunner().invoke(app, ["generate", "--help"])
    assert result.exit_code == 0
    assert "--scale" in result.output and "--error-rate" in result.output


def test_generate_writes_the_city(tmp_path):
    out = tmp_path / "city"
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "--scale",
            "0.002",
            "--wards",
            "26740",
            "--seed",
            "9",
            "--out",
            str(out),
            "--workers",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["counts"]["persons"] > 0
    assert (out / "manifest.json").exists() and (out / "truth" / "rows.parquet").exists()
    assert (out / "reference" / "address_points.parquet").exists()


def test_generate_rejects_a_bad_scale(tmp_path):
    result = CliRunner().invoke(app, ["generate", "--scale", "3", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
