"""How `riskmap serve` runs uvicorn: one write per answer, one listening socket per worker.

Two things a stock multi-worker uvicorn does that cost the risk endpoint its tail latency on a small
machine (measured with `benchmarks/serve.py`, 2 cores, 64 connections):

- **Two writes per answer.** Uvicorn's HTTP protocol writes the status line and headers when the app
  sends `http.response.start`, then the body on `http.response.body`: two `send()` system calls and,
  with `TCP_NODELAY`, two packets for the client to read. In a profile of `/healthz` under load the first
  write alone was a quarter of a worker's time. `CoalescingHttpToolsProtocol` wraps the connection's
  transport so that what one event-loop turn writes goes out as one `send()`, flushed by a callback
  scheduled for the end of that turn (before the loop next waits for I/O), and at once on close.
- **One shared listening socket.** Workers that accept from one socket take connections unevenly (the
  first to wake takes most: 41 of 64 connections on one of two workers), so one worker queues twice the
  requests of the other. `serve_workers` binds one socket per worker with `SO_REUSEPORT`: the kernel
  spreads connections over the workers by hash. A worker that dies is replaced on its own socket, so
  the connections queued there are served by its replacement, not lost.

Everything else is uvicorn's: its worker process (health pings, graceful shutdown), its config.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from typing import Any

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Process

log = logging.getLogger("riskmap.server")


class _CoalescingTransport:
    """A transport whose writes within one event-loop turn leave as one `send()`.

    At most `FLUSH_BYTES` wait: a streamed answer whose chunks come without the task yielding goes to the
    real transport as it grows, so its flow control (pause_writing → uvicorn's drain) still holds the
    stream back, instead of the whole stream piling up here."""

    __slots__ = ("_loop", "_pending", "_size", "_transport")
    FLUSH_BYTES = 1 << 16

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)
        self._size += len(data)
        if self._size >= self.FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(bytes(chunk))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:  # reads, pausing, extra info, abort: the real transport
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """Uvicorn's httptools protocol writing each answer (status line, headers, body) in one `send()`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]


def reuseport_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket in the port's `SO_REUSEPORT` group (one per worker)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def serve_workers(config: Config, workers: int) -> None:
    """Run `workers` uvicorn worker processes, each on its own `SO_REUSEPORT` socket, until SIGINT/SIGTERM;
    a worker that dies or stops answering health pings is replaced on its socket."""
    if not hasattr(socket, "SO_REUSEPORT"):  # not Linux/BSD: uvicorn's own supervisor, one shared socket
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    sockets = [reuseport_socket(config.host, config.port, config.backlog) for _ in range(workers)]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    processes = [Process(config, [sock]) for sock in sockets]
    for p in processes:
        p.start()
    log.info("serving with %d workers, one SO_REUSEPORT socket each", workers)
    try:
        while not stop.wait(0.5):
            for i, p in enumerate(processes):
                if stop.is_set() or p.is_alive(timeout=config.timeout_worker_healthcheck):
                    continue
                p.kill()
                p.join()
                if p.exitcode == STARTUP_FAILURE:  # the app cannot start: restarting it would fail alike
                    log.error("worker [%s] failed to start; stopping", p.pid)
                    stop.set()
                    break
                log.warning("worker [%s] died (exit code %s); replacing it", p.pid, p.exitcode)
                processes[i] = Process(config, [sockets[i]])
                processes[i].start()
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            p.join()
        for sock in sockets:
            sock.close()
