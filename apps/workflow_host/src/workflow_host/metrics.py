"""workflow-host's Prometheus metrics (served at ``/metrics``)."""

from prometheus_client import Counter, Histogram

RUNS = Counter("snacktopus_workflow_runs_total", "Runs by terminal status.", ["status"])
STEP_SECONDS = Histogram(
    "snacktopus_workflow_step_seconds",
    "Activity latency by step and outcome.",
    ["step", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
RUN_SECONDS = Histogram(
    "snacktopus_workflow_run_seconds",
    "End-to-end run latency by terminal status.",
    ["status"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 3600),
)
COMPENSATIONS = Counter(
    "snacktopus_compensations_total", "Undo steps run, by step and reason.", ["step", "reason"]
)
APPROVALS = Counter("snacktopus_approvals_total", "Approval outcomes by decision.", ["decision"])
APPROVAL_WAIT = Histogram(
    "snacktopus_approval_wait_seconds",
    "Time a run waited for its human decision.",
    ["decision"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 86400),
)
DEGRADED = Counter(
    "snacktopus_degraded_branches_total", "Enrichment branches that failed for good.", ["branch"]
)
SAFETY_FLAGS = Counter(
    "snacktopus_safety_gate_flags_total", "Flags raised by the safety gate.", ["kind", "severity"]
)
NOTIFICATIONS = Counter(
    "snacktopus_notifications_total",
    "Approval notifications by channel (email, webhook) and outcome (sent, failed, duplicate).",
    ["channel", "outcome"],
)
