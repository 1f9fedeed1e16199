"""Which database errors mean "the database is unavailable right now", as opposed to a bad
request (a duplicate key, a value no column can hold) or a bug.

Unavailable: the pool found no free connection in time, a connection could not be opened or was
lost (the server went away, a failover, a network cut), SQLite's write lock stayed taken past the
busy timeout, or SQLite itself rolled the transaction back (disk full, I/O error). Each of these
leaves nothing written and may well succeed when retried, so the adapters raise the core's
`BackendUnavailable` (503 with Retry-After) in their place; the driver's message, which can name
hosts and ports, goes no further than the exception chain in the server's own logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc

from twofold.core.errors import BackendUnavailable


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, exc.TimeoutError):  # no pooled connection free within pool_timeout
        return True
    if isinstance(error, exc.PendingRollbackError):
        # The connection was lost inside the transaction (during COMMIT, say): SQLAlchemy
        # refuses to reconnect until the transaction is rolled back, which ending it does.
        return True
    if isinstance(error, exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, exc.OperationalError | exc.InterfaceError
        )
    return False


def unavailable(error: exc.SQLAlchemyError) -> BackendUnavailable:
    cause = error.orig if isinstance(error, exc.DBAPIError) else error
    return BackendUnavailable("database", debug=type(cause).__name__)


@contextmanager
def translated() -> Iterator[None]:
    """Inside it, a database error that means "unavailable" becomes `BackendUnavailable`;
    any other error passes unchanged."""
    try:
        yield
    except exc.SQLAlchemyError as error:
        if is_unavailable(error):
            raise unavailable(error) from error
        raise
