"""The command centre's map (/map) in Debian's headless Chromium with the network cut off.

One page load per server: the map must draw the ward layer in the level colours (checked on the
screenshot's pixels), ask for nothing outside the test server, open a ward's explanation on a real
click, and redraw in a past snapshot's levels when the date selector changes. A second server is
configured with an internet base map: unreachable here, so the page falls back to the plain background
and still draws the wards.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from api.answers import profile_or_none
from api.app import create_app
from api.security import Principal, authenticate
from api.settings import ApiSettings
from tests.api import servecity
from tests.api.conftest import COMMAND_CENTRE
from tests.api.webdriver import OFFLINE, Browser

pytestmark = pytest.mark.chromium

URL = f"/map?zoom=12.5&lon={servecity.POINT[0]}&lat={servecity.POINT[1]}"


def _blend(colour: str, background: str = "#eceae4", opacity: float = 0.6) -> np.ndarray:
    c = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], float)
    b = np.array([int(background[i : i + 2], 16) for i in (1, 3, 5)], float)
    return opacity * c + (1 - opacity) * b


def _shot(browser: Browser) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(browser.screenshot())).convert("RGB")).astype(float)


def _centre_colour(browser: Browser, shot: np.ndarray) -> np.ndarray:
    """Median colour around the map's centre (Phường Sài Gòn): the map sits right of the side panel."""
    x, y = browser.js(
        "var r = document.getElementById('map').getBoundingClientRect();"
        " return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)]"
    )
    return np.median(shot[y - 12 : y + 12, x - 12 : x + 12].reshape(-1, 3), axis=0)


def _wait_idle(browser: Browser) -> None:
    browser.wait_for(
        "return document.body.getAttribute('data-state') === 'idle' && "
        "document.body.getAttribute('data-summary') === 'ready'",
        timeout=90,
    )
    error = browser.js("return document.body.getAttribute('data-error')")
    assert not error, error


def test_map_offline_levels_click_and_dates(city_store, chromium_path: str, live_server) -> None:
    store, city = city_store
    profile = profile_or_none("moh-4800")
    current = city.level(city.snapshots[-1], "ward", servecity.SAI_GON)
    past_id = next(
        (s for s in city.snapshots[:-1] if city.level(s, "ward", servecity.SAI_GON) != current), None
    )
    assert past_id is not None, "the serving city has no past snapshot with another level for Sài Gòn"
    past_day = servecity.DAYS[city.snapshots.index(past_id)].isoformat()
    past = city.level(past_id, "ward", servecity.SAI_GON)
    app = create_app(store=store, settings=ApiSettings(snapshot_poll_seconds=0.05))
    with live_server(app) as srv, Browser(chromium_path, args=OFFLINE) as browser:
        browser.get(srv.url + URL)
        _wait_idle(browser)
        requested = browser.js(
            "return performance.getEntriesByType('resource').map(e => e.name).concat(window.riskmapRequests)"
        )
        assert requested and all(u.startswith(srv.url) for u in requested), requested
        assert any("/static/vendor/maplibre-gl/" in u for u in requested)
        assert any("/tiles/wards/" in u for u in requested), requested
        shot = _shot(browser)
        # the ward layer in the level colours: Sài Gòn's at the centre, and its neighbours' around it
        assert np.all(np.abs(_centre_colour(browser, shot) - _blend(profile.colour(current))) <= 8)
        levels = {city.level(city.snapshots[-1], "ward", w) for w in city.wards}
        drawn = {
            lvl
            for lvl in levels
            if np.all(np.abs(shot - _blend(profile.colour(lvl))) <= 8, axis=-1).sum() > 500
        }
        assert drawn == levels, f"levels drawn {drawn}, wards have {levels}"
        legend = browser.js("return document.getElementById('legend').innerText")
        for text in ("Cấp 1", "Cấp 4", "Chưa đủ dữ liệu"):
            assert text in legend, legend
        summary = browser.js("return document.getElementById('summary').innerText")
        assert "Data as of" in summary and servecity.DAYS[-1].isoformat() in summary, summary

        # a real click on the ward opens its explanation: level, reasons, trend
        browser.click("#map canvas")
        browser.wait_for(f"return document.body.getAttribute('data-selected') === '{servecity.SAI_GON}'")
        info = browser.wait_for(
            "var t = document.getElementById('info-body').innerText; return t.indexOf('Diễn biến') >= 0 && t"
        )
        assert "Sài Gòn" in info and profile.label(current, "vi") in info, info
        assert (
            "Lý do" in info
            and browser.js("return document.querySelectorAll('#info svg.trend rect').length") == 3
        )

        # the date selector draws a past snapshot's levels
        browser.js(
            f"var s = document.getElementById('date'); s.value = '{past_day}';"
            " s.dispatchEvent(new Event('change'));"
        )
        _wait_idle(browser)
        browser.wait_for("return window.riskmapRequests.some(u => u.indexOf('.mvt?as_of=') >= 0)")
        _wait_idle(browser)
        colour = _centre_colour(browser, _shot(browser))
        assert np.all(np.abs(colour - _blend(profile.colour(past))) <= 8), (colour, past, current)
        requested = browser.js(
            "return performance.getEntriesByType('resource').map(e => e.name).concat(window.riskmapRequests)"
        )
        assert all(u.startswith(srv.url) for u in requested), requested


def test_map_falls_back_when_the_base_map_is_unreachable(city_store, chromium_path: str, live_server) -> None:
    """…as the command centre sees it: with the household layer and the ward's list exports."""
    store, city = city_store
    settings = ApiSettings(
        snapshot_poll_seconds=0.05, basemap_url="https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    )
    app = create_app(store=store, settings=settings)

    async def command_centre() -> Principal:
        return COMMAND_CENTRE

    app.dependency_overrides[authenticate] = command_centre
    with live_server(app) as srv, Browser(chromium_path, args=OFFLINE) as browser:
        browser.get(srv.url + URL)
        browser.wait_for(
            "return document.querySelector(\"input[data-layer='basemap']\") && "
            "!document.querySelector(\"input[data-layer='basemap']\").checked",
            timeout=90,
        )
        _wait_idle(browser)
        level = city.level(city.snapshots[-1], "ward", servecity.SAI_GON)
        colour = _centre_colour(browser, _shot(browser))
        assert np.all(np.abs(colour - _blend(profile_or_none("moh-4800").colour(level))) <= 8)
        assert browser.js("return !!document.querySelector(\"input[data-layer='households']\")")
        browser.click("#map canvas")
        browser.wait_for(f"return document.body.getAttribute('data-selected') === '{servecity.SAI_GON}'")
        kinds = browser.wait_for(
            "var b = document.querySelectorAll('#info button[data-export]');"
            " return b.length && Array.from(b).map(x => x.getAttribute('data-export'))"
        )
        assert kinds == ["xlsx", "csv", "map.png"]
