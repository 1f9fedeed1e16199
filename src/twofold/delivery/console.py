"""The console channel: prints messages (codes included) to stderr. Development only.

It refuses to be built when the environment is production, so a forgotten development setting
cannot leak codes into a production log.
"""

from __future__ import annotations

import sys
from typing import TextIO

from twofold.core.models import OutboundMessage
from twofold.delivery.templates import render


class ConsoleChannel:
    def __init__(self, environment: str, stream: TextIO | None = None) -> None:
        if environment == "production":
            raise ValueError(
                "the console delivery channel prints codes and is refused in production"
            )
        self._stream = stream

    async def send(self, message: OutboundMessage) -> None:
        rendered = render(message)
        stream = self._stream or sys.stderr
        extra = f" {message.data}" if message.data else ""
        subject = f" [{rendered.subject}]" if rendered.subject else ""
        print(
            f"[twofold console {message.channel} to {message.to}]{subject} {rendered.text}{extra}",
            file=stream,
            flush=True,
        )
