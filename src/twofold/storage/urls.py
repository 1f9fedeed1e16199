"""Plain database URLs in, URLs naming the drivers we ship out.

Operators write `sqlite:///var/twofold.db` or `postgresql://…`; the driver is our business. To
keep the tables in a dedicated PostgreSQL schema, put it in the URL:
`…/db?options=-csearch_path%3Dtwofold`.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def parse(url: str | URL) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgres":
        parsed = parsed.set(drivername="postgresql")
    return parsed


def async_url(url: str | URL) -> URL:
    """The URL with the asyncio driver we ship for its backend."""
    parsed = parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database backend: {backend}")


def sync_url(url: str | URL) -> str:
    """The URL with a blocking driver, for alembic and other code that runs outside the loop."""
    parsed = parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    elif backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    else:
        raise ValueError(f"unsupported database backend: {backend}")
    return parsed.render_as_string(hide_password=False)
