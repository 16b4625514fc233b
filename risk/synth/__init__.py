"""The seeded synthetic city: households, people, an epidemic and the feeds sites send about it.

`generate(SynthConfig(...))` writes the layout described in docs/synthetic-city.md: a clean reference
registry (address points, neighbourhood groups), ground truth (persons, households, infections, doses,
tests, cases, contacts, and the truth of every feed row) and the feeds of eight sources with realistic
errors. The same seed and scale give byte-identical files.

Stages: `realdata` (the real tables) → `population` (addresses, groups, households, persons) →
`vaccination` → `epidemic` → `writer` (reference and truth) → `feeds` (plans, rendering, files) →
summary and manifest.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

GENERATOR_VERSION = "1"

# progress(stage, done, total): stages are "places", "people", "vaccination", "epidemic", "truth", "feeds"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. `scale` is the share of the real population (0.001 … 1.0)."""

    seed: int = 42
    scale: float = 0.01
    out: Path | None = None
    start: dt.date = dt.date(2021, 6, 1)
    end: dt.date = dt.date(2021, 11, 30)
    wards: str = "all"  # all | old-city | comma-separated 2025 ward codes
    error_rate: float = 1.0
    feeds: bool = True
    workers: int = 1  # processes for the per-ward address work (output does not depend on it)

    def __post_init__(self) -> None:
        if not 0.0005 <= self.scale <= 1.0:
            raise ValueError(f"scale must be within 0.0005 … 1.0, got {self.scale}")
        if self.end < self.start:
            raise ValueError("end date before start date")
        if self.error_rate < 0:
            raise ValueError("error rate must not be negative")
        if self.start < dt.date(2021, 1, 1) or self.end > dt.date(2022, 12, 31):
            raise ValueError("the period must lie within 2021-01-01 … 2022-12-31")

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("var/city") / f"s{self.scale:g}-seed{self.seed}"

    def describe(self) -> dict:
        d = asdict(self)
        d.pop("out")
        d.pop("workers")
        d["start"], d["end"] = self.start.isoformat(), self.end.isoformat()
        return d


_MANAGED = ("feeds", "truth", "reference", "manifest.json", "summary.json")


