"""agent-shell's Prometheus metrics (served at ``/metrics``)."""

from prometheus_client import Counter, Gauge, Histogram

LLM_SECONDS = Histogram(
    "snacktopus_llm_seconds",
    "LLM call latency through the Dapr conversation API, by path and outcome.",
    ["path", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60),
)
LLM_TOKENS = Counter("snacktopus_llm_tokens_total", "LLM tokens by kind.", ["kind"])
SAFETY_FLAGS = Counter(
    "snacktopus_safety_flags_total",
    "Safety/evaluator flags by kind and source.",
    ["kind", "severity", "source"],
)
DEGRADED = Counter("snacktopus_degraded_answers_total", "Answers from the tools alone.", ["path"])
BLOCKED = Counter("snacktopus_blocked_questions_total", "Questions never sent to the model.", [])
ANSWERS = Counter("snacktopus_answers_total", "Answers by path.", ["path"])
SENTENCES_DROPPED = Counter(
    "snacktopus_model_sentences_dropped_total",
    "Model-written sentences dropped before a person saw them, by reason.",
    ["reason"],
)
FALSE_SAFETY = Counter(
    "snacktopus_false_safety_claims_total",
    "Model sentences that claimed a safety the basket contradicts (blocked), by path.",
    ["path"],
)
EXPLANATIONS = Counter(
    "snacktopus_explanations_total",
    "Explanations shown, by path and source (model text or the template).",
    ["path", "source"],
)
MODEL_QUEUE = Gauge(
    "snacktopus_model_queue",
    "Model calls waiting at agent-shell's gate for a slot, by kind (interactive: /ask; "
    "background: /recommend).",
    ["kind"],
)
MODEL_WAIT = Histogram(
    "snacktopus_model_wait_seconds",
    "Time a model call waited at the gate before it was sent, by kind.",
    ["kind"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
)
