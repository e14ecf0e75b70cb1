"""The ``aqd`` entry point: the engine's commands plus ``serve`` (which needs the API)."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli import _aqd, app
from engine.config import get_settings


@app.command("serve")
def serve_cmd(
    host: str = "127.0.0.1",
    port: int = 8000,
    timers: Annotated[
        bool, typer.Option(help="Poll due timers in-process (the embedded default).")
    ] = True,
) -> None:
    """Start the HTTP API (and, by default, the in-process timer poller)."""
    import uvicorn

    from api.app import create_app

    aqd = _aqd()
    application = create_app(aqd, run_timers=timers, timer_interval_s=get_settings().timer_poll_s)
    typer.echo(
        f"Aqd is running: http://{host}:{port}/ (API: /docs, health: /healthz, ready: /readyz)"
    )
    uvicorn.run(application, host=host, port=port, log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
