"""`ledger serve`: the HTTP API on uvicorn (see docs/api.md)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Annotated

import typer

from ledger.cli import root as app, fail, user_errors

if TYPE_CHECKING:
    import subprocess

    from ledger.settings import Settings

DEV_TOKEN_ENV = "LEDGER_API_DEV_TOKEN_SHA256"
FOLLOWER_START_SECONDS = 30.0  # opening the store and its tables; normally well under a second


def prepare_store(settings: Settings) -> None:
    """Create every table once, here, before the workers start: worker processes creating the same
    tables at the same moment collide in PostgreSQL's catalogue (CREATE TABLE IF NOT EXISTS is not
    safe against a concurrent CREATE of the same name)."""
    from ledger.api.services import Services

    Services.open(settings, settings.api.model_copy(update={"follow": False, "max_batch": 1})).close()


def start_follower(settings: Settings) -> subprocess.Popen[bytes] | None:
    """On PostgreSQL, the projection catch-up in a process of its own (`ledger projections follow`,
    ADR 0031), started before the workers so they find its lead taken and only watch. Its output
    is relayed to ours; it stops when we close its stdin (or die)."""
    import subprocess
    import sys
    import threading

    from ledger.cli.projections import LEADING, WATCHING
    from ledger.db import Database

    if not (settings.api.follow and settings.api.follower_process) or not Database(settings.database_url).is_postgres:
        return None
    child = subprocess.Popen(
        [sys.executable, "-c", "from ledger.cli import main; main()", "projections", "follow",
         "--interval", f"{settings.api.catch_up_seconds}", "--until-stdin-closes"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "LEDGER_DATABASE_URL": settings.database_url})
    started = threading.Event()

    def relay() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if LEADING.encode() in line or WATCHING.encode() in line:
                started.set()
            sys.stderr.buffer.write(line)
            sys.stderr.flush()

    threading.Thread(target=relay, name="ledger-follower-output", daemon=True).start()
    deadline = time.monotonic() + FOLLOWER_START_SECONDS
    while not started.wait(0.1):
        if child.poll() is not None:
            fail(f"the projection follower process stopped at start (exit {child.returncode}); its message is above")
        if time.monotonic() > deadline:  # the workers' threads will lead meanwhile: slower, not wrong
            typer.echo("warning: the projection follower process has not started yet; serving anyway", err=True)
            break
    return child


def stop_follower(child: subprocess.Popen[bytes] | None) -> None:
    if child is None:
        return
    import subprocess

    try:
        if child.stdin is not None:
            child.stdin.close()  # its signal to stop
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def port_free(host: str, port: int) -> bool:
    """Can we listen on host:port now? (Asked before the slow start, so a busy port is said at once.)"""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@app.command("serve")
@user_errors
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    dev_token: Annotated[bool, typer.Option(
        "--dev-token", help="create a throwaway administrator token for this run and print it once")] = False,
    workers: Annotated[int, typer.Option(min=1, max=32, help="worker processes (one Ledger each)")] = 1,
    log_format: Annotated[str, typer.Option(help="auto (console on a terminal, JSON otherwise), console or json")] = "",
) -> None:
    """Serve the HTTP API. Tokens come from LEDGER_TOKENS_FILE; without it, only with --dev-token."""
    import uvicorn

    from ledger.api.auth import dev_token as new_dev_token
    from ledger.api.auth import token_sha256
    from ledger.api.logs import configure_logging
    from ledger.api.main import app_from_env
    from ledger.settings import Settings

    if not port_free(host, port):
        fail(f"port {port} on {host} is in use (another `ledger serve` or `ledger demo`?); pass --port {port + 1}")
    settings = Settings.from_env()  # the edge: read once here, and once more by each worker's app factory
    fmt = log_format or settings.log_format
    if fmt not in ("auto", "console", "json"):
        fail(f"--log-format must be auto, console or json, not {fmt!r}")
    configure_logging(fmt)
    if dev_token:
        token = new_dev_token()
        # Only the hash travels to the worker processes; the token itself is shown here once.
        os.environ[DEV_TOKEN_ENV] = token_sha256(token)
        typer.echo(f"development token (administrator, every municipality), shown once:\n  {token}\n"
                   f"  curl -H 'Authorization: Bearer {token}' http://{host}:{port}/ready", err=True)
    app_from_env()  # refuse to start (exit 2) before binding when tokens or settings are wrong
    prepare_store(settings)
    typer.echo(f"serving the ledger API on http://{host}:{port} (docs: /docs, OpenAPI: /openapi.json); "
               "Ctrl-C stops it", err=True)
    follower = start_follower(settings)
    try:
        uvicorn.run("ledger.api.main:app_from_env", factory=True, host=host, port=port, workers=workers,
                    access_log=False, log_level="warning", timeout_graceful_shutdown=10)
    except SystemExit as e:  # uvicorn exits when it cannot bind
        if e.code:
            fail(f"the server stopped (could {host}:{port} be in use?)")
    finally:
        stop_follower(follower)
