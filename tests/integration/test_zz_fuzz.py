"""Both OpenAPI specs fuzzed with schemathesis against the real stack (tools/fuzz.py), with
every check it has and its stateful phase: zero failures (no 5xx, and every answer as the
documents say) and zero lost state. Named to run last: its valid orders queue LLM work
that would otherwise slow the tests after it."""

from __future__ import annotations

import pytest

from tools.fuzz import fuzz

pytestmark = pytest.mark.integration


def test_fuzzing_both_apis_under_every_check_finds_nothing_and_loses_nothing(stack):
    report = fuzz(stack.stack.s, examples=10, seed=1)
    for p in report.passes:
        print(f"{p.app} / {p.what}: {p.generated} cases, {p.failures} failing, {p.errors} errors")
    assert report.generated > 1000  # both apps, every operation, really exercised
    assert report.failures == 0, [t for p in report.passes for t in p.failure_titles]
    assert all(p.exit_code == 0 for p in report.passes), report.passes
    assert report.sentinels_changed == []
    assert report.runs_started >= 1
    assert report.runs_lost == []
