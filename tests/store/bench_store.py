"""Load and read back 1 M `records` and 1 M `address_points` on both backends; print rows/s.

    RISKMAP_TEST_PG_DSN=postgresql://… python tests/store/bench_store.py [--rows 1000000]

Not collected by pytest (no test_ prefix). The data are synthetic but shaped like the real tables
(Vietnamese names and addresses, sparse kind-specific columns, H3 cells), built column at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from risk.store.base import Store
from risk.store.embedded import EmbeddedStore
from risk.store.postgis import PostgisStore

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Thanh", "Hữu", "Đức", "Thu"]
GIVEN = [
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hùng",
    "Lan",
    "Linh",
    "Mai",
    "Nam",
    "Phúc",
    "Quân",
]
STREETS = ["Nguyễn Huệ", "Lê Lợi", "Đường số 7", "Cách Mạng Tháng Tám", "Võ Văn Tần", "Trần Hưng Đạo"]
KINDS = ["case", "contact", "test", "dose"]


def pick(rng: np.random.Generator, values: list[str], n: int, null_share: float = 0.0) -> pa.Array:
    arr = pa.array(values).take(pa.array(rng.integers(0, len(values), n)))
    if null_share:
        arr = pc.if_else(pa.array(rng.random(n) < null_share), pa.scalar(None, pa.string()), arr)
    return arr


def join(*parts: pa.Array | str, sep: str = " ") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def numbers(rng: np.random.Generator, low: int, high: int, n: int) -> pa.Array:
    return pc.cast(pa.array(rng.integers(low, high, n)), pa.string())


def records(n: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    names = join(pick(rng, FAMILY, n), pick(rng, MIDDLE, n), pick(rng, GIVEN, n))
    days = pa.array(rng.integers(-20_000, 12_000, n).astype("int32")).cast(pa.date32())
    events = pa.array(rng.integers(18_600, 19_000, n).astype("int32")).cast(pa.date32())
    address = join(numbers(rng, 1, 400, n), pick(rng, STREETS, n), "Phường Sài Gòn", sep=", ")
    kind = pick(rng, KINDS, n)
    return pa.table(
        {
            "record_id": pa.array(np.arange(1, n + 1)),
            "batch_id": pa.array(rng.integers(1, 200, n)),
            "source": pick(rng, ["bv-cho-ray", "cdc-hcm", "tram-y-te"], n),
            "kind": kind,
            "row_number": pa.array(rng.integers(1, 50_000, n).astype("int32")),
            "row_hash": numbers(rng, 10**17, 10**18, n),
            "full_name_raw": pc.utf8_upper(names),
            "full_name": names,
            "name_key": pc.utf8_lower(names),
            "birth_date": days,
            "birth_precision": pick(rng, ["day", "year"], n),
            "birth_year": pc.cast(pc.year(days), pa.int16()),
            "sex": pick(rng, ["M", "F"], n, 0.01),
            "id_number": join("079", numbers(rng, 10**8, 10**9, n), sep=""),
            "id_kind": pick(rng, ["cccd", "cmnd"], n, 0.05),
            "phone": join("09", numbers(rng, 10**7, 10**8, n), sep=""),
            "address_raw": address,
            "point_id": pa.array(rng.integers(1, 1_500_000, n)),
            "ward_id": join("hcmc-2025:", numbers(rng, 26000, 27999, n), sep=""),
            "geocode_tier": pick(rng, ["exact", "street", "ward"], n),
            "geocode_confidence": pa.array(rng.random(n).astype("float32")),
            "event_date": events,
            "vaccine": pick(rng, ["AstraZeneca", "Pfizer", "Moderna", "Vero Cell"], n, 0.75),
            "dose_kind": pick(rng, ["1", "2", "booster"], n, 0.75),
            "site": pick(rng, ["Trạm Y tế Phường 1", "Bệnh viện Chợ Rẫy"], n, 0.3),
            "test_type": pick(rng, ["rt-pcr", "rapid"], n, 0.75),
            "pooled": pa.array(rng.random(n) < 0.2),
            "result": pick(rng, ["positive", "negative"], n, 0.75),
            "found_in": pick(rng, ["community", "isolation"], n, 0.75),
            "isolation": pick(rng, ["home", "facility"], n, 0.8),
            "outcome": pick(rng, ["recovered", "died"], n, 0.9),
            "contact_of": pick(rng, ["F0-123", "F0-456"], n, 0.9),
            "household_ref": numbers(rng, 1, 4_500_000, n),
            "relation": pick(rng, ["chủ hộ", "vợ", "con"], n, 0.5),
            "corrections": pick(rng, ["", "diacritics", "date-swap;phone-84"], n, 0.6),
        }
    )


def address_points(n: int, seed: int = 2) -> pa.Table:
    rng = np.random.default_rng(seed)
    house = numbers(rng, 1, 900, n)
    street = pick(rng, STREETS, n)
    cells = (np.uint64(0x08B65B56A2B2DFFF) + rng.integers(0, 1 << 40, n).astype(np.uint64)).astype(np.uint64)
    data: dict[str, Any] = {
        "point_id": pa.array(np.arange(1, n + 1)),
        "ward_id": join("hcmc-2025:", numbers(rng, 26000, 27999, n), sep=""),
        "group_id": join("g", numbers(rng, 1, 30_000, n), sep=""),
        "house_number": house,
        "alley": pick(rng, ["12/3", "45", "7/1/2"], n, 0.6),
        "street": street,
        "khu_pho": pick(rng, ["Khu phố 1", "Khu phố 2", "Ấp 3"], n),
        "address": join(house, street, "Phường Sài Gòn", sep=", "),
        "match_key": pc.utf8_lower(join(house, street, sep="|")),
        "lon": pa.array(106.6 + rng.random(n) * 0.2),
        "lat": pa.array(10.7 + rng.random(n) * 0.2),
    }
    for r in range(7, 12):
        data[f"h3_{r}"] = pa.array(cells)
    return pa.table(data)


def server_cpu() -> float:
    """CPU seconds used so far by local PostgreSQL processes (0 when the server is elsewhere)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if "(postgres)" in stat.read_text():
                total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def timed(label: str, rows: int, fn: Callable[[], Any]) -> Any:
    """Wall time, and CPU time of this process and of the database server: on a busy machine the
    CPU figures (rows per CPU second) say more than the wall clock."""
    wall, cpu, srv = time.perf_counter(), time.process_time(), server_cpu()
    out = fn()
    wall, cpu, srv = time.perf_counter() - wall, time.process_time() - cpu, server_cpu() - srv
    print(
        f"  {label:<34} {rows:>9,} rows {wall:6.2f} s {rows / wall:>10,.0f} rows/s"
        f" | cpu client {cpu:5.2f} s server {srv:5.2f} s",
        flush=True,
    )
    return out


