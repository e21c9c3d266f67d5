"""tests.support.metric_sum, the one reader of /metrics text the tests and the bench use,
on what our apps (prometheus_client) and daprd (Go) really expose."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from tests.support import metric_sum

# daprd's exposition (Go client): counters without the ``_total`` suffix.
DAPRD = """\
# HELP dapr_http_server_request_count Number of HTTP requests started in server.
# TYPE dapr_http_server_request_count counter
dapr_http_server_request_count{app_id="agent-shell",method="GET",path="/v1.0/healthz/outbound"} 3
dapr_http_server_request_count{app_id="agent-shell",method="GET",path="/v1.0/metadata"} 5
# HELP dapr_runtime_component_loaded The number of successfully loaded components.
# TYPE dapr_runtime_component_loaded gauge
dapr_runtime_component_loaded{app_id="agent-shell"} 7
"""


def ours() -> str:
    registry = CollectorRegistry()
    answers = Counter("snacktopus_answers_total", "Answers.", ["path"], registry=registry)
    # A label value a line split by hand misreads: quotes, a comma, braces and spaces.
    awkward = 'say "hi", {now} 2'
    answers.labels(awkward).inc(2)
    answers.labels("recommend").inc()
    steps = Histogram(
        "snacktopus_workflow_step_seconds", "Steps.", ["step", "outcome"], registry=registry
    )
    steps.labels("recommend", "ok").observe(0.2)
    steps.labels("recommend", "ok").observe(0.3)
    steps.labels("place_order", "failed").observe(1.0)
    return generate_latest(registry).decode()


def test_labels_with_quotes_spaces_and_braces_are_read_whole():
    text = ours()
    assert metric_sum(text, "snacktopus_answers_total", path='say "hi", {now} 2') == 2
    assert metric_sum(text, "snacktopus_answers_total", path="recommend") == 1
    assert metric_sum(text, "snacktopus_answers_total") == 3


def test_histogram_samples_are_summed_over_the_labels_not_given():
    text = ours()
    count = "snacktopus_workflow_step_seconds_count"
    assert metric_sum(text, count) == 3
    assert metric_sum(text, count, step="recommend", outcome="ok") == 2
    assert metric_sum(text, "snacktopus_workflow_step_seconds_sum", step="recommend") == 0.5
    assert metric_sum(text, count, step="recommend", outcome="failed") == 0
    assert metric_sum(text, "no_such_metric") == 0


def test_daprd_counters_are_found_by_the_name_daprd_exposes():
    name = "dapr_http_server_request_count"
    assert metric_sum(DAPRD, name, path="/v1.0/healthz/outbound") == 3
    assert metric_sum(DAPRD, name, app_id="agent-shell") == 8
    assert metric_sum(DAPRD, "dapr_runtime_component_loaded") == 7
