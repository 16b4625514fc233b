"""Start riskmap's app on an embedded store in a child process (as `riskmap serve` runs it), for the
map and export benchmarks: its own peak memory (VmHWM) can then be read from /proc.

    python benchmarks/serverproc.py STORE PORT [ROLE [WARD]]

With ROLE (e.g. ward_leader) every request is that role, scoped to WARD when given (the benchmarks
measure serving, not authentication).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(store: Path, role: str = "", ward: str = "", timeout: float = 900) -> tuple[subprocess.Popen, str]:
    """Start the server; return it and its URL once it serves a snapshot."""
    port = free_port()
    env = {**os.environ, "RISKMAP_API_AUTO_PREPARE": "false", "RISKMAP_TRUST_ACCESS_LOG": "false"}
    proc = subprocess.Popen(
        [sys.executable, __file__, str(store), str(port), role, ward],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/v1/snapshots/current", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not serve a snapshot in time")


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            fields[k] = int(v.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _serve(store: str, port: int, role: str, ward: str) -> None:
    sys.path.insert(0, str(ROOT))
    import uvicorn

    from api.app import create_app
    from api.security import Principal, authenticate
    from risk.store.embedded import EmbeddedStore

    app = create_app(store=EmbeddedStore(store))
    if role:
        who = Principal(
            f"bench-{role}", frozenset({role}), view_units=frozenset({ward}) if ward else None, via="bench"
        )

        async def as_role() -> Principal:
            return who

        app.dependency_overrides[authenticate] = as_role
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    args = [*sys.argv[1:], "", ""]
    _serve(args[0], int(args[1]), args[2], args[3])
