"""The Database object: URL mapping, pool settings, what every pooled connection gets, and the
write discipline (write lock, BEGIN IMMEDIATE, units of work, checkpoints)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Integer, bindparam, select, text
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from twofold.core.errors import BackendUnavailable
from twofold.storage import migrate
from twofold.storage import postgresql as postgresql_module
from twofold.storage import sqlite as sqlite_module
from twofold.storage.database import Database
from twofold.storage.sqlite import writer
from twofold.storage.urls import async_url, sync_url

from ._backends import _admin_connect, postgres_schema


@pytest.mark.parametrize(
    ("url", "expected_async", "expected_sync"),
    [
        ("sqlite:///var/t.db", "sqlite+aiosqlite:///var/t.db", "sqlite:///var/t.db"),
        ("sqlite:////abs/t.db", "sqlite+aiosqlite:////abs/t.db", "sqlite:////abs/t.db"),
        ("sqlite+aiosqlite:///t.db", "sqlite+aiosqlite:///t.db", "sqlite:///t.db"),
        (
            "postgresql://u:p@db:5432/twofold",
            "postgresql+psycopg://u:p@db:5432/twofold",
            "postgresql+psycopg://u:p@db:5432/twofold",
        ),
        (
            "postgres://u:p@db/twofold",
            "postgresql+psycopg://u:p@db/twofold",
            "postgresql+psycopg://u:p@db/twofold",
        ),
    ],
)
def test_url_mapping(url: str, expected_async: str, expected_sync: str) -> None:
    assert async_url(url).render_as_string(hide_password=False) == expected_async
    assert sync_url(url) == expected_sync


def test_unsupported_backend() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        async_url("mysql://u@h/db")
    with pytest.raises(ValueError, match="unsupported"):
        sync_url("mysql://u@h/db")


@pytest.mark.anyio
async def test_sqlite_pragmas_on_every_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'dir' / 'twofold.db'}"
    database = Database.open(url)
    try:
        assert (tmp_path / "new" / "dir").is_dir()
        expected = {"journal_mode": "wal", "busy_timeout": 10000, "foreign_keys": 1}
        expected["synchronous"] = 1  # NORMAL

        async def check() -> None:
            async with database.engine.connect() as conn:
                for pragma, value in expected.items():
                    got = (await conn.execute(text(f"PRAGMA {pragma}"))).scalar_one()
                    assert got == value, pragma
                await anyio.sleep(0.01)  # hold the connection so the pool opens several

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(check)
    finally:
        await database.dispose()


def _try_write_lock(path: Path) -> bool:
    """Whether another connection could take SQLite's write lock right now (without waiting)."""
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


async def _sqlite_file(tmp_path: Path) -> tuple[Path, Database]:
    """A migrated SQLite file and a Database on it."""
    path = tmp_path / "twofold.db"
    url = f"sqlite:///{path}"
    await anyio.to_thread.run_sync(migrate.upgrade, url)
    return path, Database.open(url)


@pytest.mark.anyio
async def test_writers_take_the_write_lock_at_begin_and_readers_do_not(tmp_path: Path) -> None:
    # Two deferred transactions that both read and then write deadlock, and SQLite fails one
    # with "database is locked" without honouring busy_timeout. Taking the lock at BEGIN makes
    # the second writer wait instead; readers must not take it, or they would queue behind writes.
    path, database = await _sqlite_file(tmp_path)
    try:
        async with database.engine.connect() as conn:
            await conn.execute(text("SELECT count(*) FROM state"))
            assert conn.in_transaction()
            assert _try_write_lock(path)
        async with writer(database.engine).begin() as conn:
            await conn.execute(text("SELECT count(*) FROM state"))
            assert not _try_write_lock(path)
        assert _try_write_lock(path)
    finally:
        await database.dispose()


@pytest.mark.anyio
async def test_pool_size_overflow_and_timeout_are_honoured(database_url: str) -> None:
    database = Database.open(database_url, pool_size=2, max_overflow=1, pool_timeout=0.2)
    engine = database.engine
    try:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(3):  # pool_size + max_overflow
                conn = await stack.enter_async_context(engine.connect())
                await conn.execute(text("SELECT 1"))
            # A fourth checkout finds none free and gives up after pool_timeout.
            with pytest.raises(sa_exc.TimeoutError):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        async with engine.connect() as conn:  # returned connections are reused
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await database.dispose()


