"""Redis, then PostgreSQL, go away under load and come back: two `twofold serve` nodes reach the
shared services through TCP proxies this test cuts (the services keep running; other tests use
them). A bounded load of enrolments and mfa-otp grants runs against both nodes throughout.

- during each outage: no 500, only 503 temporarily_unavailable with Retry-After (or the answers
  the protocol gives anyway), and `/readyz` on both nodes names the failed backend;
- after it, without restarting anything: `/readyz` is 200 again, every enrolment that was
  acknowledged works, and no code or mfa_token that a 200 spent is accepted again.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from contract._backends import REDIS_URL, delete_redis_prefix_sync, postgres_schema
from e2e._oob import SmtpSink
from e2e._otp import PERIOD, code_for_step, current_step, step_after
from e2e._server import Tls, free_port

from ._cluster import Cluster, Node, User
from ._proxy import TcpProxy
from .conftest import Tenant, _seed

pytestmark = [pytest.mark.e2e, pytest.mark.scaleout]

GRANT_PASSWORD = "password"
GRANT_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
USERS = 24
WORKERS = 3
DURING_OUTAGE = 6  # answers each outage must see before the backend comes back
DEADLINE = 240.0  # the whole load, outages included
READY_DEADLINE = 45.0
STEP_MARGIN = 4.0  # seconds left in the TOTP step when a journey starts


def _through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{proxy.address}" if userinfo else proxy.address
    return urlunsplit(parts._replace(netloc=netloc))


def _target(url: str) -> tuple[str, int]:
    parsed = urlsplit(url)
    assert parsed.hostname is not None, url
    assert parsed.port is not None, url
    return parsed.hostname, parsed.port


@dataclass
class Answer:
    phase: str
    what: str
    status: int
    body: Any
    retry_after: str | None


@dataclass
class Load:
    """Enrolments and grants on two nodes, round robin, recording every answer."""

    nodes: list[Node]
    tenant: Tenant
    phase: str = "before"
    answers: list[Answer] = field(default_factory=list)
    enrolled: list[tuple[User, str, int]] = field(default_factory=list)  # user, secret, last step
    granted: list[tuple[User, str, str]] = field(default_factory=list)  # user, mfa_token, code
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._next_node = itertools.cycle(self.nodes)
        self._queue = list(self.tenant.users.values())

    def count(self) -> int:
        with self.lock:
            return len(self.answers)

    def _send(self, http: httpx.Client, what: str, method: str, path: str, **kw: Any) -> Answer:
        with self.lock:
            node = next(self._next_node)
            phase = self.phase
        try:
            response = http.request(method, f"{node.base_url}{path}", **kw)
        except httpx.HTTPError as exc:  # the node itself never went away: a failure
            answer = Answer(phase, what, -1, repr(exc), None)
        else:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            answer = Answer(
                phase, what, response.status_code, body, response.headers.get("retry-after")
            )
        with self.lock:
            self.answers.append(answer)
        return answer

    def _client(self) -> dict[str, str]:
        c = self.tenant.client
        return {"client_id": c.client_id, "client_secret": c.client_secret}

    def login(self, http: httpx.Client, user: User, what: str = "login") -> str | None:
        data = {"grant_type": GRANT_PASSWORD, "username": user.email, "password": user.password}
        answer = self._send(http, what, "POST", "/oauth/token", data={**data, **self._client()})
        if answer.status == 403 and answer.body.get("error") == "mfa_required":
            return str(answer.body["mfa_token"])
        return None

    def grant(self, http: httpx.Client, what: str, mfa_token: str, code: str) -> Answer:
        data = {"grant_type": GRANT_OTP, "mfa_token": mfa_token, "otp": code, **self._client()}
        return self._send(http, what, "POST", "/oauth/token", data=data)

    def _take_user(self) -> User | None:
        with self.lock:
            return self._queue.pop(0) if self._queue else None

    def _requeue(self, user: User) -> None:
        with self.lock:
            self._queue.append(user)

    def journey(self, http: httpx.Client, user: User) -> None:
        """Enrol (associate, confirm with the previous step's code), then one grant with the
        current step's code. A user that never reached the confirmation goes back in line."""
        left = PERIOD - time.time() % PERIOD
        if left < STEP_MARGIN:
            time.sleep(left + 0.05)
        step = current_step()
        mfa_token = self.login(http, user)
        if mfa_token is None:
            self._requeue(user)
            return
        associated = self._send(
            http,
            "associate",
            "POST",
            "/mfa/associate",
            headers={"Authorization": f"Bearer {mfa_token}"},
            json={"authenticator_types": ["otp"]},
        )
        if associated.status != 200:
            self._requeue(user)
            return
        secret = str(associated.body["secret"])
        confirmed = self.grant(http, "confirm", mfa_token, code_for_step(secret, step - 1))
        if confirmed.status != 200:
            return  # whether it committed is unknown: this user is not checked afterwards
        with self.lock:
            self.enrolled.append((user, secret, step))
        second = self.login(http, user, "login again")
        if second is None:
            return
        code = code_for_step(secret, step)
        if self.grant(http, "grant", second, code).status == 200:
            with self.lock:
                self.granted.append((user, second, code))

    def run(self) -> None:
        with httpx.Client(timeout=60.0) as http:
            while not self.stop.is_set():
                user = self._take_user()
                if user is None:
                    time.sleep(0.05)
                    continue
                self.journey(http, user)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.2)


def _readiness(node: Node) -> tuple[int, Any]:
    try:
        response = httpx.get(f"{node.base_url}/readyz", timeout=10.0)
    except httpx.HTTPError as exc:
        return -1, repr(exc)
    return response.status_code, response.json()


