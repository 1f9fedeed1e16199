"""Out-of-band e2e helpers: a Twofold server with delivery configured through its environment,
and an SMTP sink (aiosmtpd on 127.0.0.1) the server really sends to."""

from __future__ import annotations

import email
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from ._server import TwofoldServer, free_port, twofold_command

CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@dataclass
class OobServer(TwofoldServer):
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(self.extra_env)
        return env

    def authenticator(self, state: str, *args: str, timeout: float = 30.0) -> str:
        """Run `twofold authenticator --state STATE …` as a person would, trusting the test CA."""
        env = self.env()
        env["SSL_CERT_FILE"] = str(self.tls.ca_file)
        done = subprocess.run(
            [*twofold_command(), "authenticator", "--state", state, *args],
            env=env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.cli_log.append(f"$ authenticator {' '.join(args)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise AssertionError(
                f"`twofold authenticator {' '.join(args)}` exited {done.returncode}\n"
                f"{done.stdout}\n{done.stderr}"
            )
        return done.stdout


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.sink.lock:
            self.sink.received.append(
                (list(envelope.rcpt_tos), email.message_from_bytes(envelope.content))
            )
        return "250 OK"


@dataclass
class SmtpSink:
    """aiosmtpd on 127.0.0.1 in a thread; collects every message it accepts."""

    port: int = field(default_factory=free_port)
    received: list[tuple[list[str], Message]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpSink:
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[SmtpSink]:
        """A started sink, stopped on the way out (what every smtp fixture yields)."""
        sink = cls().start()
        try:
            yield sink
        finally:
            sink.stop()

    def messages_to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for rcpts, m in self.received if address in rcpts]

    def last_code(self, address: str) -> str:
        messages = self.messages_to(address)
        assert messages, f"no email for {address}"
        return code_in(body_of(messages[-1]))

    def wait_code(self, address: str, count: int, timeout: float = 10.0) -> str:
        """The code in the `count`-th message to `address`, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = self.messages_to(address)
            if len(mine) >= count:
                return code_in(body_of(mine[count - 1]))
            time.sleep(0.05)
        raise AssertionError(f"no email #{count} for {address} within {timeout} s")


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


def code_in(text: str) -> str:
    found = CODE.findall(text)
    assert found, text
    return str(found[0])
