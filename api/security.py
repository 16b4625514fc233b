"""Who is asking, and what they may see: the one place every endpoint, tile, export and query asks.

A `Principal` carries roles and two scopes (admin units, each covering everything below it): one for
viewing and one for data capture (DHIS2's organisation units, SORMAS jurisdictions). Routes never test
roles or units themselves: they declare a permission with `require(...)` and filter rows with
`Principal.visible(...)`.

How a request becomes a Principal (API keys, OAuth2 bearer tokens) is decided in `authenticate`; with no
credentials the caller is the public, who sees aggregate levels only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import Depends, HTTPException, Request

# Permissions, by what they protect.
VIEW_AGGREGATE = "view:aggregate"  # area and cell levels, GeoJSON, tiles of areas
VIEW_RISK = "view:risk"  # the risk endpoint for other apps
VIEW_HOUSEHOLDS = "view:households"  # household-level rows, lists, points (within the view scope)
VIEW_PERSONAL = "view:personal"  # names, phones, ID numbers unmasked (within the view scope)
CAPTURE = "capture:records"  # ingest, quarantine, corrections (within the capture scope)
ADMIN = "admin"  # users, keys, audit log, configuration

ROLES: dict[str, frozenset[str]] = {
    "public": frozenset({VIEW_AGGREGATE, VIEW_RISK}),
    "app": frozenset({VIEW_AGGREGATE, VIEW_RISK}),
    "ward_leader": frozenset({VIEW_AGGREGATE, VIEW_RISK, VIEW_HOUSEHOLDS, VIEW_PERSONAL}),
    "command_centre": frozenset({VIEW_AGGREGATE, VIEW_RISK, VIEW_HOUSEHOLDS}),
    "data_steward": frozenset({VIEW_AGGREGATE, VIEW_RISK, CAPTURE}),
    "admin": frozenset({VIEW_AGGREGATE, VIEW_RISK, VIEW_HOUSEHOLDS, VIEW_PERSONAL, CAPTURE, ADMIN}),
}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller (or the public).

    `view_units` / `capture_units` are admin-unit ids (wards, groups, or a city for everything); None
    means no restriction. `expand` turns a unit into itself and everything below it.
    """

    subject: str
    roles: frozenset[str]
    view_units: frozenset[str] | None = None
    capture_units: frozenset[str] | None = None
    expand: Callable[[str], set[str]] | None = field(default=None, compare=False, repr=False)

    @property
    def permissions(self) -> frozenset[str]:
        out: set[str] = set()
        for r in self.roles:
            out |= ROLES.get(r, frozenset())
        return frozenset(out)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def _expanded(self, units: frozenset[str] | None) -> set[str] | None:
        if units is None:
            return None
        if self.expand is None:
            return set(units)
        out: set[str] = set()
        for u in units:
            out |= self.expand(u)
        return out

    def view_scope(self) -> set[str] | None:
        """Every unit this caller may view household-level data in (None = all)."""
        return self._expanded(self.view_units)

    def capture_scope(self) -> set[str] | None:
        return self._expanded(self.capture_units)

    def sees(self, *unit_ids: str | None) -> bool:
        """True when any of the given units (e.g. a household's ward and group) is in the view scope."""
        scope = self.view_scope()
        return scope is None or any(u in scope for u in unit_ids if u)

    def visible(self, frame: pd.DataFrame, columns: Iterable[str] = ("ward_id", "group_id")) -> np.ndarray:
        """Row mask of a frame of household-level rows this caller may see (vectorised)."""
        if not self.can(VIEW_HOUSEHOLDS):
            return np.zeros(len(frame), dtype=bool)
        scope = self.view_scope()
        if scope is None:
            return np.ones(len(frame), dtype=bool)
        keep = np.zeros(len(frame), dtype=bool)
        for c in columns:
            if c in frame.columns:
                keep |= frame[c].isin(scope).to_numpy(dtype=bool)
        return keep


PUBLIC = Principal("public", frozenset({"public"}))


async def authenticate(request: Request) -> Principal:
    """The caller of a request. Without credentials: the public."""
    return PUBLIC


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(permission: str) -> Callable[[Principal], Principal]:
    """A dependency that lets a request through only with `permission` (401 anonymous, 403 otherwise)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            if principal is PUBLIC or principal.subject == "public":
                raise HTTPException(
                    401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"}
                )
            raise HTTPException(403, detail=f"role(s) {sorted(principal.roles)} may not {permission}")
        return principal

    return check
