"""auth0-server-python's ServerClient as a server-side web app holds it: the two stores it asks
for (kept in memory here, one app user at a time), and an event loop of its own in a thread, so
the SDK's coroutines run beside Playwright's synchronous API, which owns this thread's loop.

The SDK makes a fresh httpx client per request (and one Authlib client for the token
endpoint); httpx trusts the test CA through SSL_CERT_FILE and finds the test hosts through the
getaddrinfo wrapper of _sites.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any, TypeVar

from auth0_server_python.store import StateStore, TransactionStore

T = TypeVar("T")
SDK_TIMEOUT = 30.0


class MemoryTransactionStore(TransactionStore):
    """The login transactions (PKCE verifier, state), by identifier. A real app keeps them in
    an encrypted cookie or a server-side store per browser; one browser needs one dict."""

    def __init__(self) -> None:
        super().__init__({})
        self.items: dict[str, Any] = {}

    async def set(
        self,
        identifier: str,
        state: Any,
        remove_if_expires: bool = False,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.items[identifier] = state

    async def get(self, identifier: str, options: dict[str, Any] | None = None) -> Any:
        return self.items.get(identifier)

    async def delete(self, identifier: str, options: dict[str, Any] | None = None) -> None:
        self.items.pop(identifier, None)


class MemoryStateStore(StateStore):
    """The signed-in session (user, tokens), by identifier."""

    def __init__(self) -> None:
        super().__init__({})
        self.items: dict[str, Any] = {}

    async def set(
        self,
        identifier: str,
        state: Any,
        remove_if_expires: bool = False,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.items[identifier] = state

    async def get(self, identifier: str, options: dict[str, Any] | None = None) -> Any:
        return self.items.get(identifier)

    async def delete(self, identifier: str, options: dict[str, Any] | None = None) -> None:
        self.items.pop(identifier, None)


class SdkLoop:
    """An asyncio loop in a daemon thread; run(coro) waits for the coroutine's result."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(SDK_TIMEOUT)


@contextmanager
def sdk_loop() -> Iterator[SdkLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sdk-loop", daemon=True)
    thread.start()
    try:
        yield SdkLoop(loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


class Forms(HTMLParser):
    """The forms of a page: id -> (action, method, {input name: value})."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, tuple[str, str, dict[str, str]]] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = found.get("id", "")
            method = found.get("method", "get").lower()
            self.forms[self._current] = (found.get("action", ""), method, {})
        elif tag in ("input", "button") and self._current is not None and "name" in found:
            kind = found.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in found:
                return
            self.forms[self._current][2][found["name"]] = found.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms_of(html: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms
