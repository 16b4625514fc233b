"""Feed files parse with their declared layouts, every row has its truth row, clean rows say the truth,
duplicates point at their originals, and the error mix is the configured one."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import numpy as np
import openpyxl
import pandas as pd
import pytest

from risk.synth import SynthConfig, generate
from risk.synth.errors import CODES


def _records(city, entry: dict) -> tuple[list[str], list[object]]:
    """(header, data rows) of a feed file; CSV/JSONL rows stay raw lines, XLSX rows are value tuples."""
    src = city.manifest["sources"][entry["path"].split("/")[1]]
    raw = (city.path / entry["path"]).read_bytes()
    if src["format"] == "xlsx":
        ws = openpyxl.load_workbook(io.BytesIO(raw), read_only=True).active
        rows = list(ws.iter_rows(values_only=True))
        return [str(v) for v in rows[0]], rows[1:]
    text = raw.decode(src["encoding"])
    eol = "\r\n" if src["line_ending"] == "CRLF" else "\n"
    assert text.endswith(eol) or not text
    lines = text[: -len(eol)].split(eol) if text else []
    if src["format"] == "csv":
        return next(csv.reader([lines[0]], delimiter=src["delimiter"])), lines[1:]
    return src["headers"], lines


@pytest.fixture(scope="module")
def rows(city) -> pd.DataFrame:
    return city.table("truth/rows.parquet")


def test_every_file_has_its_declared_header_and_a_truth_row_per_data_row(city, rows):
    per_file = rows.groupby(["source", "file"]).size()
    feeds = [f for f in city.manifest["files"] if f["path"].startswith("feeds/")]
    assert len(feeds) == len(per_file)
    assert set(city.manifest["sources"]) == set(rows["source"])
    for entry in feeds:
        _, source, name = entry["path"].split("/")
        header, data = _records(city, entry)
        assert header == city.manifest["sources"][source]["headers"], entry["path"]
        assert len(data) == entry["rows"] == per_file[(source, name)], entry["path"]
    for source, s in city.summary["feeds"]["rows"].items():
        for kind, n in s.items():
            assert ((rows["source"] == source) & (rows["kind"] == kind)).sum() == n


def test_usable_rows_parse_with_the_declared_layout(city, rows):
    truth = rows.set_index(["source", "file", "row_number"])
    for entry in [f for f in city.manifest["files"] if f["path"].startswith("feeds/")]:
        _, source, name = entry["path"].split("/")
        src = city.manifest["sources"][source]
        header, data = _records(city, entry)
        for i, row in enumerate(data, start=1):
            if "unparseable" in truth.loc[(source, name, i), "errors"]:
                continue
            if src["format"] == "csv":
                fields = next(csv.reader([row], delimiter=src["delimiter"], strict=True))
                assert len(fields) == len(header), (entry["path"], i, row)
            elif src["format"] == "jsonl":
                assert list(json.loads(row)) == header, (entry["path"], i)
            else:
                assert len(row) <= len(header)


def test_unparseable_rows_are_broken(city, rows):
    bad = rows[rows["errors"].str.contains("unparseable")]
    assert len(bad) and bad["bad"].all() and (bad["bad_reason"] == "unparseable").all()
    for _, r in bad.iterrows():
        entry = next(f for f in city.manifest["files"] if f["path"] == f"feeds/{r['source']}/{r['file']}")
        src = city.manifest["sources"][r["source"]]
        header, data = _records(city, entry)
        row = data[r["row_number"] - 1]
        if src["format"] == "csv":
            try:
                fields = next(csv.reader([row], delimiter=src["delimiter"], strict=True))
                assert len(fields) != len(header) or fields == header
            except csv.Error:
                pass
        elif src["format"] == "jsonl":
            with pytest.raises(ValueError):
                obj = json.loads(row)
                if not isinstance(obj, dict) or list(obj) != header:
                    raise ValueError


def _clean_values(city, rows) -> pd.DataFrame:
    """The rendered name, ID and address of error-free rows beside the truth."""
    persons = city.table("truth/persons.parquet").set_index("person_id")
    points = city.table("reference/address_points.parquet").set_index("point_id")
    out = []
    for entry in [f for f in city.manifest["files"] if f["path"].startswith("feeds/")]:
        _, source, name = entry["path"].split("/")
        src = city.manifest["sources"][source]
        header, data = _records(city, entry)
        t = rows[(rows["source"] == source) & (rows["file"] == name)].set_index("row_number")
        for i, row in enumerate(data, start=1):
            if t.loc[i, "errors"]:
                continue
            if src["format"] == "csv":
                values = next(csv.reader([row], delimiter=src["delimiter"]))
            elif src["format"] == "jsonl":
                values = list(json.loads(row).values())
            else:
                values = ["" if v is None else v for v in row] + [""] * (len(header) - len(row))
            by_field = {src["fields"][h]: v for h, v in zip(header, values, strict=True)}
            p = persons.loc[t.loc[i, "person_id"]]
            out.append(
                {
                    "source": source,
                    "name": by_field["name"],
                    "true_name": p["full_name"],
                    "id": str(by_field["id"]),
                    "true_id": p["cccd"] or p["passport"] or p["cmnd"],
                    "address": by_field["address"],
                    "true_address": points.loc[t.loc[i, "point_id"], "address"],
                    "dob": by_field["dob"],
                    "birth": p["birth_date"],
                    "style": src["birth_date_style"],
                }
            )
    return pd.DataFrame(out)


def test_clean_rows_carry_the_true_values(city, rows):
    df = _clean_values(city, rows)
    assert len(df) > 100
    assert (df["name"] == df["true_name"]).all()
    assert (df["id"] == df["true_id"]).all()
    assert (df["address"] == df["true_address"]).all()
    fmt = {"dd/mm/yyyy": "%d/%m/%Y", "d/m/yyyy": "%-d/%-m/%Y", "yyyy-mm-dd": "%Y-%m-%d"}
    for _, r in df.iterrows():
        birth = pd.Timestamp(r["birth"])
        if isinstance(r["dob"], dt.datetime):
            assert r["dob"] == birth.to_pydatetime()
        elif r["style"] == "excel":
            assert r["dob"] == birth.strftime("%d/%m/%Y")
        else:
            assert r["dob"] == birth.strftime(fmt[r["style"]]), r.to_dict()


def test_duplicates_point_at_the_same_event(rows):
    dup = rows[rows["duplicate_of"] != ""]
    assert len(dup)
    key = rows.assign(
        ref=rows["source"] + "/" + rows["file"] + "/" + rows["row_number"].astype(str)
    ).set_index("ref")
    orig = key.loc[dup["duplicate_of"]]
    assert (orig["event_id"].to_numpy() == dup["event_id"].to_numpy()).all()
    assert (orig["person_id"].to_numpy() == dup["person_id"].to_numpy()).all()
    cross = dup[dup["errors"].str.contains("duplicate_cross_site")]
    assert len(cross) and (cross["kind"] == "dose").all()
    assert (orig.loc[cross["duplicate_of"], "source"].to_numpy() != cross["source"].to_numpy()).all()
    exact = dup[dup["errors"].str.contains("duplicate_exact")]
    assert (orig.loc[exact["duplicate_of"], "file"].to_numpy() == exact["file"].to_numpy()).all()


def test_bad_rows_have_one_reason_among_their_errors(rows):
    bad = rows[rows["bad"]]
    assert len(bad)
    assert all(r in e.split(";") for r, e in zip(bad["bad_reason"], bad["errors"], strict=True))
    assert (rows.loc[~rows["bad"], "bad_reason"] == "").all()
    assert set(rows["errors"].str.split(";").explode().dropna()) - {""} <= set(CODES)


def test_error_shares_match_the_configured_mix(city, rows):
    """Kinds every row of a source can carry: observed share within 4 binomial sigmas of the configured."""
    conf = city.summary["feeds"]["configured_share"]
    per_source = rows.groupby("source")
    checked = 0
    for source, grp in per_source:
        n = len(grp)
        for code in ("addr_abbrev", "name_case", "vaccine_alias", "dose_kind_alias", "date_format"):
            p = conf[source].get(code)
            if p is None:
                continue
            # exact and cross-site copies repeat or re-draw errors: count the rows drawn for this file only
            drawn = grp[~grp["errors"].str.contains("duplicate_exact")]
            observed = drawn["errors"].str.split(";").apply(lambda e, c=code: c in e).mean()
            sigma = np.sqrt(p * (1 - p) / len(drawn))
            assert abs(observed - p) <= 4 * sigma + 0.005, (source, code, observed, p, n)
            checked += 1
    assert checked >= 10
    tyt = rows[rows["source"] == "tiem-chung-tyt"]
    assert tyt["errors"].str.contains("dob_year_only").mean() > 0.25


def test_error_rate_zero_gives_clean_feeds(tmp_path):
    out = generate(
        SynthConfig(seed=5, scale=0.002, wards="26740,25747", out=tmp_path / "clean", error_rate=0.0)
    )
    rows = pd.read_parquet(out / "truth" / "rows.parquet")
    assert len(rows) > 100
    assert (rows["errors"] == "").all() and not rows["bad"].any() and (rows["duplicate_of"] == "").all()
