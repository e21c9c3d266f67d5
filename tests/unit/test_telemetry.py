"""Log set-up: the workflow SDK's per-turn chatter stays out, its warnings come through
our JSON handler once."""

from __future__ import annotations

import io
import json
import logging

import pytest
from snacktopus_core import telemetry


@pytest.fixture
def captured():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()

    def configure(level: str) -> io.StringIO:
        telemetry.configure_logging("unit", level)
        root.handlers[0].setStream(stream)  # the JSON handler, writing here, not stderr
        return stream

    yield configure
    root.handlers[:], level = saved
    root.setLevel(level)
    telemetry.quiet_sdk_loggers()


def test_sdk_info_is_dropped_and_warnings_are_logged_once_as_json(captured):
    captured = captured("INFO")
    sdk = logging.getLogger("durabletask-worker")
    sdk.addHandler(logging.StreamHandler(captured))  # what the SDK does when it builds one
    telemetry.quiet_sdk_loggers()
    sdk.info("orchestrator yielded with 1 task(s)")
    sdk.warning("activity retried")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["msg"] == "activity retried"


def test_at_debug_the_sdk_logs_everything(captured):
    captured = captured("DEBUG")
    logging.getLogger("durabletask-client").info("started instance")
    assert json.loads(captured.getvalue())["msg"] == "started instance"
