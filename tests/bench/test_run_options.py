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


def _scale_cell(p50: float, reused: int = 0) -> dict[str, object]:
    return {
        "scenario": "mfa-otp",
        "workers": 2,
        "connections": 64,
        "ok_rps": 1000.0,
        "latency_ms": {"p50": p50, "p99": p50 * 2},
        "reused_bodies": reused,
    }


def test_a_scale_cell_that_ran_out_of_bodies_is_not_judged() -> None:
    # Repeats of a spent body are answered with quick errors: such a cell's latencies say
    # nothing about the size, within 1.2x or not.
    def table(small: dict[str, object], large: dict[str, object]) -> str:
        sizes = [{"users": 10_000, "cells": [small]}, {"users": 1_000_000, "cells": [large]}]
        return report.scale_table({"sizes": sizes})[-1]

    assert table(_scale_cell(50.0), _scale_cell(55.0)).endswith("| yes |")
    assert table(_scale_cell(50.0), _scale_cell(70.0)).endswith("| **no** |")
    assert "not comparable" in table(_scale_cell(50.0, reused=6_000), _scale_cell(55.0))
    assert "not comparable" in table(_scale_cell(50.0), _scale_cell(55.0, reused=1))


def _cell(ok_rps: float, cpu: float, kernel: float | None) -> dict[str, object]:
    return {
        "ok_rps": ok_rps,
        "rps": ok_rps,
        "latency_ms": {"p50": 1.0, "p99": 2.0},
        "server_cpu_ms_per_request": cpu,
        "server_system_cpu_ms_per_request": kernel,
        "others_share": 0.0,
    }


def test_repeated_cells_report_the_median_kernel_time_and_the_table_shows_it() -> None:
    runs = [_cell(100.0, 1.5, 0.2), _cell(90.0, 1.7, 0.4), _cell(110.0, 1.4, 0.1)]
    cell = run.median_cell(runs)
    assert cell["server_cpu_ms_per_request"] == 1.5
    assert cell["server_system_cpu_ms_per_request"] == 0.2
    assert [r["server_system_cpu_ms_per_request"] for r in cell["runs"]] == [0.2, 0.4, 0.1]
    # A run recorded before the kernel's part was measured: the median is not made up.
    older = run.median_cell([_cell(100.0, 1.5, None), _cell(90.0, 1.7, 0.4)])
    assert older["server_cpu_ms_per_request"] == 1.6
    assert older["server_system_cpu_ms_per_request"] is None