def bench(store: Store, tables: dict[str, pa.Table]) -> None:
    print(f"{store!r}")
    for name, table in tables.items():
        n = table.num_rows
        timed(f"write {name}", n, lambda: store.write_tables({name: table}))  # noqa: B023
        df = timed(f"read {name}", n, lambda: store.read_table(name))  # noqa: B023
        assert len(df) == n
        timed(f"read {name} (3 columns)", n, lambda: store.read_table(name, columns=table.column_names[:3]))  # noqa: B023
        timed(f"replace {name} (not empty)", n, lambda: store.write_tables({name: table}, mode="replace"))  # noqa: B023
        assert store.count(name) == n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    started = time.perf_counter()
    tables = {"records": records(args.rows), "address_points": address_points(args.rows)}
    print(
        f"generated {args.rows:,} rows per table in {time.perf_counter() - started:.1f} s ({dt.date.today()})"
    )
    with tempfile.TemporaryDirectory() as d:
        bench(EmbeddedStore(d), tables)
    dsn = os.environ.get("RISKMAP_TEST_PG_DSN")
    if not dsn:
        sys.exit("set RISKMAP_TEST_PG_DSN to benchmark PostGIS too")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    store = PostgisStore(dsn, schema=schema)
    try:
        store.migrate()
        bench(store, tables)
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
