"""Scopes: an admin unit and everything below it (city → wards → neighbourhood groups → sub-groups).

The tree is the gazetteer's (city, wards; older versions' districts and wards too) plus the store's
`groups` table (each group under its ward, or under its parent group). A user assigned a ward sees that
ward's households and those of every group in it; a user assigned the city sees everything.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import pandas as pd

from geo.gazetteer import VERSIONS, load_gazetteer
from risk.store import Store, StoreError

log = logging.getLogger("riskmap.auth")
EVERYWHERE = "*"


class ScopeResolver:
    """Expands unit ids to themselves and all units below; knows which ids exist."""

    def __init__(self, groups: pd.DataFrame | None = None) -> None:
        children: dict[str, set[str]] = {}
        known: set[str] = set()
        for version in VERSIONS:
            gaz = load_gazetteer(version)
            known.update(gaz.units.index)
            for uid, parent in zip(gaz.units["unit_id"], gaz.units["parent_id"], strict=True):
                if isinstance(parent, str):
                    children.setdefault(parent, set()).add(uid)
        if groups is not None and len(groups):
            parent = groups["parent_group_id"].where(groups["parent_group_id"].notna(), groups["ward_id"])
            for gid, par in zip(groups["group_id"], parent, strict=True):
                if isinstance(gid, str) and isinstance(par, str):
                    children.setdefault(par, set()).add(gid)
                    known.add(gid)
        self._children = children
        self.known = frozenset(known)
        self.expand = lru_cache(maxsize=4096)(self._expand)

    @classmethod
    def from_store(cls, store: Store | None) -> ScopeResolver:
        groups = None
        if store is not None:
            try:
                groups = store.read_table("groups", columns=["group_id", "ward_id", "parent_group_id"])
            except StoreError as exc:  # serve with the gazetteer alone; groups come back on refresh
                log.warning("scopes without neighbourhood groups: %s", exc)
        return cls(groups)

    def _expand(self, unit: str) -> frozenset[str]:
        out = {unit}
        stack = list(self._children.get(unit, ()))
        while stack:
            u = stack.pop()
            if u not in out:
                out.add(u)
                stack.extend(self._children.get(u, ()))
        return frozenset(out)

    def unknown(self, units: list[str] | tuple[str, ...] | frozenset[str]) -> list[str]:
        """Units that are neither in a gazetteer nor among the store's groups (EVERYWHERE is fine)."""
        return sorted(u for u in units if u != EVERYWHERE and u not in self.known)
