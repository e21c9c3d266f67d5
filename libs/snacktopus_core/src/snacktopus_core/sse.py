"""Server-Sent Events, framed and read (the ``text/event-stream`` format of the HTML
standard): agent-shell's streamed ``/ask`` writes them, the console and the benchmarks read
them. Small on purpose: one event name and one data payload per event, no ids or retry
hints (a streamed answer is not resumed; a client that lost it asks ``/history``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

MEDIA_TYPE = "text/event-stream"
# No cache or proxy may hold an event back: each is worth seeing as soon as it is written.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class Event:
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def frame(event: str, data: BaseModel | str) -> str:
    """One event: its name, its data (a model as compact JSON; a text split into one
    ``data:`` line per line, as the format requires), then the blank line ending it."""
    if "\n" in event or "\r" in event or not event:
        raise ValueError(f"an event name is one non-empty line, not {event!r}")
    text = data.model_dump_json() if isinstance(data, BaseModel) else data
    lines = "".join(f"data: {line}\n" for line in text.splitlines() or [""])
    return f"event: {event}\n{lines}\n"


def wants_stream(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for an event stream: a media range naming it with
    a quality above zero."""
    for part in (accept or "").split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        quality = next((p.partition("=")[2] for p in params if p.startswith("q=")), "1")
        if media == MEDIA_TYPE and _number(quality) > 0:
            return True
    return False


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


class _Reader:
    """The parsing state of one stream: the fields of the event being read."""

    def __init__(self) -> None:
        self.event, self.data = "", []

    def feed(self, line: str) -> Event | None:
        line = line.rstrip("\r\n")
        if not line:  # a blank line dispatches the event read so far
            found = Event(self.event or "message", "\n".join(self.data)) if self.data else None
            self.event, self.data = "", []
            return found
        if line.startswith(":"):  # a comment (keep-alive)
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None  # id, retry and unknown fields: nothing this project uses


def parse(lines: Iterable[str]) -> Iterator[Event]:
    """The events in a stream's lines (an unfinished last event is not one)."""
    reader = _Reader()
    for line in lines:
        if (found := reader.feed(line)) is not None:
            yield found


async def aparse(lines: AsyncIterable[str]) -> AsyncIterator[Event]:
    """:func:`parse` over an async stream of lines (``httpx.Response.aiter_lines()``)."""
    reader = _Reader()
    async for line in lines:
        if (found := reader.feed(line)) is not None:
            yield found
