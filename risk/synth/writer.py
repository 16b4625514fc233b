"""Writing the city: reference registry, ground truth, the truth row of every feed row, summary, manifest.

Parquet tables are built straight from Arrow arrays (no pandas metadata), with fixed compression and
row-group sizes, so the same data give the same bytes. JSON is written with sorted keys. Nothing
records wall-clock time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from risk.synth import errors as er
from risk.synth import names as nm
from risk.synth import render as rd
from risk.synth.epidemic import (
    FOUND_IN,
    ISOLATION,
    OUTCOMES,
    QUARANTINE_WHERE,
    SOURCES,
    TEST_REASONS,
    TEST_TYPES,
    Epidemic,
)
from risk.synth.feeds import DOSE_SOURCES, SOURCE, TRUTH_ROWS_SCHEMA, applicable
from risk.synth.population import EPOCH, RELATIONS, City
from risk.synth.sites import SiteTable
from risk.synth.vaccination import DOSE_KINDS, SITE_KINDS, VACCINES, Doses

ROW_GROUP = 1_000_000


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def write_parquet(table: pa.Table, path: Path) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP, write_statistics=True)
    return {"rows": table.num_rows}


def _dates(days: np.ndarray) -> pa.Array:
    days = np.asarray(days, dtype=np.int64)
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=days < 0).cast(pa.date32())


def _labels(codes: np.ndarray, labels: tuple[str, ...] | list[str]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(codes, dtype=np.int32)), pa.array(list(labels), type=pa.string())
    ).cast(pa.string())


def group_ids(city: City) -> pa.Array:
    g = city.groups
    codes = city.geo.wards["code"].to_numpy().astype(object)[g.ward]
    return rd.join(pa.array(codes, type=pa.string()), "-KP", rd.pad(g.kp, 2), "-T", rd.pad(g.to, 2))


def khu_pho_labels(city: City) -> pa.Array:
    g = city.groups
    commune = (city.geo.wards["unit_type"] == "xã").to_numpy()[g.ward]
    return rd.join(
        pa.array(np.where(commune, "Ấp", "Khu phố").astype(object), type=pa.string()), rd.s(g.kp), sep=" "
    )


def reference_tables(
    city: City, house: pa.Array, alley: pa.Array, addresses: pa.Array
) -> dict[str, pa.Table]:
    pts, g = city.points, city.groups
    wards = city.geo.wards["code"].to_numpy().astype(object)
    old_codes = np.concatenate(
        [city.geo.old.table["code"].to_numpy().astype(object), np.array([""], dtype=object)]
    )
    gid = group_ids(city)
    kp = khu_pho_labels(city)
    commune = (city.geo.wards["unit_type"] == "xã").to_numpy()[g.ward]
    points = pa.table(
        {
            "point_id": pa.array(np.arange(1, len(pts.lon) + 1, dtype=np.int64)),
            "ward_code": pa.array(wards[pts.ward], type=pa.string()),
            "group_id": gid.take(pa.array(pts.group)),
            "khu_pho": kp.take(pa.array(pts.group)),
            "house_number": house,
            "alley": alley,
            "street": pa.array(np.asarray(city.streets, dtype=object)[pts.street], type=pa.string()),
            "address": addresses,
            "lon": pa.array(pts.lon),
            "lat": pa.array(pts.lat),
            "old_ward_code": pa.array(
                old_codes[np.where(pts.old >= 0, pts.old, len(old_codes) - 1)], type=pa.string()
            ),
        }
    )
    groups = pa.table(
        {
            "group_id": gid,
            "ward_code": pa.array(wards[g.ward], type=pa.string()),
            "khu_pho": kp,
            "name": rd.join(rd.join("Tổ ", rd.s(g.to)), kp, sep=", "),
            "kind": pa.array(np.where(commune, "to", "to_dan_pho").astype(object), type=pa.string()),
            "households": pa.array(g.households.astype(np.int64)),
            "geometry": pa.array(shapely.to_wkb(g.geometry, output_dimension=2), type=pa.binary()),
        }
    )
    return {"reference/address_points.parquet": points, "reference/groups.parquet": groups}


def truth_tables(
    city: City, sites: SiteTable, doses: Doses, epi: Epidemic, names: rd.NameVocab
) -> dict[str, pa.Table]:
    p, hh, pts = city.persons, city.households, city.points
    n = len(p)
    wards = city.geo.wards["code"].to_numpy().astype(object)
    old_codes = np.concatenate(
        [city.geo.old.table["code"].to_numpy().astype(object), np.array([""], dtype=object)]
    )
    middle = rd.join(
        names.middle[0].take(pa.array(p.middle1.astype(np.int64))),
        names.middle[0].take(pa.array(p.middle2.astype(np.int64))),
        sep=" ",
    )
    nationality = np.array([f[0] for f in nm.FOREIGN] + ["Việt Nam"], dtype=object)
    prefixes = np.array([f[1] for f in nm.FOREIGN] + [""], dtype=object)
    nat = np.where(p.nationality >= 0, p.nationality, len(nm.FOREIGN))
    pp_digits = np.where(p.nationality == 3, p.passport % 10**7, p.passport)
    passport = pc.if_else(
        pa.array(p.passport > 0), rd.join(pa.array(prefixes[nat], type=pa.string()), rd.s(pp_digits)), ""
    )
    persons = pa.table(
        {
            "person_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "household_id": pa.array(p.household.astype(np.int64) + 1),
            "family_name": names.family[0].take(pa.array(p.family.astype(np.int64))),
            "middle_name": pc.fill_null(middle, ""),
            "given_name": names.given[0].take(pa.array(p.given.astype(np.int64))),
            "full_name": rd.full_names(names, p.family, p.middle1, p.middle2, p.given),
            "sex": _labels(p.female.astype(np.int32), ["M", "F"]),
            "birth_date": _dates(p.birth),
            "cccd": pc.if_else(pa.array(p.cccd > 0), rd.pad(p.cccd, 12), ""),
            "cmnd": pc.if_else(pa.array(p.cmnd > 0), rd.pad(p.cmnd, 9), ""),
            "passport": passport,
            "nationality": pa.array(nationality[nat], type=pa.string()),
            "phone": pc.if_else(pa.array(p.phone > 0), rd.join("0", rd.pad(p.phone, 9)), ""),
            "comorbid": pa.array(p.comorbid),
            "relation": _labels((p.relation != 0).astype(np.int32), ["head", "member"]),
            "relation_to_head": _labels(p.relation.astype(np.int32), RELATIONS),
            "age": pa.array(p.age.astype(np.int16)),
        }
    )
    g_ids = group_ids(city)
    h = np.arange(len(hh.size))
    households = pa.table(
        {
            "household_id": pa.array(h + 1, type=pa.int64()),
            "household_ref": rd.join(
                "HK-", pa.array(wards[pts.ward], type=pa.string()), "-", rd.pad(hh.ref, 6)
            ),
            "point_id": pa.array(h + 1, type=pa.int64()),
            "ward_code": pa.array(wards[pts.ward], type=pa.string()),
            "group_id": g_ids.take(pa.array(pts.group)),
            "old_ward_code": pa.array(
                old_codes[np.where(pts.old >= 0, pts.old, len(old_codes) - 1)], type=pa.string()
            ),
            "head_person_id": pa.array(hh.first + 1, type=pa.int64()),
            "size": pa.array(hh.size.astype(np.int16)),
            "registered": pa.array(hh.registered),
            "foreign": pa.array(hh.foreign),
        }
    )
    inf = epi.infections
    c = epi.cases
    case_of_person = np.full(n, -1, dtype=np.int64)
    case_of_person[c.person] = np.arange(len(c.person)) + 1
    infections = pa.table(
        {
            "person_id": pa.array(inf.person + 1, type=pa.int64()),
            "infected_on": _dates(inf.infected_on),
            "infectious_from": _dates(inf.infectious_from),
            "recovered_on": _dates(inf.recovered_on),
            "detected": pa.array(inf.detected_on >= 0),
            "detected_on": _dates(inf.detected_on),
            "case_id": pa.array(
                case_of_person[inf.person], type=pa.int64(), mask=case_of_person[inf.person] < 0
            ),
            "died": pa.array(inf.died_on >= 0),
            "died_on": _dates(inf.died_on),
            "source": _labels(inf.source.astype(np.int32), SOURCES),
        }
    )
    site_names = pa.array(sites.sites.names, type=pa.string())
    dose_tbl = pa.table(
        {
            "dose_id": pa.array(np.arange(1, len(doses) + 1, dtype=np.int64)),
            "person_id": pa.array(doses.person.astype(np.int64) + 1),
            "dose_date": _dates(doses.date),
            "vaccine": _labels(doses.vaccine.astype(np.int32), VACCINES),
            "dose_kind": _labels(doses.kind.astype(np.int32), DOSE_KINDS),
            "site": site_names.take(pa.array(doses.site.astype(np.int64))),
            "site_kind": _labels(doses.site_kind.astype(np.int32), SITE_KINDS),
            "reported_by": _labels(doses.site_kind.astype(np.int32), DOSE_SOURCES),
        }
    )
    t = epi.tests
    tests = pa.table(
        {
            "test_id": pa.array(np.arange(1, len(t.person) + 1, dtype=np.int64)),
            "person_id": pa.array(t.person + 1, type=pa.int64()),
            "sample_date": _dates(t.date),
            "test_type": _labels(t.test_type.astype(np.int32), TEST_TYPES),
            "pooled": pa.array(t.pooled),
            "result": _labels(t.result.astype(np.int32), ["negative", "positive"]),
            "site": site_names.take(pa.array(t.site.astype(np.int64))),
            "reason": _labels(t.reason.astype(np.int32), TEST_REASONS),
        }
    )
    cases = pa.table(
        {
            "case_id": pa.array(np.arange(1, len(c.person) + 1, dtype=np.int64)),
            "person_id": pa.array(c.person + 1, type=pa.int64()),
            "report_date": _dates(c.report),
            "found_in": _labels(c.found_in.astype(np.int32), FOUND_IN),
            "isolation": _labels(c.isolation.astype(np.int32), ISOLATION),
            "outcome": _labels(c.outcome.astype(np.int32), OUTCOMES),
            "ward_code": pa.array(wards[pts.ward[p.household[c.person]]], type=pa.string()),
        }
    )
    k = epi.contacts
    contacts = pa.table(
        {
            "contact_id": pa.array(np.arange(1, len(k.person) + 1, dtype=np.int64)),
            "person_id": pa.array(k.person + 1, type=pa.int64()),
            "case_id": pa.array(k.case + 1, type=pa.int64()),
            "exposure_date": _dates(k.exposure),
            "quarantine_start": _dates(k.quarantine_start),
            "quarantine_where": _labels(k.quarantine_where.astype(np.int32), QUARANTINE_WHERE),
        }
    )
    return {
        "truth/persons.parquet": persons,
        "truth/households.parquet": households,
        "truth/infections.parquet": infections,
        "truth/doses.parquet": dose_tbl,
        "truth/tests.parquet": tests,
        "truth/cases.parquet": cases,
        "truth/contacts.parquet": contacts,
    }


class RowsSink:
    """Streams truth rows to `truth/rows.parquet` and keeps the counts the summary needs."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.writer = pq.ParquetWriter(path, TRUTH_ROWS_SCHEMA, compression="zstd", write_statistics=True)
        self.rows = 0
        self.with_errors = 0
        self.by_source: dict[str, dict] = {}
        self.buffer: list[pa.Table] = []
        self.buffered = 0

    def add(self, rows: dict[str, object], table: pa.Table) -> None:
        src, kind = rows["source"], rows["kind"]
        mask = rows["mask"]
        n = len(mask)
        s = self.by_source.setdefault(
            src, {"kind": kind, "rows": 0, "bad": {}, "errors": {c: 0 for c in er.CODES}}
        )
        s["rows"] += n
        for i, code in enumerate(er.CODES):
            s["errors"][code] += int(((mask >> i) & 1).sum())
        reasons, counts = np.unique(rows["bad_reason"][rows["bad"]].astype(str), return_counts=True)
        for r, k in zip(reasons, counts, strict=True):
            s["bad"][r] = s["bad"].get(r, 0) + int(k)
        self.rows += n
        self.with_errors += int((mask != 0).sum())
        self.buffer.append(table)
        self.buffered += n
        if self.buffered >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.writer.write_table(pa.concat_tables(self.buffer), row_group_size=ROW_GROUP)
            self.buffer, self.buffered = [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


def summary(sink: RowsSink | None, counts: dict[str, int], error_rate: float, config: dict) -> dict:
    out: dict = {"config": config, "counts": counts}
    if sink is None:
        out["feeds"] = None
        return out
    total = sink.rows
    rows = {s: {v["kind"]: v["rows"]} for s, v in sorted(sink.by_source.items())}
    all_errors = {c: sum(v["errors"][c] for v in sink.by_source.values()) for c in er.CODES}
    bad: dict[str, int] = {}
    for v in sink.by_source.values():
        for r, k in v["bad"].items():
            bad[r] = bad.get(r, 0) + k
    out["feeds"] = {
        "rows_total": total,
        "rows": rows,
        "error_share": {c: round(all_errors[c] / total, 6) if total else 0.0 for c in er.CODES},
        "error_rows": all_errors,
        "error_share_by_source": {
            s: {c: round(v["errors"][c] / v["rows"], 6) for c in er.CODES if v["errors"][c]}
            for s, v in sorted(sink.by_source.items())
            if v["rows"]
        },
        "configured_share": {
            s: {
                c: round(er.share(c, s, error_rate), 6)
                for c in applicable(SOURCE[s])
                if er.share(c, s, error_rate) > 0
            }
            for s in sorted(sink.by_source)
        },
        "bad_rows": dict(sorted(bad.items())),
        "bad_total": sum(bad.values()),
        "rows_with_errors": sink.with_errors,
        "share_with_errors": round(sink.with_errors / total, 6) if total else 0.0,
    }
    return out


def dump_json(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def date_str(day: int) -> str:
    return str(EPOCH + np.timedelta64(int(day), "D"))
