"""`riskmap serve`'s uvicorn set-up (api.server): answers leave in one write, and several workers each
listen on their own SO_REUSEPORT socket, share the connections, and are replaced when one dies."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from api.server import _CoalescingTransport

ROOT = Path(__file__).resolve().parents[2]


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


def test_writes_of_one_loop_turn_leave_as_one_write() -> None:
    async def run() -> _Recorder:
        loop = asyncio.get_running_loop()
        raw = _Recorder()
        t = _CoalescingTransport(raw, loop)  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        t.write(b"ok")
        assert raw.writes == [] and t.get_write_buffer_size() == 40
        await asyncio.sleep(0)  # the loop turn ends
        assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
        t.write(b"next")
        t.close()  # flushes first: nothing written before a close is lost
        assert raw.writes[-1] == b"next" and raw.closed
        assert t.get_extra_info("peername") == "extra:peername"  # everything else: the real transport
        return raw

    raw = asyncio.run(run())
    assert len(raw.writes) == 2


def test_a_long_stream_reaches_the_transport_as_it_grows() -> None:
    async def run() -> None:
        raw = _Recorder()
        t = _CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
        chunk = b"x" * 10_000
        for _ in range(20):  # 200 kB written within one loop turn
            t.write(chunk)
        assert sum(map(len, raw.writes)) >= 200_000 - _CoalescingTransport.FLUSH_BYTES
        assert t.get_write_buffer_size() < _CoalescingTransport.FLUSH_BYTES
        await asyncio.sleep(0)
        assert b"".join(raw.writes) == chunk * 20

    asyncio.run(run())


APP = textwrap.dedent(
    """
    import os

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/stream":  # a streamed answer: chunks over several turns, then the end
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(3):
                await send({"type": "http.response.body", "body": b"x" * 70000, "more_body": True})
            await send({"type": "http.response.body", "body": b"end"})
            return
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def workers(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "pidapp.py").write_text(APP)
    port = _free_port()
    script = textwrap.dedent(
        f"""
        import sys
        sys.path[:0] = [{str(tmp_path)!r}, {str(ROOT)!r}]
        import uvicorn
        from api.server import CoalescingHttpToolsProtocol, serve_workers
        config = uvicorn.Config("pidapp:app", host="127.0.0.1", port={port}, workers=2, loop="uvloop",
                                http=CoalescingHttpToolsProtocol, log_level="warning", access_log=False)
        serve_workers(config, 2)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            httpx.get(url + "/", timeout=2)
            break
        except httpx.HTTPError:
            assert proc.poll() is None, "the supervisor exited"
            assert time.time() < deadline, "workers not up in 60 s"
            time.sleep(0.2)
    yield proc, url
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)


def _pids(url: str, n: int) -> list[int]:
    """The worker answering each of n new connections (keep-alive off: a connection per request)."""
    return [int(httpx.get(url + "/", headers={"connection": "close"}, timeout=10).text) for _ in range(n)]


def test_workers_share_connections_and_a_dead_one_is_replaced(workers) -> None:  # type: ignore[no-untyped-def]
    proc, url = workers
    seen = _pids(url, 64)
    assert len(set(seen)) == 2, f"one worker took every connection: {set(seen)}"
    assert min(seen.count(p) for p in set(seen)) >= 10  # the kernel hashes connections over both sockets

    with httpx.Client(timeout=10) as c:  # keep-alive answers and a streamed body arrive whole
        assert all(c.get(url + "/").status_code == 200 for _ in range(20))
        assert c.get(url + "/stream").content == b"x" * 210000 + b"end"

    victim = seen[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.time() + 60
    while True:  # a replacement takes over the dead worker's socket: both sockets answer again
        try:
            now = set(_pids(url, 32))
        except httpx.HTTPError:
            now = set()
        if len(now) == 2 and victim not in now:
            break
        assert time.time() < deadline, f"no replacement for worker {victim}: answering {now}"
        time.sleep(0.5)

    os.killpg(proc.pid, signal.SIGTERM)  # a clean stop: the supervisor and its workers exit
    assert proc.wait(timeout=30) == 0
