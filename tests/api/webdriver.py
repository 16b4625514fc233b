"""A minimal W3C WebDriver client over HTTP for Debian's chromedriver (no Selenium needed).

Enough for the style test: open a page in headless Chromium, wait for a condition in the page, take a
screenshot. Chromium gets the flags riskmap's tests always use (no network beyond loopback) plus
SwiftShader, so WebGL (MapLibre) renders without a GPU. `OFFLINE` cuts the network off: every host but
the loopback goes to a closed proxy port, and names do not resolve.
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

import httpx

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--hide-scrollbars",
    "--window-size=800,600",
]

# Nothing leaves the machine: Chromium bypasses a proxy for loopback addresses only.
OFFLINE = (
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)


class Browser:
    def __init__(self, chromium: str, driver: str | None = None, args: tuple[str, ...] = ()) -> None:
        self.driver = driver or shutil.which("chromedriver") or "/usr/bin/chromedriver"
        self.chromium = chromium
        self.args = list(args)
        self.profile = tempfile.mkdtemp(prefix="riskmap-chromium-")

    def __enter__(self) -> Browser:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [self.driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        deadline = time.time() + 20
        while True:
            try:
                if self.http.get("/status").json()["value"]["ready"]:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.time() > deadline:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": self.chromium,
                        "args": [*CHROMIUM_FLAGS, *self.args, f"--user-data-dir={self.profile}"],
                    },
                }
            }
        }
        r = self.http.post("/session", json=caps).json()
        if "sessionId" not in r.get("value", {}):
            raise RuntimeError(f"chromedriver refused a session: {r}")
        self.session = r["value"]["sessionId"]
        return self

    def _cmd(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.request(method, f"/session/{self.session}{path}", json=body)
        value = r.json()["value"]
        if r.status_code >= 400:
            raise RuntimeError(f"webdriver {path}: {value}")
        return value

    def get(self, url: str) -> None:
        self._cmd("POST", "/url", {"url": url})

    def js(self, script: str) -> Any:
        return self._cmd("POST", "/execute/sync", {"script": script, "args": []})

    def wait_for(self, script: str, timeout: float = 60) -> Any:
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.js(script)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"page never satisfied: {script}")

    def click(self, css: str) -> None:
        """A real pointer click at the centre of the first element matching a CSS selector."""
        found = self._cmd("POST", "/element", {"using": "css selector", "value": css})
        element = next(iter(found.values()))
        self._cmd("POST", f"/element/{element}/click", {})

    def screenshot(self) -> bytes:
        return base64.b64decode(self._cmd("GET", "/screenshot"))

    def __exit__(self, *exc: object) -> None:
        try:
            self.http.delete(f"/session/{self.session}")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            shutil.rmtree(self.profile, ignore_errors=True)
