"""The SSE framing agent-shell's streamed /ask writes and its readers (the console, the
benchmarks, the tests) parse: what one side frames the other reads back, as the format
says (HTML standard, "Server-sent events")."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from snacktopus_core import sse


class Payload(BaseModel):
    name: str
    total: float


def test_a_model_is_one_event_of_compact_json_ended_by_a_blank_line():
    framed = sse.frame("basket", Payload(name="Fruit\ncups", total=3.5))
    assert framed == 'event: basket\ndata: {"name":"Fruit\\ncups","total":3.5}\n\n'
    [event] = sse.parse(framed.splitlines(keepends=True))
    assert (event.event, event.json()) == ("basket", {"name": "Fruit\ncups", "total": 3.5})


def test_a_text_of_many_lines_is_one_data_line_each_and_reads_back_whole():
    html = "<p>one</p>\n<p>two</p>\n\n<p>after a blank line</p>"
    framed = sse.frame("done", html)
    assert framed.count("data: ") == 4 and framed.endswith("\n\n")
    assert "\n\n<p>" not in framed  # a blank line inside would end the event early
    [event] = sse.parse(framed.splitlines())
    assert event.data == html


def test_events_come_back_in_order_with_comments_and_crlf_ignored():
    stream = ": keep-alive\r\n\r\n" + "".join(
        sse.frame(name, f"#{i}").replace("\n", "\r\n")
        for i, name in enumerate(("basket", "explanation", "done"))
    )
    events = list(sse.parse(stream.splitlines(keepends=True)))
    assert [(e.event, e.data) for e in events] == [
        ("basket", "#0"),
        ("explanation", "#1"),
        ("done", "#2"),
    ]


def test_an_unfinished_last_event_is_not_an_event():
    framed = sse.frame("basket", "x") + "event: done\ndata: {}\n"  # the stream was cut here
    assert [e.event for e in sse.parse(framed.splitlines())] == ["basket"]


def test_an_event_without_a_name_is_a_message():
    assert [e.event for e in sse.parse(["data: x", ""])] == ["message"]


def test_the_async_reader_reads_what_the_sync_one_does():
    framed = sse.frame("basket", "a") + sse.frame("done", "b\nc")

    async def lines():
        for line in framed.splitlines():
            yield line

    async def read():
        return [(e.event, e.data) async for e in sse.aparse(lines())]

    assert asyncio.run(read()) == [("basket", "a"), ("done", "b\nc")]


@pytest.mark.parametrize("name", ["", "two\nlines", "cr\r"])
def test_an_event_name_must_be_one_line(name):
    with pytest.raises(ValueError, match="one non-empty line"):
        sse.frame(name, "x")


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("text/event-stream", True),
        ("application/json, Text/Event-Stream;q=0.5", True),
        ("text/event-stream;q=0", False),
        ("text/event-stream; q=0.0", False),
        ("text/event-stream;q=nonsense", False),
        ("application/json", False),
        ("*/*", False),  # a client that takes anything gets the JSON it always got
        ("", False),
        (None, False),
    ],
)
def test_only_an_accept_header_naming_the_event_stream_asks_for_one(accept, wanted):
    assert sse.wants_stream(accept) is wanted
