"""Count what a profiled process sends to its database and to Redis, per request.

For `profile_hot.py` only: it patches the drivers of the process it runs in.

- SQLite file: SQLite's own trace sees every statement on the blocking connections, BEGIN and
  COMMIT included (in process, so "round trips" here are calls into SQLite).
- PostgreSQL: every message exchange psycopg starts, counted where psycopg starts it, so the
  direct path (statements straight on psycopg) and SQLAlchemy's path both count: a statement
  (`cursor.execute`), and the commands psycopg sends on its own (BEGIN, COMMIT, ROLLBACK,
  SAVEPOINT…). The pool's pre-ping is a statement, so it counts too (and as `ping`). The
  direct path sends several statements as one simple-protocol query: that query is one round
  trip, counted as `QUERY`, and each statement in it as `in one query …` (not a round trip).
  In pipeline mode statements wait for nothing: each is counted as `pipelined …` (not a round
  trip), and each synchronisation point, where psycopg waits for the server, as `PIPELINE`.
- Redis: every packet redis-py sends (`send_packed_command`): one per command, one per
  pipeline or script call.
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Callable, Generator
from typing import Any

# Where a statement starts in a query of several (literals may hold "; " too, but not followed
# by one of these words in capitals: close enough for counting).
_NEXT_STATEMENT = re.compile(
    r"; (?=(?:WITH|SELECT|INSERT|UPDATE|DELETE|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b)"
)


class RoundTrips:
    """Counts by kind: the statement's first word, psycopg's own commands, `redis`."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.checkouts = 0

    @staticmethod
    def _kind(statement: object) -> str:
        text = statement.decode() if isinstance(statement, bytes) else str(statement)
        words = text.lstrip().split(None, 1)
        return words[0].upper().rstrip(";") if words else "PING"

    def _count_sql(self, statement: object) -> None:
        self.counts[self._kind(statement)] += 1

    def attach(self, database: Any, redis: bool) -> None:
        if not database.trace_statements(self._count_sql):
            self._patch_psycopg()
            self._count_checkouts(database.engine)
        if redis:
            self._patch_redis()

    def _patch_psycopg(self) -> None:
        import psycopg
        from psycopg._pipeline_base import BasePipeline

        def count(conn: Any, query: Any) -> None:
            text = query if isinstance(query, str | bytes) else "COMPOSED"
            if conn._pipeline is not None:
                self.counts["pipelined " + self._kind(text)] += 1
                return
            statements = _NEXT_STATEMENT.split(text) if isinstance(text, str) else [text]
            if len(statements) == 1:
                self._count_sql(text)
                return
            self.counts["QUERY"] += 1
            for statement in statements:
                self.counts["in one query " + self._kind(statement)] += 1

        execute = psycopg.AsyncCursor.execute

        @functools.wraps(execute)
        async def counted_execute(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            count(cursor.connection, query)
            return await execute(cursor, query, *args, **kwargs)

        command = psycopg.BaseConnection._exec_command

        @functools.wraps(command)
        def counted_command(conn: Any, cmd: Any, *args: Any, **kwargs: Any) -> Generator[Any]:
            count(conn, cmd)
            return (yield from command(conn, cmd, *args, **kwargs))

        def counted_sync(original: Any) -> Any:
            @functools.wraps(original)
            def sync(pipeline: Any) -> Generator[Any, Any, Any]:
                self.counts["PIPELINE"] += 1
                return (yield from original(pipeline))

            return sync

        psycopg.AsyncCursor.execute = counted_execute  # type: ignore[method-assign]
        psycopg.BaseConnection._exec_command = counted_command  # type: ignore[method-assign]
        BasePipeline._sync_gen = counted_sync(BasePipeline._sync_gen)  # type: ignore[method-assign]
        BasePipeline._exit_gen = counted_sync(BasePipeline._exit_gen)  # type: ignore[method-assign]

    def _count_checkouts(self, engine: Any) -> None:
        from sqlalchemy import event

        @event.listens_for(engine.sync_engine.pool, "checkout")
        def _checkout(*args: Any) -> None:
            self.checkouts += 1

    def _patch_redis(self) -> None:
        from redis.asyncio.connection import AbstractConnection

        counts = self.counts
        send: Callable[..., Any] = AbstractConnection.send_packed_command

        @functools.wraps(send)
        async def counted_send(conn: Any, *args: Any, **kwargs: Any) -> Any:
            counts["redis"] += 1
            return await send(conn, *args, **kwargs)

        AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]

    def reset(self) -> None:
        self.counts.clear()
        self.checkouts = 0

    def summary(self, n: int) -> str:
        sql = {k: v for k, v in self.counts.items() if k != "redis"}
        per = {k: round(v / n, 2) for k, v in sorted(sql.items())}
        trips = sum(v for k, v in sql.items() if not k.startswith(("pipelined ", "in one query ")))
        line = f"SQL round trips per request: {trips / n:.2f} {per}"
        line += f"; Redis round trips per request: {self.counts['redis'] / n:.2f}"
        return line + f"; pool checkouts per request: {self.checkouts / n:.2f}"
