"""``automaster serve``: the web studio on this machine."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path

import typer

from matcher.cli.common import errors, stdout
from matcher.errors import UsageError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. Any but loopback requires a token."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    data: Path | None = typer.Option(
        None, "--data", help="The studio's data folder (database, uploads, renders). Default: ~/.local/share/automaster/studio."
    ),
    max_upload_mb: float = typer.Option(1024.0, "--max-upload-mb", help="Largest upload accepted (MB)."),
    workers: int = typer.Option(2, "--workers", help="Worker processes for suggestions and renders."),
    token: str | None = typer.Option(
        None, "--token", help="The token every request must carry (default: none on loopback, a new one otherwise)."
    ),
) -> None:
    """Open the web studio: drop a mix, hear the suggestion, change it, render and download.

    Binds 127.0.0.1 by default. Binding another address requires a token (made when not given),
    printed in the URL; a request without it gets 401."""
    with errors():
        try:
            import uvicorn

            from matcher.studio.app import StudioConfig, create_app, default_data_dir
        except ImportError:
            raise UsageError("automaster serve needs the web studio's packages: pip install 'automaster[web]'") from None
        if max_upload_mb <= 0 or workers < 1:
            raise UsageError("--max-upload-mb must be positive and --workers at least 1")
        if token is None and not _loopback(host):
            token = secrets.token_urlsafe(24)
        folder = data if data is not None else default_data_dir()
        config = StudioConfig(folder, token, int(max_upload_mb * 1e6), workers)
        app = create_app(config)
        shown = host
        if host in ("0.0.0.0", "::"):  # every address: the machine's name is what others open
            import socket

            shown = socket.gethostname()
        shown = f"[{shown}]" if ":" in shown else shown
        url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
        stdout.print(f"automaster studio: {url} (data in {folder}; Ctrl-C stops it)", soft_wrap=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
