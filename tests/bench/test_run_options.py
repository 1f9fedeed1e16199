"""bench/run.py flushes the Redis database it is given, so it must refuse one that others share,
and its report must say where the run kept Twofold's state."""

from __future__ import annotations

import pytest
import report
import run


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379",
        "redis://127.0.0.1:6379/",
        "redis://127.0.0.1:6379/0",
        "redis://127.0.0.1:6379?db=0",
        "http://127.0.0.1:6379/3",
    ],
)
def test_redis_database_zero_or_none_is_refused(url: str) -> None:
    with pytest.raises(SystemExit):
        run.parse_args(["--redis-url", url])


def test_a_numbered_redis_database_goes_to_the_servers() -> None:
    opts, _ = run.parse_args(["--quick", "--redis-url", "redis://127.0.0.1:6379/12"])
    assert opts.redis_url == "redis://127.0.0.1:6379/12"
    assert run.redis_db_problem("redis://:secret@127.0.0.1:6379?db=5") == ""


def test_the_report_names_the_state_store() -> None:
    options = {"database": "postgresql://127.0.0.1/b", "state": "redis://127.0.0.1:6379/12"}
    results = {"meta": {"options": options}}
    assert report._backend(results) == "PostgreSQL + Redis"
    assert report._state_text(results) == "Redis redis://127.0.0.1:6379/12"
    # Runs recorded before the state store was: always the SQL table.
    del options["state"]
    assert report._backend(results) == "PostgreSQL"
    assert report._state_text(results) == "the database's `state` table"
