"""Writing the city: reference registry, ground truth, the truth row of every feed row, summary, manifest.

Parquet tables are built straight from Arrow arrays (no pandas metadata), with fixed compression and
row-group sizes, so the same data give the same bytes. JSON is written with sorted keys. Nothing
records wall-clock time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
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
from risk.synth.population import RELATIONS, City
from risk.synth.sites import SiteTable
from risk.synth.vaccination import DOSE_KINDS, SITE_KINDS, VACCINES, Doses

ROW_GROUP = 1_000_000


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


Builder = tuple[int, Callable[[slice], pa.Table]]  # (rows, build the rows of a slice)


def write_chunked(path: Path, builder: Builder) -> int:
    """Write a table one row group at a time (strings of a full-scale table would not fit at once)."""
    n, build = builder
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for lo in range(0, max(n, 1), ROW_GROUP):
        table = build(slice(lo, min(n, lo + ROW_GROUP)))
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd", write_statistics=True)
        writer.write_table(table, row_group_size=ROW_GROUP)
        del table
    writer.close()
    pa.default_memory_pool().release_unused()
    return n


def _dates(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Days since 1970 as date32; `missing` marks nulls (event dates use -1 for "never")."""
    days = np.asarray(days, dtype=np.int64)
    mask = (days < 0) if missing is None else missing
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=mask).cast(pa.date32())


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
    city: City, house: pa.Array, alley: pa.Array, address: Callable[[np.ndarray], pa.Array]
) -> dict[str, Builder]:
    """Builders of the reference registry: address points (with their clean address) and groups."""
    pts, g = city.points, city.groups
    wards = city.geo.wards["code"].to_numpy().astype(object)
    old_codes = np.concatenate(
        [city.geo.old.table["code"].to_numpy().astype(object), np.array([""], dtype=object)]
    )
    gid = group_ids(city)
    kp = khu_pho_labels(city)
    streets = pa.array(city.streets, type=pa.string())

    def points(sl: slice) -> pa.Table:
        idx = np.arange(len(pts.lon))[sl]
        return pa.table(
            {
                "point_id": pa.array(idx + 1, type=pa.int64()),
                "ward_code": pa.array(wards[pts.ward[sl]], type=pa.string()),
                "group_id": gid.take(pa.array(pts.group[sl])),
                "khu_pho": kp.take(pa.array(pts.group[sl])),
                "house_number": house.slice(sl.start, sl.stop - sl.start),
                "alley": alley.slice(sl.start, sl.stop - sl.start),
                "street": streets.take(pa.array(pts.street[sl])),
                "address": address(idx),
                "lon": pa.array(pts.lon[sl]),
                "lat": pa.array(pts.lat[sl]),
                "old_ward_code": pa.array(
                    old_codes[np.where(pts.old[sl] >= 0, pts.old[sl], len(old_codes) - 1)], type=pa.string()
                ),
            }
        )

    def groups(sl: slice) -> pa.Table:
        commune = (city.geo.wards["unit_type"] == "xã").to_numpy()[g.ward[sl]]
        kps = kp[sl]
        return pa.table(
            {
                "group_id": gid[sl],
                "ward_code": pa.array(wards[g.ward[sl]], type=pa.string()),
                "khu_pho": kps,
                "name": rd.join(rd.join("Tổ ", rd.s(g.to[sl])), kps, sep=", "),
                "kind": pa.array(np.where(commune, "to", "to_dan_pho").astype(object), type=pa.string()),
                "households": pa.array(g.households[sl].astype(np.int64)),
                "geometry": pa.array(shapely.to_wkb(g.geometry[sl], output_dimension=2), type=pa.binary()),
            }
        )

    return {
        "reference/address_points.parquet": (len(pts.lon), points),
        "reference/groups.parquet": (len(g.ward), groups),
    }


