"""`twofold serve` and `twofold migrate`."""

from __future__ import annotations

import errno
import logging
import os
import socket

import click

from twofold import serving
from twofold.cli.common import count_option, run, settings
from twofold.config import Settings

CHANNEL_VARIABLES = {
    "email": "TWOFOLD_EMAIL_CHANNEL",
    "sms": "TWOFOLD_SMS_CHANNEL",
    "voice": "TWOFOLD_VOICE_CHANNEL",
    "push": "TWOFOLD_PUSH_CHANNEL",
}


def check_port(host: str, port: int) -> None:
    """Fail now, before anything is written, when the address cannot be served (a second
    `make run` must not reset the demo credentials the first one printed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"--host {host}: cannot resolve ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port in TIME_WAIT is free, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is already in use (another twofold serve?): "
                    "stop it or choose another port with --port (make run PORT=...)"
                ) from None
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None


def _served_domain(host: str, port: int, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


@click.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from twofold.storage import migrate as migrations

    url = settings().database_url
    before = migrations.current_revision(url)
    migrations.upgrade(url)
    after = migrations.current_revision(url)
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    else:
        was = "an empty schema" if before is None else f"revision {before}"
        click.echo(f"database migrated from {was} to revision {after}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM certificate chain; serves HTTPS (with --tls-key).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM private key of --tls-cert.",
)
@count_option(
    "--workers", 1, 1, 64, "Worker processes (the machine's argon2 threads are split between them)."
)
@click.option("--demo", is_flag=True, help="Ensure a demo client and user and print them.")
def serve(
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    workers: int,
    demo: bool,
) -> None:
    """Serve the HTTP API (HTTPS with --tls-cert/--tls-key)."""
    from twofold.observability.logging import configure

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    config = settings()
    if demo and config.environment == "production":
        raise click.ClickException(
            "--demo is refused with TWOFOLD_ENVIRONMENT=production: it writes a demo client "
            "and user with known credentials into the database"
        )
    if problems := config.problems():
        raise click.ClickException(f"invalid configuration: {'; '.join(problems)}")
    check_port(host, port)
    if not config.domain:
        # The issuer, the MFA API audience and push enrolment URLs must name what is served.
        derived = _served_domain(host, port, bool(tls_cert))
        os.environ["TWOFOLD_DOMAIN"] = derived  # for the worker processes too
        config = settings()
        click.echo(
            f"warning: TWOFOLD_DOMAIN is not set: the issuer is {config.issuer} (what this "
            "server serves); set TWOFOLD_DOMAIN to the host name clients use",
            err=True,
        )
    if demo:
        from twofold.delivery.factory import chosen

        # A try-out needs no provider: a channel with none prints its messages here.
        for channel, provider in chosen(config).items():
            if not provider:
                os.environ[CHANNEL_VARIABLES[channel]] = "console"
        config = settings()
    configure(config.log_level, config.log_format)
    # Alembic's INFO lines on every start say nothing an operator needs.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if config.is_sqlite:
        from twofold.storage import migrate as migrations

        migrations.upgrade(config.database_url)
    if demo:
        _print_demo(config, host, port, tls=bool(tls_cert))
    else:
        run(lambda s: s.admin.ensure_signing_key())
    os.environ["TWOFOLD_SERVING_TLS"] = "1" if tls_cert else "0"
    if workers > 1 and "hashing_concurrency" not in config.model_fields_set:
        # The default is one argon2 thread per core for the process; with several workers that
        # runs cores x workers hashes at once, which thrashes memory (64 MiB each) and lowered
        # login throughput by ~15 % in bench/. Split the cores between the workers instead.
        share = max(1, (os.cpu_count() or 1) // workers)
        os.environ["TWOFOLD_HASHING_CONCURRENCY"] = str(share)
    serving.run(
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        header_read_timeout=config.header_read_timeout,
        body_read_timeout=config.body_read_timeout,
        metrics_port=config.metrics_port,
        metrics_host=config.metrics_host,
    )


def _print_demo(config: Settings, host: str, port: int, *, tls: bool) -> None:
    client, secret, user, password = run(lambda s: s.admin.ensure_demo())
    base = f"{'https' if tls else 'http'}://{host}:{port}"
    click.echo(
        "\n".join(
            [
                "",
                "Twofold is starting with a demo tenant:",
                f"  base URL       {base}",
                f"  issuer         {config.issuer}",
                f"  client_id      {client.client_id}",
                f"  client_secret  {secret}",
                f"  user           {user.email}",
                f"  password       {password}",
                "  (secret and password are new on every start; see README.md for the flow)",
                "",
            ]
        ),
        err=True,
    )
