"""Auth0's bulk user file, split into records: a JSON array of user objects (what the
users-imports job takes), or one object per line (NDJSON, what Auth0's user export writes).

Each record comes with the line of the file it starts on, so that a refused one can be found. A
line of NDJSON that is not JSON is one bad record; an array that stops being JSON is a bad file
(where its next record would start cannot be known).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_RECORDS = 2_000_000
_SPACE = re.compile(r"[ \t\n\r]*")
_decoder = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Entry:
    line: int
    # The parsed JSON value (a user object, if the file is right); None with an error.
    record: Any
    error: str | None = None


class FileRejected(ValueError):
    """The file as a whole cannot be read: `line` says where."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected(data.count(b"\n", 0, exc.start) + 1, "the file is not UTF-8") from None


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return pos if match is None else match.end()


def _too_many(count: int, line: int) -> None:
    if count > MAX_RECORDS:
        raise FileRejected(line, f"the file holds more than {MAX_RECORDS} users")


def _array(text: str, start: int) -> list[Entry]:
    entries: list[Entry] = []
    line, counted = 1, 0
    pos = _skip_space(text, start + 1)
    if text.startswith("]", pos):
        return entries
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, pos = _decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            raise FileRejected(line, f"not valid JSON ({str(exc).split(':')[0]})") from None
        entries.append(Entry(line, value))
        _too_many(len(entries), line)
        pos = _skip_space(text, pos)
        if text.startswith("]", pos):
            break
        if not text.startswith(",", pos):
            line += text.count("\n", counted, pos)
            raise FileRejected(line, "expected , or ] after a user")
        pos = _skip_space(text, pos + 1)
    if text[pos + 1 :].strip():
        raise FileRejected(line + text.count("\n", counted, pos), "text after the array's end")
    return entries


def _lines(text: str) -> list[Entry]:
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            entries.append(Entry(number, json.loads(raw)))
        except (ValueError, RecursionError) as exc:
            reason = f"not valid JSON ({str(exc).split(':')[0]})"
            entries.append(Entry(number, None, reason))
        _too_many(len(entries), number)
    return entries


def read(data: bytes) -> list[Entry]:
    """The file's records in order; FileRejected when it is neither a JSON array nor NDJSON."""
    text = _text(data)
    start = _skip_space(text, 0)
    if start == len(text):
        raise FileRejected(1, "the file holds no users")
    if text.startswith("[", start):
        return _array(text, start)
    return _lines(text)
