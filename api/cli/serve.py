"""`riskmap serve`: the HTTP API and the map page."""

from __future__ import annotations

import typer
import uvicorn

from api.cli.common import console
from api.settings import api_settings


def serve_app(host: str, port: int, workers: int = 1, log_level: str = "info") -> None:
    """Run the app the way production does: uvicorn with uvloop and httptools, each answer in one write,
    and with several workers one `SO_REUSEPORT` socket each (see `api.server`)."""
    from api.privacy import ensure_id_key
    from api.server import CoalescingHttpToolsProtocol, serve_workers

    ensure_id_key()  # workers inherit one household-token key (a random one if none is configured)
    console.print(f"riskmap serving on http://{host}:{port}  (map: http://{host}:{port}/map)")
    config = uvicorn.Config(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,
        access_log=False,  # riskmap writes its own access log (api.trust)
        server_header=False,  # no "server: uvicorn" line on every answer: it tells callers nothing they need
    )
    if workers > 1:
        serve_workers(config, workers)
    else:
        uvicorn.Server(config).run()


def register(app: typer.Typer) -> None:
    settings = api_settings()

    @app.command("serve")
    def serve(
        host: str = typer.Option(settings.host, help="interface to listen on"),
        port: int = typer.Option(settings.port, help="port"),
        workers: int = typer.Option(settings.workers, help="worker processes"),
        log_level: str = typer.Option("info", help="uvicorn log level"),
    ) -> None:
        """Serve the API and the map from the configured store's current snapshot."""
        serve_app(host, port, workers, log_level)
