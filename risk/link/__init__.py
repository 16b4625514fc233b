"""Linkage: records → persons → households, written to the store in one atomic step."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from risk.link.deterministic import link_events
from risk.link.population import build_population
from risk.store import Store
from risk.store.base import utcnow

EVENT_KINDS = ("dose", "test", "case", "contact")


@dataclass(frozen=True)
class LinkResult:
    households: int
    persons: int
    records: int
    linked: int
    by_method: dict[str, int]

    def summary(self) -> str:
        share = self.linked / self.records if self.records else 0.0
        methods = ", ".join(f"{k} {v}" for k, v in sorted(self.by_method.items()))
        return (
            f"{self.households} households, {self.persons} persons; {self.linked}/{self.records} event "
            f"records linked ({share:.1%}): {methods}"
        )


def relink(store: Store) -> LinkResult:
    """Rebuild households, persons and every link from the records in the store (full relink)."""
    registry = store.read_table("records", filters=[("kind", "=", "registry")])
    points = store.read_table(
        "address_points", columns=["point_id", "ward_id", "group_id", "lon", "lat", "address"]
    )
    households, persons, reg_links = build_population(registry, points)
    events = store.read_table(
        "records",
        columns=[
            "record_id",
            "kind",
            "id_number",
            "name_key",
            "birth_year",
            "birth_date",
            "phone",
            "ward_id",
        ],
        filters=[("kind", "in", list(EVENT_KINDS))],
    )
    persons_w = persons.merge(households[["household_id", "ward_id"]], on="household_id", how="left")
    ev_links = link_events(events, persons_w)
    links = pd.concat([reg_links, ev_links], ignore_index=True)
    links["linked_at"] = utcnow()
    store.write_tables({"households": households, "persons": persons, "links": links}, mode="replace")
    return LinkResult(
        households=len(households),
        persons=len(persons),
        records=len(events),
        linked=len(ev_links),
        by_method=ev_links["method"].value_counts().to_dict(),
    )
