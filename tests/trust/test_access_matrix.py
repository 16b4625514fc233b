"""The access matrix: every caller (role × scope) × every route of the app × inside / outside its scope.

Routes are not listed by hand: every route the app has (including routes added later) is probed with
parameters drawn from pools by parameter name (units, tiles, opaque household ids in and out of scope,
points), and every answer is checked:
- a caller without the route's permission gets exactly 401 (the public) or 403 (anyone else);
- a caller with it never gets 401/403 for lack of a role, and never a 5xx;
- no answer to anyone carries a household-level value (names, ID numbers, household refs, opaque
  household ids) of a household outside the caller's view scope; callers without VIEW_PERSONAL never see
  an unmasked ID number; public and app answers carry no personal field at all.
A household route built on the one scope predicate (`Principal.visible`, `mask_frame`, `opaque_id`) is
added for the test, so the matrix also checks household-level answers in and out of scope exactly.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import orjson
import pandas as pd
import pytest
from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.deps import StoreDep
from api.security import VIEW_HOUSEHOLDS, VIEW_PERSONAL, CurrentPrincipal, app_routes, require
from risk.privacy import PERSONAL_COLUMNS, mask_frame, opaque_id, resolve_id
from tests.trust.trustcity import CITY, SAI_GON, TAN_DINH, Caller, TrustCity, make_app

ID_KEY = "11" * 32


def household_router() -> APIRouter:
    """What a household list / detail route looks like on the one predicate (test-only)."""
    router = APIRouter(prefix="/test/households", dependencies=[Depends(require(VIEW_HOUSEHOLDS))])

    def frame(store: Any) -> pd.DataFrame:
        hh = store.read_table("households", columns=["household_id", "household_ref", "ward_id", "group_id"])
        persons = store.read_table("persons", columns=["household_id", "full_name", "id_number", "phone"])
        return persons.merge(hh, on="household_id")

    def answer(rows: pd.DataFrame, principal: Any) -> Response:
        rows = mask_frame(rows, personal=principal.can(VIEW_PERSONAL))
        rows = rows.assign(household_id=opaque_id(rows["household_id"].to_numpy(), key=ID_KEY))
        return Response(orjson.dumps(rows.to_dict("records")), media_type="application/json")

    @router.get("")
    async def list_households(
        store: StoreDep, principal: CurrentPrincipal, ward_id: str = Query(..., max_length=64)
    ) -> Response:
        rows = frame(store)
        rows = rows[(rows["ward_id"] == ward_id) & principal.visible(rows)]
        return answer(rows, principal)

    @router.get("/{household_id}")
    async def one_household(store: StoreDep, principal: CurrentPrincipal, household_id: str) -> Response:
        hid = resolve_id(household_id, key=ID_KEY)
        rows = frame(store)
        rows = rows[(rows["household_id"] == hid) & principal.visible(rows)]
        if hid is None or rows.empty:
            raise HTTPException(404, detail="no such household in your area")
        return answer(rows, principal)

    return router


@pytest.fixture(scope="module")
def matrix_client(trust_city: TrustCity):
    app = make_app(trust_city)
    app.include_router(household_router())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def tile(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


class Pools:
    """Parameter values by name, in and out of scope; unknown names get a harmless filler."""

    def __init__(self, tc: TrustCity) -> None:
        hh = tc.store.read_table("households", columns=["household_id", "ward_id", "group_id", "lon", "lat"])
        self.hh = hh
        inside = hh[hh["ward_id"] == SAI_GON].iloc[0]
        outside = hh[hh["ward_id"] == TAN_DINH].iloc[0]
        groups = tc.store.read_table("groups", columns=["group_id"])["group_id"].tolist()
        tokens = opaque_id([int(inside["household_id"]), int(outside["household_id"])], key=ID_KEY)
        self.path = {
            "unit_type": ["ward", "city"],
            "unit_id": [SAI_GON, TAN_DINH, CITY],
            "ward_id": [SAI_GON, TAN_DINH],
            "ward": [SAI_GON, TAN_DINH],
            "group_id": groups,
            "household_id": [*tokens, str(int(inside["household_id"])), "h_" + "0" * 32],
            "layer": ["wards", "groups", "h3", "households", "points", "levels"],
            "format": ["json", "geojson", "csv", "xlsx", "mvt", "pbf", "png"],
            "fmt": ["json", "csv", "mvt", "png"],
            "ext": ["json", "csv", "mvt", "pbf", "png"],
            "snapshot_id": ["1", "999"],
        }
        self.tiles = [
            tile(float(inside["lon"]), float(inside["lat"]), 15),
            tile(float(outside["lon"]), float(outside["lat"]), 15),
            tile(float(inside["lon"]), float(inside["lat"]), 18),
            tile(106.7, 10.8, 12),
            tile(106.7, 10.8, 9),
        ]
        self.query = {
            "lat": [float(inside["lat"]), float(outside["lat"])],
            "lon": [float(inside["lon"]), float(outside["lon"])],
            "address": ["1 Đường Số 1, Khu phố 1, Phường Sài Gòn, Thành phố Hồ Chí Minh"],
            "ward_id": [SAI_GON, TAN_DINH],
            "ward": [SAI_GON, TAN_DINH],
            "unit_id": [SAI_GON, TAN_DINH],
        }

    def requests(self, route: APIRoute, path: str) -> list[tuple[str, dict[str, Any], str | None]]:
        names = [p.name for p in route.dependant.path_params]
        combos: list[dict[str, Any]] = []
        if {"z", "x", "y"} <= set(names):
            rest = [n for n in names if n not in ("z", "x", "y")]
            for (z, x, y), vals in itertools.product(self.tiles, self._product(rest)):
                combos.append({"z": z, "x": x, "y": y, **vals})
        else:
            combos = self._product(names)
        required = [q for q in route.dependant.query_params if q.field_info.is_required()]
        out = []
        for c in combos:
            url = path.format(**c)
            for i in range(2):
                params = {}
                for q in required:
                    pool = self.query.get(q.name) or self.query.get(q.alias, ["1"])
                    params[q.alias] = pool[min(i, len(pool) - 1)]
                out.append((url, params, c.get("layer")))
                if not required:
                    break
        return out

    def _product(self, names: list[str]) -> list[dict[str, Any]]:
        if not names:
            return [{}]
        pools = [self.path.get(n, ["1"]) for n in names]
        combos = list(itertools.product(*pools))
        return [dict(zip(names, c, strict=True)) for c in combos[:40]]


class Secrets:
    """Household-level values per household, to search every answer for."""

    def __init__(self, tc: TrustCity) -> None:
        persons = tc.store.read_table("persons", columns=["household_id", "full_name", "id_number"])
        hh = tc.store.read_table(
            "households", columns=["household_id", "household_ref", "ward_id", "group_id"]
        )
        self.rows = persons.merge(hh, on="household_id")
        assert len(self.rows) == 120

    def forbidden(self, caller: Caller, permissions: frozenset[str]) -> set[str]:
        rows = self.rows
        if VIEW_HOUSEHOLDS in permissions:
            scope = caller.view
            inside = (
                pd.Series(True, index=rows.index)
                if scope is None
                else rows["ward_id"].isin(scope) | rows["group_id"].isin(scope)
            )
        else:
            inside = pd.Series(False, index=rows.index)
        out = rows[~inside]
        # names repeat across households: only those nobody visible shares are evidence of a leak
        names = set(out["full_name"]) - set(rows.loc[inside, "full_name"])
        values = names | set(out["id_number"]) | set(out["household_ref"])
        values |= set(opaque_id(out["household_id"].drop_duplicates().to_numpy(), key=ID_KEY))
        if VIEW_PERSONAL not in permissions:
            values |= set(rows.loc[inside, "id_number"])
        return {v for v in values if isinstance(v, str) and len(v) >= 6}


def permissions_of(caller: Caller) -> frozenset[str]:
    from api.security import ROLES

    out: set[str] = set()
    for r in caller.roles:
        out |= ROLES.get(r, frozenset())
    return frozenset(out)


def personal_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "query"}  # the caller's own input, echoed
        found = {k for k in value if k in PERSONAL_COLUMNS}
        for v in value.values():
            found |= personal_keys(v)
        return found
    if isinstance(value, list):
        return set().union(*(personal_keys(v) for v in value)) if value else set()
    return set()


def test_the_access_matrix(matrix_client: TestClient, trust_city: TrustCity) -> None:
    pools, secrets = Pools(trust_city), Secrets(trust_city)
    routes = [r for r in app_routes(matrix_client.app.routes) if isinstance(r.route, APIRoute)]
    failures: list[str] = []
    probed = 0
    seen_inside: dict[str, set[int]] = {}
    for info in routes:
        for method in sorted(info.methods - {"HEAD"}):
            requests = pools.requests(info.route, info.path)
            for caller in trust_city.callers.values():
                perms = permissions_of(caller)
                forbidden = secrets.forbidden(caller, perms)
                for url, params, layer in requests:
                    needed = info.permissions_for(layer)
                    allowed = needed <= perms
                    body = {"addresses": ["1 Đường Số 1, Phường Sài Gòn"]} if method == "POST" else None
                    r = matrix_client.request(method, url, params=params, json=body, headers=caller.headers)
                    probed += 1
                    where = f"{caller.name} {method} {url} {params} → {r.status_code}"
                    if not allowed:
                        want = 401 if caller.name == "public" else 403
                        if r.status_code != want:
                            failures.append(f"{where}: expected {want} (lacks {set(needed - perms)})")
                        continue
                    if r.status_code >= 500:
                        failures.append(f"{where}: server error {r.text[:200]}")
                    if r.status_code == 401 or (r.status_code == 403 and VIEW_HOUSEHOLDS not in needed):
                        failures.append(f"{where}: refused although the role may")
                    text = r.content.decode("utf-8", errors="replace")
                    leaked = [s for s in forbidden if s in text]
                    if leaked:
                        failures.append(f"{where}: leaks {sorted(leaked)[:3]}")
                    if caller.name in ("public", "app") and "json" in r.headers.get("content-type", ""):
                        keys = personal_keys(json.loads(r.content)) if r.content else set()
                        if keys:
                            failures.append(
                                f"{where}: personal fields {sorted(keys)} in a {caller.name} answer"
                            )
                    if info.path.startswith("/test/households") and r.status_code == 200:
                        seen_inside.setdefault(caller.name, set()).update(
                            resolve_id(h["household_id"], key=ID_KEY) for h in r.json()
                        )
    assert not failures, f"{len(failures)} of {probed} probes failed:\n" + "\n".join(failures[:40])
    assert probed > 150
    # household-level answers: exactly the households in scope, and only to those who may see them
    hh = pools.hh
    saigon = set(hh.loc[hh["ward_id"] == SAI_GON, "household_id"])
    group = set(hh.loc[hh["group_id"] == "26737-KP01-T01", "household_id"])
    assert seen_inside["leader_saigon"] == saigon == seen_inside["jwt_leader"]
    assert seen_inside["leader_group_tandinh"] == group
    assert seen_inside["command"] == seen_inside["admin"] == set(hh["household_id"])
    assert set(seen_inside) == {"leader_saigon", "jwt_leader", "leader_group_tandinh", "command", "admin"}


def test_masking_follows_view_personal(matrix_client: TestClient, trust_city: TrustCity) -> None:
    c = trust_city.callers
    leader = matrix_client.get(
        "/test/households", params={"ward_id": SAI_GON}, headers=c["leader_saigon"].headers
    )
    command = matrix_client.get("/test/households", params={"ward_id": SAI_GON}, headers=c["command"].headers)
    assert leader.status_code == command.status_code == 200
    ids_leader = {p["id_number"] for p in leader.json()}
    ids_command = {p["id_number"] for p in command.json()}
    assert all(i.isdigit() and len(i) == 12 for i in ids_leader)
    assert all(i.startswith("*********") and i[-3:].isdigit() for i in ids_command)
    assert {i[-3:] for i in ids_leader} == {i[-3:] for i in ids_command}


def test_the_one_predicate_matches_the_oracle_for_every_caller(trust_city: TrustCity) -> None:
    """`Principal.visible` (frames) and `Principal.scope_filters` (store queries) agree with an
    independent computation of each caller's scope."""
    store = trust_city.store
    hh = store.read_table("households", columns=["household_id", "ward_id", "group_id"])
    auth = make_app(trust_city).state.auth
    for caller in trust_city.callers.values():
        token = caller.headers.get("Authorization", " ").split(" ", 1)[1]
        principal = auth.verify(token) if token.strip() else None
        if principal is None:
            from api.security import PUBLIC as principal
        perms = permissions_of(caller)
        if VIEW_HOUSEHOLDS not in perms:
            want = set()
        elif caller.view is None:
            want = set(hh["household_id"])
        else:
            want = set(
                hh.loc[hh["ward_id"].isin(caller.view) | hh["group_id"].isin(caller.view), "household_id"]
            )
        got = set(hh.loc[principal.visible(hh), "household_id"])
        assert got == want, caller.name
        by_ward = set(
            store.read_table("households", columns=["household_id"], filters=principal.scope_filters())[
                "household_id"
            ]
        )
        if caller.name != "leader_group_tandinh":  # a group scope filters by group_id, not ward_id
            assert by_ward == want, caller.name
        by_group = set(
            store.read_table(
                "households", columns=["household_id"], filters=principal.scope_filters("group_id")
            )["household_id"]
        )
        assert by_group <= want | set(), caller.name


def test_viewing_and_capture_scopes_are_separate(trust_city: TrustCity) -> None:
    auth = make_app(trust_city).state.auth
    token = trust_city.callers["steward"].headers["Authorization"].split()[1]
    steward = auth.verify(token)
    assert steward.can_capture(SAI_GON) and steward.can_capture(None, "26740-KP01-T01")  # a group in it
    assert not steward.can_capture(TAN_DINH) and not steward.can_capture(CITY)
    assert steward.scope_filters(capture=True) == [("ward_id", "in", sorted(steward.capture_scope()))]
    assert steward.scope_filters() == [("ward_id", "in", [])]  # captures, but views no households
    leader = auth.verify(trust_city.callers["leader_saigon"].headers["Authorization"].split()[1])
    assert leader.sees(SAI_GON) and not leader.can_capture(SAI_GON)  # views, but captures nothing