@contextlib.asynccontextmanager
async def _postgresql_database(label: str) -> AsyncIterator[Database]:
    with postgres_schema(label) as url:
        database = Database.open(url, connect_timeout=3)
        try:
            yield database
        finally:
            await database.dispose()


@pytest.mark.anyio
async def test_postgresql_sessions_are_named_and_bounded() -> None:
    async with _postgresql_database("engine") as database:
        async with database.engine.connect() as conn:
            name = (await conn.execute(text("SHOW application_name"))).scalar_one()
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
        assert name == "twofold"
        assert schema.startswith("twofold_engine_")
        assert database.dialect_name == "postgresql"
        assert not database.is_sqlite


async def _backend_pids(database: Database) -> set[int]:
    async with database.read_connection() as conn:
        return {(await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()}


def _terminate(pids: set[int]) -> None:
    with _admin_connect() as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.anyio
async def test_postgresql_connections_the_server_closed_are_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pinged before use when idle (here: any idle time at all), so the read after the server
    # closed the connection just works.
    monkeypatch.setattr(postgresql_module, "IDLE_BEFORE_PING_S", 0.0)
    async with _postgresql_database("ping") as database:
        first = await _backend_pids(database)
        assert await _direct_read(database, 1) == 1
        _terminate(first)
        assert (await _backend_pids(database)).isdisjoint(first)
        # The direct path's cursors went with the connection they belonged to.
        assert await _direct_read(database, 2) == 2


async def _direct_read(database: Database, value: int) -> object:
    """A statement with a compiled plan: it runs on the pooled connection's kept cursors."""
    async with database.read_connection() as conn:
        return (await conn.execute(_ECHO, {"n": value})).scalar_one()


_ECHO = select(bindparam("n", type_=Integer))


@pytest.mark.anyio
async def test_postgresql_connections_in_brisk_use_fail_once_then_are_replaced() -> None:
    # Used within the idle window, a connection is not pinged: the server closing it fails one
    # request as unavailable (503), and every connection older than that loss is then pinged.
    async with _postgresql_database("ping") as database:
        first = await _backend_pids(database)
        _terminate(first)
        with pytest.raises(BackendUnavailable):
            await _backend_pids(database)
        assert (await _backend_pids(database)).isdisjoint(first)


@pytest.mark.anyio
async def test_an_unreachable_postgresql_fails_within_the_connect_timeout() -> None:
    # Nothing listens on port 1: refused at once, never a hang.
    database = Database.open("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2)
    try:
        with pytest.raises(sa_exc.OperationalError):
            async with database.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        with pytest.raises(BackendUnavailable) as unreachable:
            await database.ping()
        assert isinstance(unreachable.value.__cause__, sa_exc.OperationalError)
        assert unreachable.value.status == 503
    finally:
        await database.dispose()


@pytest.mark.anyio
async def test_sqlite_file_statements_run_on_the_blocking_twin(tmp_path: Path) -> None:
    # The serving path on a SQLite file: reads take no lock, a write transaction holds the write
    # lock from its BEGIN to its end, and both go through the blocking driver, not aiosqlite.
    path, database = await _sqlite_file(tmp_path)
    try:
        twin = database.blocking_engine
        assert twin is not None
        assert twin.dialect.driver == "pysqlite"
        async with database.read_connection() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM state"))).scalar_one() == 0
            assert _try_write_lock(path)
        async with database.write_transaction() as conn:
            await conn.execute(text("INSERT INTO state VALUES ('k', 'v', 1e12)"))
            assert not _try_write_lock(path)
        assert _try_write_lock(path)
        async with database.read_connection() as conn:
            assert (await conn.execute(text("SELECT value FROM state"))).scalar_one() == "v"
        with contextlib.suppress(RuntimeError):
            async with database.write_transaction() as conn:
                await conn.execute(text("DELETE FROM state"))
                raise RuntimeError("rolled back")
        async with database.read_connection() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM state"))).scalar_one() == 1
        wal = path.with_name(path.name + "-wal")
        assert wal.exists()
    finally:
        await database.dispose()
    # SQLite removes the write-ahead log when its last connection closes: dispose closed the
    # twin's kept-open connections too.
    assert not wal.exists()


@pytest.mark.anyio
async def test_sqlite_writer_waits_for_another_process_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    # Another process holding SQLite's write lock must not stall this process's event loop:
    # the writer retries in asyncio sleeps, so other tasks keep running meanwhile.
    path, database = await _sqlite_file(tmp_path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        ticks = 0
        written = anyio.Event()

        async def write() -> None:
            async with database.write_transaction() as conn:
                await conn.execute(text("INSERT INTO state VALUES ('k', 'v', 1e12)"))
            written.set()

        async def tick() -> None:
            nonlocal ticks
            while not written.is_set():
                ticks += 1
                await anyio.sleep(0.005)

        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            tg.start_soon(tick)
            await anyio.sleep(0.2)
            assert not written.is_set()
            progressed = ticks
            other.execute("COMMIT")
        assert progressed >= 10  # the loop ran other tasks while the writer waited
        assert other.execute("SELECT value FROM state WHERE key = 'k'").fetchone() == ("v",)
    finally:
        other.close()
        await database.dispose()


@pytest.mark.anyio
async def test_sqlite_writer_gives_up_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_MS", 100)
    path, database = await _sqlite_file(tmp_path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(BackendUnavailable) as refused:
            async with database.write_transaction() as conn:
                await conn.execute(text("DELETE FROM state"))
        # The core's 503, from the driver's "database is locked".
        assert isinstance(refused.value.__cause__, sa_exc.OperationalError)
        assert "locked" in str(refused.value.__cause__)
        other.execute("ROLLBACK")
        async with database.write_transaction() as conn:  # the connection went back to the pool
            await conn.execute(text("DELETE FROM state"))
    finally:
        other.close()
        await database.dispose()


@pytest.mark.anyio
async def test_unit_of_work_commits_together_or_not_at_all(database_url: str) -> None:
    await anyio.to_thread.run_sync(migrate.upgrade, database_url)
    database = Database.open(database_url)
    insert = text("INSERT INTO state VALUES (:k, 'v', 1e12)")

    async def keys() -> set[str]:
        async with database.read_connection() as conn:
            return {row[0] for row in (await conn.execute(text("SELECT key FROM state"))).all()}

    try:
        async with database.unit_of_work():
            for key in ("a", "b"):
                async with database.write_transaction() as conn:
                    await conn.execute(insert.bindparams(k=key))
            # Joined, not committed: a reader on another connection does not see them yet.
            assert await keys() == set()
        assert await keys() == {"a", "b"}

        async def undone() -> None:
            async with database.unit_of_work():
                async with database.write_transaction() as conn:
                    await conn.execute(insert.bindparams(k="c"))
                # Nested: the same unit.
                async with database.unit_of_work(), database.write_transaction() as conn:
                    await conn.execute(insert.bindparams(k="d"))
                raise RuntimeError("undo")

        with pytest.raises(RuntimeError):
            await undone()
        assert await keys() == {"a", "b"}
    finally:
        await database.dispose()


@pytest.mark.anyio
async def test_unit_of_work_refuses_writes_from_child_tasks(tmp_path: Path) -> None:
    # A task started inside a unit inherits its context variables. Writing on the unit's
    # connection would interleave with the parent, and a transaction of its own would wait for
    # the parent's lock while the parent waits for the child: it must fail, not hang.
    _, database = await _sqlite_file(tmp_path)
    insert = text("INSERT INTO state VALUES ('k', 'v', 1e12)")
    try:
        errors: list[BaseException] = []
        async with database.unit_of_work():
            async with database.write_transaction() as parent:
                await parent.execute(insert)

            async def child() -> None:
                try:
                    async with database.write_transaction() as conn:
                        await conn.execute(text("DELETE FROM state"))
                except RuntimeError as exc:
                    errors.append(exc)

            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(child)
            async with database.write_transaction() as again:
                assert again is parent  # the parent still writes in its unit
        assert len(errors) == 1
        assert "unit of work" in str(errors[0])
        async with database.read_connection() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM state"))).scalar_one() == 1
    finally:
        await database.dispose()


@pytest.mark.anyio
async def test_checkpoint_copies_the_log_back_off_the_loop(database_url: str) -> None:
    await anyio.to_thread.run_sync(migrate.upgrade, database_url)
    database = Database.open(database_url)
    try:
        if not database.is_sqlite:
            assert await database.checkpoint() is False
            return
        async with database.write_transaction() as conn:
            for i in range(50):
                await conn.execute(text(f"INSERT INTO state VALUES ('k{i}', 'v', 1e12)"))
        async with database.read_connection() as conn:
            # The loop's connections leave checkpoints to the server's thread (a safety net only
            # for a WAL grown past ~40 MB).
            pages = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
            assert pages == 10_000
        path = Path(make_url(database_url).database or "")
        assert b"k49" not in path.read_bytes()  # still only in the write-ahead log
        assert await database.checkpoint() is True
        assert b"k49" in path.read_bytes()
    finally:
        await database.dispose()


@pytest.mark.anyio
async def test_refused_takes_inside_units_never_wait_for_a_second_connection(
    database_url: str,
) -> None:
    # An MFA grant takes its attempt inside its unit of work. A refused take reads the bucket
    # for Retry-After; on another pooled connection that read would wait for the pool while the
    # unit holds the bucket's row lock (PostgreSQL), and a burst against an empty bucket would
    # hold every connection: pool timeouts instead of 429s.
    from twofold.core.attempts import mfa_attempts
    from twofold.core.clock import FrozenClock
    from twofold.core.errors import TooManyAttempts
    from twofold.state.sql import SqlStateStore
    from twofold.storage.repositories import SqlStorage

    await anyio.to_thread.run_sync(migrate.upgrade, database_url)
    database = Database.open(database_url, pool_size=2, pool_timeout=2.0)
    storage = SqlStorage(database)
    clock = FrozenClock(1_000_000.0)
    bucket = mfa_attempts(SqlStateStore(database, clock), clock, 3, 360.0)
    outcomes: list[str] = []

    async def guess() -> None:
        try:
            async with storage.unit_of_work():
                await bucket.take("auth0|u")
            outcomes.append("taken")
        except TooManyAttempts:
            outcomes.append("429")
        except Exception as exc:  # the pool's TimeoutError, say
            outcomes.append(type(exc).__name__)

    try:
        for _ in range(3):
            await guess()
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(guess)
        assert outcomes == ["taken"] * 3 + ["429"] * 8
    finally:
        await database.dispose()


@pytest.mark.anyio
@pytest.mark.parametrize("row", ["absent", "expired"])
async def test_a_held_bucket_stays_locked_until_its_unit_ends(database_url: str, row: str) -> None:
    # On a transactional store an MFA grant does not take its attempt up front: it holds the
    # bucket (locks its row and reads it), acts, and writes the attempt only for a failure.
    # A burst of wrong codes must still get at most `capacity` of them answered, which holds
    # only if the hold locks, a row that is not there yet (PostgreSQL locks no missing row on
    # SELECT … FOR UPDATE) or an expired one included. Each guess dawdles inside its unit, so
    # without the lock every one of them would read the bucket before any wrote to it.
    from twofold.core.attempts import mfa_attempts
    from twofold.core.clock import FrozenClock
    from twofold.core.errors import TooManyAttempts
    from twofold.state.sql import SqlStateStore
    from twofold.storage.repositories import SqlStorage

    await anyio.to_thread.run_sync(migrate.upgrade, database_url)
    database = Database.open(database_url)
    storage = SqlStorage(database)
    clock = FrozenClock(1_000_000.0)
    store = SqlStateStore(database, clock)
    bucket = mfa_attempts(store, clock, 3, 360.0)
    outcomes: list[str] = []

    async def guess() -> None:
        try:
            async with storage.unit_of_work():
                hold = await bucket.hold("auth0|u")
                await anyio.sleep(0.05)  # comparing the code, writing the audit row
                await hold.settle()  # a wrong code: not given back
            outcomes.append("answered")
        except TooManyAttempts:
            outcomes.append("429")

    try:
        if row == "expired":
            for _ in range(3):
                await guess()
            clock.advance(3 * 360.0 + 1)  # expired, still in the table
            assert await store.gcra_hold("attempts:mfa:auth0|u") is None
            outcomes.clear()
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(guess)
        assert sorted(outcomes) == ["429"] * 5 + ["answered"] * 3
        assert (await bucket.remaining("auth0|u"))[0] == 0
    finally:
        await database.dispose()


@pytest.mark.anyio
async def test_a_unit_rolled_back_by_sqlite_itself_fails_instead_of_committing_nothing(
    tmp_path: Path,
) -> None:
    # SQLite rolls a whole transaction back on some errors (disk full, I/O error, a trigger's
    # RAISE(ROLLBACK)). The audit trail swallows its own errors; the unit it was part of must
    # then fail, not "commit" with every other write silently gone.
    path, database = await _sqlite_file(tmp_path)
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.execute(
            "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events "
            "BEGIN SELECT RAISE(ROLLBACK, 'disk full, say'); END"
        )
    insert = text("INSERT INTO state VALUES (:k, 'v', 1e12)")
    from twofold.core.models import AuditEvent
    from twofold.storage.repositories import SqlStorage

    storage = SqlStorage(database)

    async def grant() -> None:
        async with database.unit_of_work():
            async with database.write_transaction() as conn:
                await conn.execute(insert.bindparams(k="spent"))
            with contextlib.suppress(Exception):  # as core/audit.py does
                await storage.audit.record(AuditEvent(type="s", at=1.0, description="s"))

    try:
        with pytest.raises(BackendUnavailable) as failed:
            await grant()
        assert isinstance(failed.value.__cause__, sa_exc.OperationalError)
        assert "rolled back" in str(failed.value.__cause__)
        async with database.read_connection() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM state"))).scalar_one() == 0
    finally:
        await database.dispose()


@pytest.mark.anyio
async def test_a_postgresql_unit_whose_transaction_aborted_fails_instead_of_committing() -> None:
    # PostgreSQL answers COMMIT in an aborted transaction with a silent ROLLBACK. A failed
    # statement whose error was swallowed without rolling back to a savepoint must fail the
    # unit, not let it "commit" with every other write gone.
    insert = text("INSERT INTO spent VALUES (:k)")
    async with _postgresql_database("aborted") as database:
        async with database.write_transaction() as conn:
            await conn.execute(text("CREATE TABLE spent (k text)"))

        async def grant() -> None:
            async with database.unit_of_work(), database.write_transaction() as conn:
                await conn.execute(insert.bindparams(k="spent"))
                with contextlib.suppress(sa_exc.DBAPIError):
                    await conn.execute(text("SELECT * FROM no_such_table"))

        with pytest.raises(BackendUnavailable) as failed:
            await grant()
        assert isinstance(failed.value.__cause__, sa_exc.OperationalError)
        assert "aborted" in str(failed.value.__cause__)
        async with database.read_connection() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM spent"))).scalar_one() == 0
            # The pool's connections are usable afterwards.
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


@pytest.mark.anyio
async def test_a_shared_connection_carries_the_reads_and_the_units_of_its_task(
    database_url: str,
) -> None:
    await anyio.to_thread.run_sync(migrate.upgrade, database_url)
    database = Database.open(database_url)
    insert = text("INSERT INTO state VALUES (:k, 'v', 1e12)")
    count = text("SELECT count(*) FROM state")
    checkouts: list[object] = []
    sa_event.listen(database.engine.sync_engine.pool, "checkout", lambda *_: checkouts.append(None))
    on_postgresql = database.dialect_name == "postgresql"

    async def counted() -> int:
        async with database.read_connection() as conn:
            return int((await conn.execute(count)).scalar_one())

    try:
        async with database.write_transaction() as conn:
            await conn.execute(insert.bindparams(k="a"))
        checkouts.clear()
        async with database.shared_connection():
            for _ in range(3):
                assert await counted() == 1
            # Nested: the same connection.
            async with database.shared_connection():
                assert await counted() == 1
            # A unit inside it runs on it too: on PostgreSQL its reads are the unit's (a SQLite
            # file reads on its own connection, which sees what is committed).
            async with database.unit_of_work(), database.write_transaction() as conn:
                await conn.execute(insert.bindparams(k="b"))
                assert await counted() == (2 if on_postgresql else 1)
            assert await counted() == 2

            # A unit that fails rolls back, and the connection goes on in autocommit.
            async def undone() -> None:
                async with database.unit_of_work(), database.write_transaction() as conn:
                    await conn.execute(insert.bindparams(k="c"))
                    raise RuntimeError("undo")

            with pytest.raises(RuntimeError, match="undo"):
                await undone()
            assert await counted() == 2

            if on_postgresql:
                # A write transaction opened inside another one on the same connection would
                # commit with it: refused.
                async with database.write_transaction():
                    with pytest.raises(RuntimeError, match="already open"):
                        async with database.write_transaction():
                            pass
        # PostgreSQL: one checkout for the whole block. A SQLite file reads and writes on its
        # blocking twin's connections, outside this pool.
        assert len(checkouts) == (1 if on_postgresql else 0)

        # A task started inside the block takes connections of its own.
        async with database.shared_connection(), anyio.create_task_group() as tasks:
            tasks.start_soon(counted)
        # Back in the pool, clean: writes and reads work again.
        async with database.write_transaction() as conn:
            await conn.execute(insert.bindparams(k="d"))
        assert await counted() == 3
    finally:
        await database.dispose()