@pytest.fixture
def proxies() -> Iterator[tuple[TcpProxy, TcpProxy]]:
    from contract._backends import POSTGRES_URL

    database, redis = TcpProxy(*_target(POSTGRES_URL)), TcpProxy(*_target(REDIS_URL))
    try:
        yield database, redis
    finally:
        database.close()
        redis.close()


def test_redis_then_postgresql_outage_under_load(
    tmp_path: Path, tls: Tls, smtp: SmtpSink, proxies: tuple[TcpProxy, TcpProxy]
) -> None:
    pg, redis = proxies
    prefix = f"twofold-test:outage:{free_port()}:{time.time_ns()}:"
    with postgres_schema("outage") as direct_url:
        cluster = Cluster(
            workdir=tmp_path,
            database_url=_through(direct_url, pg),
            redis_url=_through(REDIS_URL, redis),
            redis_prefix=prefix,
            tls=tls,
            pycache_dir=tmp_path / "pycache",
            extra_settings={
                "smtp_url": smtp.url,
                "email_from": "Twofold <no-reply@outage.twofold.test>",
                # Short, so that requests during the outage fail in seconds.
                "db_connect_timeout": "2",
                "db_pool_timeout": "5",
                "redis_timeout": "2",
            },
        )
        nodes: list[Node] = []
        try:
            cluster.cli("migrate")
            labels = tuple(f"user{i}" for i in range(USERS))
            tenant = asyncio.run(_seed(cluster, "https://api.outage.twofold.test/", labels))
            env = cluster.env()
            nodes = [
                Node(name=f"node{i + 1}", port=free_port(), workdir=tmp_path, env=env)
                for i in range(2)
            ]
            for node in nodes:
                node.spawn()
            for node in nodes:
                node.wait_ready()
            _outage_under_load(nodes, tenant, pg, redis)
        except BaseException:
            for node in nodes:
                print(f"--- {node.name} ---\n{node.log_file.read_text(errors='replace')[-6000:]}")
            raise
        finally:
            for node in nodes:
                node.stop()
            delete_redis_prefix_sync(prefix)


def _outage_under_load(nodes: list[Node], tenant: Tenant, pg: TcpProxy, redis: TcpProxy) -> None:
    load = Load(nodes, tenant)
    workers = [threading.Thread(target=load.run, daemon=True) for _ in range(WORKERS)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    seen_unready: dict[str, list[Any]] = {}
    try:
        _wait(lambda: len(load.enrolled) >= 2, 60, "two enrolments before the outage")
        for name, proxy, check in (("redis", redis, "redis"), ("postgresql", pg, "database")):
            with load.lock:
                load.phase = f"{name} down"
                mark = len(load.answers)
            proxy.cut()
            for node in nodes:
                _wait(
                    lambda node=node: _readiness(node)[0] == 503,
                    READY_DEADLINE,
                    f"{node.name} /readyz reports {name} down",
                )
                status, body = _readiness(node)
                seen_unready.setdefault(name, []).append((status, body))
                assert body["checks"][check] == "unavailable", body
            _wait(
                lambda mark=mark: load.count() >= mark + DURING_OUTAGE,
                90,
                f"load during {name} outage",
            )
            with load.lock:
                load.phase = f"{name} back"
            proxy.restore()
            for node in nodes:
                # Recovery without a restart: the same processes report ready again.
                _wait(
                    lambda node=node: _readiness(node)[0] == 200,
                    READY_DEADLINE,
                    f"{node.name} ready after {name} came back",
                )
        with load.lock:
            load.phase = "after"
            mark = len(load.answers)
        _wait(lambda: load.count() >= mark + 6, 60, "load after the outages")
    finally:
        load.stop.set()
        for worker in workers:
            worker.join(timeout=90)
    assert time.monotonic() - started < DEADLINE + 120
    _check_answers(load)
    _check_nothing_lost(load)


def _check_answers(load: Load) -> None:
    bad = [a for a in load.answers if a.status < 200 or (a.status >= 500 and a.status != 503)]
    assert bad == [], bad
    unavailable = [a for a in load.answers if a.status == 503]
    for answer in unavailable:
        assert answer.body == {
            "error": "temporarily_unavailable",
            "error_description": "The service is temporarily unavailable. Try again later.",
        }, answer
        assert answer.retry_after is not None, answer
        assert int(answer.retry_after) > 0, answer
    # The outages really hit requests (on the code before, these were 500s).
    for name in ("redis", "postgresql"):
        assert any(a.phase == f"{name} down" for a in unavailable), f"no 503 while {name} was down"
    # Anything else is an answer the protocol gives anyway (mfa_required, a code the step
    # boundary made stale), never a success during an outage that is not recorded: checked next.
    others = {(a.status, a.body.get("error")) for a in load.answers if a.status not in (200, 503)}
    assert others <= {(403, "mfa_required"), (403, "invalid_grant")}, others


def _check_nothing_lost(load: Load) -> None:
    assert load.enrolled, "no enrolment was acknowledged"
    last_step = max(step for _, _, step in load.enrolled)
    step = asyncio.run(step_after(last_step))
    with httpx.Client(timeout=30.0) as http:
        # A code or mfa_token that a 200 spent is refused, on either node.
        for user, spent_token, code in load.granted:
            secret = next(s for u, s, _ in load.enrolled if u == user)
            assert load.grant(http, "check", spent_token, code_for_step(secret, step)).status == 403
            fresh = load.login(http, user, "check login")
            assert fresh is not None
            replay = load.grant(http, "check", fresh, code)
            assert replay.status == 403, replay
        # Every acknowledged enrolment works.
        for user, secret, _ in load.enrolled:
            fresh = load.login(http, user, "check login")
            assert fresh is not None
            answer = load.grant(http, "check", fresh, code_for_step(secret, step))
            assert answer.status == 200, (user.email, answer)
