"""A response's head and body leave in one write (`serving.OneWriteTransport`), and nothing a
client waits for is held back: a streamed response's head, `100 Continue`, a lone write.

The first tests drive the transport against a recording one; the last ones run uvicorn with
Twofold's protocol on a real socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from twofold.serving import HeadTimeoutProtocol, OneWriteTransport

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"), "asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> object:
    """`twofold serve` runs on uvloop, whose callbacks run after its next poll."""
    return request.param


# Every wait for something that must happen is bounded far above what it takes.
BOUND = 10.0


class Recorder(asyncio.Transport):
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self.events.append("write")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def abort(self) -> None:
        self.closing = True
        self.events.append("abort")

    def write_eof(self) -> None:
        self.events.append("eof")

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7


def _pair() -> tuple[Recorder, OneWriteTransport]:
    raw = Recorder()
    return raw, OneWriteTransport(raw, asyncio.get_running_loop())


async def test_a_head_and_its_body_written_in_one_turn_leave_in_one_write() -> None:
    raw, transport = _pair()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(memoryview(b"{}"))
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(raw.writes) == 1  # the flush scheduled for the head found nothing to send


async def test_a_lone_write_leaves_when_the_loop_turns() -> None:
    raw, transport = _pair()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert raw.writes == []
    assert transport.get_write_buffer_size() == 7 + len(b"HTTP/1.1 100 Continue\r\n\r\n")
    await asyncio.sleep(0)
    assert raw.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    assert transport.get_write_buffer_size() == 7


async def test_writes_keep_their_order_across_turns() -> None:
    raw, transport = _pair()
    for part in (b"a", b"b", b"c"):
        transport.write(part)
    await asyncio.sleep(0)
    transport.write(b"d")
    await asyncio.sleep(0)
    assert b"".join(raw.writes) == b"abcd"
    assert raw.writes == [b"ab", b"c", b"d"]


async def test_close_and_eof_send_what_is_held_first() -> None:
    raw, transport = _pair()
    transport.write(b"head")
    transport.close()
    assert raw.events == ["write", "close"]
    assert raw.writes == [b"head"]

    raw, transport = _pair()
    transport.write(b"last")
    transport.write_eof()
    assert raw.events == ["write", "eof"]
    await asyncio.sleep(0)
    assert raw.writes == [b"last"]


async def test_abort_drops_what_is_held() -> None:
    raw, transport = _pair()
    transport.write(b"head")
    transport.abort()
    await asyncio.sleep(0)
    assert raw.events == ["abort"]


async def test_a_transport_closed_by_the_loop_still_gets_what_was_held() -> None:
    # A client that half-closes: the loop closes the real transport itself. uvicorn's own write
    # would have reached it; the held one does too, and the transport decides what to do.
    raw, transport = _pair()
    transport.write(b"last")
    raw.closing = True
    await asyncio.sleep(0)
    assert raw.writes == [b"last"]


# ------------------------------------------------------------------------------ real sockets


async def _streamed(scope: Any, receive: Any, send: Any) -> None:
    """Answers with a head, then its body only once the client says it has the head."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/echo":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"got " + body})
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]}
    )
    await scope["state"]["head_seen"].wait()
    await send({"type": "http.response.body", "body": b"body"})


@pytest.fixture
async def served() -> AsyncIterator[tuple[int, asyncio.Event, uvicorn.Server]]:
    head_seen = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["state"] = {"head_seen": head_seen}
        await _streamed(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=HeadTimeoutProtocol, lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(BOUND):
        while not server.started:
            await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1], head_seen, server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, BOUND)
        sock.close()


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)


async def test_a_streamed_head_is_not_held_for_its_body(
    served: tuple[int, asyncio.Event, uvicorn.Server],
) -> None:
    port, head_seen, server = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
    head = await _read_head(reader)
    (protocol,) = server.server_state.connections
    assert isinstance(protocol.transport, OneWriteTransport)  # type: ignore[attr-defined]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    head_seen.set()
    assert await asyncio.wait_for(reader.readexactly(4), BOUND) == b"body"
    writer.close()


async def test_100_continue_reaches_a_client_that_waits_for_it(
    served: tuple[int, asyncio.Event, uvicorn.Server],
) -> None:
    port, _, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n"
    )
    assert await _read_head(reader) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    head = await _read_head(reader)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in head
    assert await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), BOUND) == (
        b"9\r\ngot hello\r\n0\r\n\r\n"
    )
    writer.close()
