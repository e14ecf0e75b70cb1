"""The ``aqd`` entry point: the engine's commands plus ``serve`` (which needs the API)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api import bootstrap
from api import demo as demo_service
from engine import analytics, logs
from engine.access import scope
from engine.cli import analytics_app, app
from engine.cli_support import guard, open_engine, run
from engine.config import get_settings

if TYPE_CHECKING:
    import uvicorn


@app.command("serve")
def serve_cmd(
    host: str = "127.0.0.1",
    port: int = 8000,
    timers: Annotated[
        bool, typer.Option(help="Poll due timers in-process (the embedded default).")
    ] = True,
) -> None:
    """Start the HTTP API (and, by default, the in-process timer poller)."""
    import uvicorn  # noqa: PLC0415 (the web server loads for serve/dev-idp only)

    from api.app import create_app  # noqa: PLC0415 (FastAPI loads for serve only)

    aqd = open_engine()
    logs.configure_process(get_settings(), service=True)
    application = create_app(aqd, run_timers=timers, timer_interval_s=get_settings().timer_poll_s)
    typer.echo(
        f"Aqd is running: http://{host}:{port}/ (API: /docs, health: /healthz, ready: /readyz)"
    )
    uvicorn.Server(server_config(application, host, port)).run()


def server_config(application: Any, host: str, port: int) -> uvicorn.Config:
    """How ``aqd serve`` runs ``application`` (a ``uvicorn.Config``; the live-server tests use
    it too). ``proxy_headers=False``: uvicorn would trust ``X-Forwarded-For`` from 127.0.0.1
    by default; the application reads it from ``AQD_TRUSTED_PROXIES`` only (api/proxies.py)."""
    import uvicorn  # noqa: PLC0415 (the web server loads for serve/dev-idp only)

    return uvicorn.Config(
        application, host=host, port=port, log_level="warning", proxy_headers=False
    )


@app.command("dev-idp")
def dev_idp_cmd(
    host: str = "127.0.0.1",
    port: int = 9000,
    client_id: str = "aqd",
    client_secret: str = "dev",  # noqa: S107 (the local provider only)
    redirect: Annotated[
        str, typer.Option(help="Aqd's callback URL (its public URL + /login/oidc/callback).")
    ] = "http://127.0.0.1:8000/login/oidc/callback",
) -> None:
    """Run a local OpenID Connect provider for development (never in production)."""
    import uvicorn  # noqa: PLC0415 (the web server loads for serve/dev-idp only)

    from api.dev_idp import DevIdentityProvider  # noqa: PLC0415 (FastAPI loads for dev-idp only)

    idp = DevIdentityProvider(f"http://{host}:{port}", {client_id: (client_secret, (redirect,))})
    typer.echo(
        f"Development identity provider: http://{host}:{port}/ — start Aqd with "
        f"AQD_OIDC_ISSUER=http://{host}:{port} AQD_OIDC_CLIENT_ID={client_id} "
        f"AQD_OIDC_CLIENT_SECRET={client_secret}"
    )
    uvicorn.run(idp.app(), host=host, port=port, log_level="warning")


@analytics_app.command("report")
def analytics_report_cmd(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    out: Annotated[Path, typer.Option(help="Where to write the PDF.")],
    programme: Annotated[str | None, typer.Option(help="Programme key.")] = None,
    office: Annotated[str | None, typer.Option(help="Office code.")] = None,
) -> None:
    """The printable monthly report (PDF, French and Arabic) for the steering committee."""
    from api.reports import monthly_pdf  # noqa: PLC0415 (WeasyPrint loads for the report only)

    aqd = open_engine()

    def run() -> bytes:
        with aqd.read_session() as s:
            return monthly_pdf(s, analytics.Scope(programme, office), month, aqd.clock.now())

    pdf = guard(run)
    out.write_bytes(pdf)
    typer.echo(f"wrote {out} ({len(pdf)} bytes)")


documents_app = typer.Typer(
    help="Contract documents: the rendered and signed PDFs, and the uploads to tasks."
)
app.add_typer(documents_app, name="documents")


@documents_app.command("export")
def documents_export(
    contract: Annotated[str, typer.Argument(help="Contract number or id")],
    directory: Annotated[Path, typer.Argument(help="Folder to write the PDFs to")],
) -> None:
    """Write every version of a contract's document (signed ones included) to DIRECTORY."""
    from signing import service  # noqa: PLC0415 (pyHanko loads for the export only)

    aqd = open_engine()

    def run() -> list[Path]:
        with aqd.session() as s:
            contract_id = scope.visible_contract(s, service.SYSTEM, contract).id
        return service.export_documents(aqd, contract_id, directory)

    written = guard(run)
    for path in written:
        typer.echo(str(path))
    if not written:
        typer.echo(f"contract {contract} has no document yet", err=True)


@documents_app.command("expire")
def documents_expire() -> None:
    """Delete the pending uploads that expired (no task completed with them; the scheduler
    runs it hourly)."""
    from engine.inbox.documents import expire_pending  # noqa: PLC0415

    freed = guard(lambda: expire_pending(open_engine()))
    typer.echo(f"{freed['files']} expired uploads deleted, {freed['bytes']} bytes freed")


@app.command("demo")
def demo_cmd() -> None:
    """Seed the demo data (6 pilot offices, people, contracts); safe to run twice."""
    aqd = open_engine()

    report = guard(lambda: demo_service.seed(aqd))
    typer.echo(report.summary())


def main() -> None:
    """``aqd``: every command runs on the application's engine (``api.bootstrap``: every
    plug-in, signing's included; pyHanko is loaded when a signing plug-in first runs)."""
    run(app, bootstrap.build)


if __name__ == "__main__":
    main()
