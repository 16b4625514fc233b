"""The MapLibre style renders riskmap's layers in headless Chromium, with MapLibre served by the app.

The style preview page (`/static/app/style/preview.html`) loads MapLibre from `/static/vendor/` and the
style from `/styles/riskmap.json`, whose sources are this server's TileJSON. Chromium renders with WebGL
through SwiftShader; the screenshot must show the ward fill of Phường Sài Gòn in its level colour (60 %
over the background) and the page must have asked for nothing outside the test server.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from api.answers import profile_or_none
from api.app import create_app
from tests.api import servecity
from tests.api.webdriver import Browser

pytestmark = pytest.mark.chromium


def _blend(colour: str, background: str = "#eceae4", opacity: float = 0.6) -> np.ndarray:
    c = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], float)
    b = np.array([int(background[i : i + 2], 16) for i in (1, 3, 5)], float)
    return opacity * c + (1 - opacity) * b


def test_style_renders_ward_levels_in_chromium(city_store, chromium_path: str, live_server) -> None:
    store, city = city_store
    app = create_app(store=store)
    with live_server(app) as srv, Browser(chromium_path) as browser:
        browser.get(
            f"{srv.url}/static/app/style/preview.html?zoom=12.5&lon={servecity.POINT[0]}&lat={servecity.POINT[1]}"
        )
        browser.wait_for("return document.body.getAttribute('data-state') === 'idle'", timeout=90)
        error = browser.js("return document.body.getAttribute('data-error')")
        assert not error, error
        requested = browser.js("return performance.getEntriesByType('resource').map(e => e.name)")
        assert requested and all(u.startswith(srv.url) for u in requested), requested
        shot = np.asarray(Image.open(io.BytesIO(browser.screenshot())).convert("RGB")).astype(float)
    level = city.level(city.snapshots[-1], "ward", servecity.SAI_GON)
    colour = profile_or_none("moh-4800").colour(level)
    want = _blend(colour)
    close = np.all(np.abs(shot - want) <= 8, axis=-1)
    assert close.sum() > 2000, f"ward fill {colour} (level {level}) not drawn: {close.sum()} pixels"
    ys, xs = np.nonzero(close)  # and it is drawn where the ward is: around the centre of the view
    assert abs(np.median(xs) - 400) < 250 and abs(np.median(ys) - 300) < 200
    others = {lvl: _blend(profile_or_none("moh-4800").colour(lvl)) for lvl in range(1, 5) if lvl != level}
    drawn = [lvl for lvl, c in others.items() if np.all(np.abs(shot - c) <= 8, axis=-1).sum() > 500]
    assert drawn, "the neighbouring wards' levels are not drawn"
