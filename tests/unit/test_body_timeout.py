"""The body read timeout as an ASGI layer, driven in-process: what the app sees when a body is
late, and that a cancellation from outside is never taken for a late body.

tests/security/test_read_timeouts.py checks the same against a real server and sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from twofold.serving import BodyTimeout

pytestmark = pytest.mark.anyio

TIMEOUT = 0.05
# Every wait for something that must happen is bounded far above the timeout.
BOUND = 10.0

POST = {
    "type": "http",
    "method": "POST",
    "path": "/oauth/token",
    "headers": [(b"content-length", b"20")],
}
GET = {"type": "http", "method": "GET", "path": "/.well-known/jwks.json", "headers": []}


class Peer:
    """The server's side: a receive that hands out queued messages, a send that keeps them."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return starts[0]["status"] if starts else None

    def headers(self) -> dict[bytes, bytes]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return dict(start["headers"])


async def answer(send: Any, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def test_a_body_that_never_comes_gets_408_and_the_app_stops_where_it_waited() -> None:
    peer = Peer()
    after_read: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        after_read.append(True)
        await answer(send)

    await asyncio.wait_for(BodyTimeout(app, TIMEOUT)(POST, peer.receive, peer.send), BOUND)
    assert peer.status() == 408
    assert peer.headers()[b"connection"] == b"close"
    assert after_read == []
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0  # nothing left pending on the task


async def test_a_body_that_stops_halfway_gets_408() -> None:
    peer = Peer()
    peer.incoming.put_nowait({"type": "http.request", "body": b"grant_type=", "more_body": True})
    parts: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            parts.append(message["body"])
            if not message.get("more_body"):
                break
        await answer(send)

    await asyncio.wait_for(BodyTimeout(app, TIMEOUT)(POST, peer.receive, peer.send), BOUND)
    assert parts == [b"grant_type="]
    assert peer.status() == 408


async def test_an_app_that_asks_for_more_body_after_the_deadline_is_refused() -> None:
    # The deadline passes while the app is busy elsewhere: its next read is refused at once.
    peer = Peer()
    peer.incoming.put_nowait({"type": "http.request", "body": b"grant_type=", "more_body": True})
    asked_again: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(TIMEOUT * 4)
        peer.incoming.put_nowait({"type": "http.request", "body": b"late", "more_body": False})
        asked_again.append(True)
        await receive()
        await answer(send)

    await asyncio.wait_for(BodyTimeout(app, TIMEOUT)(POST, peer.receive, peer.send), BOUND)
    assert asked_again == [True]
    assert peer.status() == 408


async def test_a_body_in_time_is_answered_however_long_the_app_takes_after() -> None:
    peer = Peer()
    peer.incoming.put_nowait({"type": "http.request", "body": b"x" * 20, "more_body": False})

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(TIMEOUT * 4)
        await answer(send)

    await asyncio.wait_for(BodyTimeout(app, TIMEOUT)(POST, peer.receive, peer.send), BOUND)
    assert peer.status() == 200
    assert b"connection" not in peer.headers()


async def test_an_answer_before_the_body_is_read_closes_the_connection() -> None:
    peer = Peer()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await answer(send, 413)

    await BodyTimeout(app, TIMEOUT)(POST, peer.receive, peer.send)
    assert peer.status() == 413
    assert peer.headers()[b"connection"] == b"close"


async def test_a_request_without_a_body_gets_the_servers_own_receive_and_send() -> None:
    peer = Peer()
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.extend([receive, send])

    await BodyTimeout(app, TIMEOUT)(GET, peer.receive, peer.send)
    assert seen == [peer.receive, peer.send]


async def test_a_cancellation_from_outside_while_reading_goes_on() -> None:
    # The client left, or the server stops, before the deadline: not a late body.
    peer = Peer()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await answer(send)

    task = asyncio.create_task(BodyTimeout(app, BOUND)(POST, peer.receive, peer.send))
    await asyncio.sleep(TIMEOUT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, BOUND)
    assert peer.sent == []


async def test_a_cancellation_from_outside_after_the_deadline_still_goes_on() -> None:
    # Cancelled from outside while the layer's own cancellation is under way: the task must
    # still end cancelled, not answer 408 and carry on.
    peer = Peer()
    waiting = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await receive()
        finally:
            waiting.set()
            await asyncio.sleep(TIMEOUT * 4)  # cleanup that outlives the outside cancel

    task = asyncio.create_task(BodyTimeout(app, TIMEOUT)(POST, peer.receive, peer.send))
    await asyncio.wait_for(waiting.wait(), BOUND)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, BOUND)
    assert peer.status() is None