def truth_tables(
    city: City, sites: SiteTable, doses: Doses, epi: Epidemic, names: rd.NameVocab
) -> dict[str, Builder]:
    """Builders of the truth tables, written a row group at a time (memory at full scale)."""
    p, hh, pts = city.persons, city.households, city.points
    wards = city.geo.wards["code"].to_numpy().astype(object)
    old_codes = np.concatenate(
        [city.geo.old.table["code"].to_numpy().astype(object), np.array([""], dtype=object)]
    )
    site_names = pa.array(sites.sites.names, type=pa.string())
    gid = group_ids(city)
    nationality = [f[0] for f in nm.FOREIGN] + ["Việt Nam"]

    def ids(sl: slice) -> pa.Array:
        return pa.array(np.arange(sl.start, sl.stop, dtype=np.int64) + 1)

    def persons(sl: slice) -> pa.Table:
        fam, m1, m2, giv = p.family[sl], p.middle1[sl], p.middle2[sl], p.given[sl]
        middle = rd.join(
            names.middle[0].take(pa.array(m1.astype(np.int64))),
            names.middle[0].take(pa.array(m2.astype(np.int64))),
            sep=" ",
        )
        nat = np.where(p.nationality[sl] >= 0, p.nationality[sl], len(nm.FOREIGN))
        cccd, cmnd, passport, phone = p.cccd[sl], p.cmnd[sl], p.passport[sl], p.phone[sl]
        return pa.table(
            {
                "person_id": ids(sl),
                "household_id": pa.array(p.household[sl].astype(np.int64) + 1),
                "family_name": names.family[0].take(pa.array(fam.astype(np.int64))),
                "middle_name": pc.fill_null(middle, ""),
                "given_name": names.given[0].take(pa.array(giv.astype(np.int64))),
                "full_name": rd.full_names(names, fam, m1, m2, giv),
                "sex": _labels(p.female[sl].astype(np.int32), ["M", "F"]),
                "birth_date": _dates(p.birth[sl], np.zeros(len(fam), dtype=bool)),
                "cccd": pc.if_else(pa.array(cccd > 0), rd.pad(cccd, 12), ""),
                "cmnd": pc.if_else(pa.array(cmnd > 0), rd.pad(cmnd, 9), ""),
                "passport": pc.if_else(
                    pa.array(passport > 0), rd.passport_text(passport, p.nationality[sl]), ""
                ),
                "nationality": _labels(nat.astype(np.int32), nationality),
                "phone": pc.if_else(pa.array(phone > 0), rd.join("0", rd.pad(phone, 9)), ""),
                "comorbid": pa.array(p.comorbid[sl]),
                "relation": _labels((p.relation[sl] != 0).astype(np.int32), ["head", "member"]),
                "relation_to_head": _labels(p.relation[sl].astype(np.int32), RELATIONS),
                "age": pa.array(p.age[sl].astype(np.int16)),
            }
        )

    def households(sl: slice) -> pa.Table:
        codes = pa.array(wards[pts.ward[sl]], type=pa.string())
        old = pts.old[sl]
        return pa.table(
            {
                "household_id": ids(sl),
                "household_ref": rd.join("HK-", codes, "-", rd.pad(hh.ref[sl], 6)),
                "point_id": ids(sl),
                "ward_code": codes,
                "group_id": gid.take(pa.array(pts.group[sl])),
                "old_ward_code": pa.array(
                    old_codes[np.where(old >= 0, old, len(old_codes) - 1)], type=pa.string()
                ),
                "head_person_id": pa.array(hh.first[sl] + 1, type=pa.int64()),
                "size": pa.array(hh.size[sl].astype(np.int16)),
                "registered": pa.array(hh.registered[sl]),
                "foreign": pa.array(hh.foreign[sl]),
            }
        )

    case_of_person = np.full(len(p), -1, dtype=np.int64)
    case_of_person[epi.cases.person] = np.arange(len(epi.cases.person)) + 1

    def infections(sl: slice) -> pa.Table:
        inf = epi.infections
        case = case_of_person[inf.person[sl]]
        return pa.table(
            {
                "person_id": pa.array(inf.person[sl] + 1, type=pa.int64()),
                "infected_on": _dates(inf.infected_on[sl]),
                "infectious_from": _dates(inf.infectious_from[sl]),
                "recovered_on": _dates(inf.recovered_on[sl]),
                "detected": pa.array(inf.detected_on[sl] >= 0),
                "detected_on": _dates(inf.detected_on[sl]),
                "case_id": pa.array(case, type=pa.int64(), mask=case < 0),
                "died": pa.array(inf.died_on[sl] >= 0),
                "died_on": _dates(inf.died_on[sl]),
                "source": _labels(inf.source[sl].astype(np.int32), SOURCES),
            }
        )

    def dose_table(sl: slice) -> pa.Table:
        return pa.table(
            {
                "dose_id": ids(sl),
                "person_id": pa.array(doses.person[sl].astype(np.int64) + 1),
                "dose_date": _dates(doses.date[sl]),
                "vaccine": _labels(doses.vaccine[sl].astype(np.int32), VACCINES),
                "dose_kind": _labels(doses.kind[sl].astype(np.int32), DOSE_KINDS),
                "site": site_names.take(pa.array(doses.site[sl].astype(np.int64))),
                "site_kind": _labels(doses.site_kind[sl].astype(np.int32), SITE_KINDS),
                "reported_by": _labels(doses.site_kind[sl].astype(np.int32), DOSE_SOURCES),
            }
        )

    def tests(sl: slice) -> pa.Table:
        t = epi.tests
        return pa.table(
            {
                "test_id": ids(sl),
                "person_id": pa.array(t.person[sl] + 1, type=pa.int64()),
                "sample_date": _dates(t.date[sl]),
                "test_type": _labels(t.test_type[sl].astype(np.int32), TEST_TYPES),
                "pooled": pa.array(t.pooled[sl]),
                "result": _labels(t.result[sl].astype(np.int32), ["negative", "positive"]),
                "site": site_names.take(pa.array(t.site[sl].astype(np.int64))),
                "reason": _labels(t.reason[sl].astype(np.int32), TEST_REASONS),
            }
        )

    def cases(sl: slice) -> pa.Table:
        c = epi.cases
        return pa.table(
            {
                "case_id": ids(sl),
                "person_id": pa.array(c.person[sl] + 1, type=pa.int64()),
                "report_date": _dates(c.report[sl]),
                "found_in": _labels(c.found_in[sl].astype(np.int32), FOUND_IN),
                "isolation": _labels(c.isolation[sl].astype(np.int32), ISOLATION),
                "outcome": _labels(c.outcome[sl].astype(np.int32), OUTCOMES),
                "ward_code": pa.array(wards[pts.ward[p.household[c.person[sl]]]], type=pa.string()),
            }
        )

    def contacts(sl: slice) -> pa.Table:
        k = epi.contacts
        return pa.table(
            {
                "contact_id": ids(sl),
                "person_id": pa.array(k.person[sl] + 1, type=pa.int64()),
                "case_id": pa.array(k.case[sl] + 1, type=pa.int64()),
                "exposure_date": _dates(k.exposure[sl]),
                "quarantine_start": _dates(k.quarantine_start[sl]),
                "quarantine_where": _labels(k.quarantine_where[sl].astype(np.int32), QUARANTINE_WHERE),
            }
        )

    return {
        "truth/persons.parquet": (len(p), persons),
        "truth/households.parquet": (len(hh.size), households),
        "truth/infections.parquet": (len(epi.infections.person), infections),
        "truth/doses.parquet": (len(doses), dose_table),
        "truth/tests.parquet": (len(epi.tests.person), tests),
        "truth/cases.parquet": (len(epi.cases.person), cases),
        "truth/contacts.parquet": (len(epi.contacts.person), contacts),
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