def _return_freed_memory() -> None:
    """Ask glibc to serve big arrays from mmap and hand them back when freed.

    By default glibc raises its mmap threshold after the first big free, after which arrays of tens of MB
    come from the heap and freed ones stay resident: the generator's resident memory then holds every
    stage's temporaries at full scale. A no-op where glibc is absent."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: 1 MiB, fixed
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD: give back heap tops above 64 MiB
    except (OSError, AttributeError):
        return


def _clear(out: Path) -> None:
    """Remove what an earlier run wrote here (only the generator's own files and folders)."""
    for name in _MANAGED:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def generate(config: SynthConfig, progress: Progress | None = None) -> Path:
    """Generate the city into `config.out_dir` and return that directory."""
    from risk.synth import feeds as fd
    from risk.synth import render as rd
    from risk.synth import writer as wr
    from risk.synth.epidemic import simulate
    from risk.synth.population import build_city
    from risk.synth.realdata import load_geography
    from risk.synth.rng import stream
    from risk.synth.sites import build_sites
    from risk.synth.vaccination import adjust_for_infections, day, vaccinate

    def tick(stage: str, done: int, total: int) -> None:
        if progress:
            progress(stage, done, total)

    _return_freed_memory()
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    geo = load_geography(config.wards)
    city = build_city(
        geo,
        config.seed,
        config.scale,
        config.start,
        workers=config.workers,
        on_ward=lambda i, n: tick("places", i, n),
    )
    tick("people", 1, 1)
    sites = build_sites(geo, stream(config.seed, "sites"))
    doses, schedule = vaccinate(city, sites, config.seed, config.end)
    tick("vaccination", 1, 1)
    epi = simulate(
        city,
        schedule,
        sites,
        config.seed,
        config.start,
        config.end,
        on_day=lambda i, n: tick("epidemic", i, n),
    )
    start_day, end_day = day(config.start.isoformat()), day(config.end.isoformat())
    doses = adjust_for_infections(doses, epi.infected_on, epi.recovered_on, epi.died_on, end_day, config.seed)
    doses = doses.take(np.flatnonzero(doses.date >= start_day))

    files: list[dict] = []
    _, house, alley = fd.house_chain(city)
    names = rd.NameVocab.build()
    events = fd.events_by_kind(city, doses, epi)
    ctx = fd.build_context(city, sites, events, config.seed, config.error_rate, end_day)
    zero = np.zeros(len(city.points.lon), dtype=np.int64)
    rng_clean = stream(config.seed, "addresses", "clean")

    def clean_address(points: np.ndarray):
        return rd.render_addresses(ctx.addresses, points, zero[: len(points)], rng_clean).text

    tables = wr.reference_tables(city, house, alley, clean_address)
    tables.update(wr.truth_tables(city, sites, doses, epi, names))
    for i, rel in enumerate(sorted(tables)):
        files.append({"path": rel, "rows": wr.write_chunked(out / rel, tables[rel])})
        tick("truth", i + 1, len(tables))
    counts = {
        "persons": len(city.persons),
        "households": len(city.households.size),
        "address_points": len(city.points.lon),
        "groups": len(city.groups.ward),
        "wards": len(geo.wards),
        "infections": len(epi.infections.person),
        "cases": len(epi.cases.person),
        "contacts": len(epi.contacts.person),
        "tests": len(epi.tests.person),
        "doses": len(doses),
        "deaths": int((epi.infections.died_on >= 0).sum()),
    }
    del tables

    sink = None
    if config.feeds:
        plans = fd.plan_all(city, events, config.seed, config.error_rate, end_day)
        sink = wr.RowsSink(out / "truth" / "rows.parquet")
        total = sum(len(p.files) for p in plans)
        done = [0]

        def on_file(entry: dict, rows: dict) -> None:
            sink.add(rows, fd.truth_table(rows))
            done[0] += 1
            tick("feeds", done[0], total)

        entries = fd.write_feeds(ctx, plans, out, config.workers, on_file)
        sink.close()
        files.extend(entries)
        files.append({"path": "truth/rows.parquet", "rows": sink.rows})

    summary = wr.summary(sink, counts, config.error_rate, config.describe())
    wr.dump_json(summary, out / "summary.json")
    for f in files:
        if "sha256" not in f:
            path = out / f["path"]
            f["bytes"] = path.stat().st_size
            f["sha256"] = wr.sha256(path)
    files.append(
        {
            "path": "summary.json",
            "rows": None,
            "bytes": (out / "summary.json").stat().st_size,
            "sha256": wr.sha256(out / "summary.json"),
        }
    )
    manifest = {
        "generator": "riskmap.synth",
        "version": GENERATOR_VERSION,
        **config.describe(),
        "files": sorted(files, key=lambda f: f["path"]),
        "sources": {
            s.name: {
                "kind": s.kind,
                "format": s.fmt,
                "encoding": "utf-8-sig" if s.bom else "utf-8",
                "delimiter": s.delimiter if s.fmt == "csv" else None,
                "line_ending": {"\n": "LF", "\r\n": "CRLF"}[s.eol] if s.fmt != "xlsx" else None,
                "sheet": s.sheet if s.fmt == "xlsx" else None,
                "headers": s.headers,
                "fields": {c.header: c.field for c in s.columns},
                "birth_date_style": s.dob_style,
                "event_date_style": s.date_style if s.kind != "registry" else None,
                "description": s.description,
            }
            for s in fd.SOURCES
        },
    }
    wr.dump_json(manifest, out / "manifest.json")
    return out


__all__ = ["GENERATOR_VERSION", "SynthConfig", "generate"]
