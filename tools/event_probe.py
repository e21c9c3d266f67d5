"""event-probe: a tiny subscriber app that records every Snacktopus event it receives.

Runs under its own ``daprd`` (app-id ``event-probe``) in the test profile of the local
stack, subscribed programmatically to every topic. Tests (and people: ``curl
localhost:8003/events?topic=order.completed``) read what arrived, CloudEvent envelope and
all. Why an app and not the streaming-subscription API: with daprd 1.18.2 and pubsub.redis,
once a streaming subscription closes, an orphaned reader keeps taking that topic's
messages and fails them ("context canceled"), so a second test session would see nothing.

It is also the test profile's chat webhook: workflow-host's ``notify-webhook`` binding
(``bindings.http``) posts the approval notices to ``/webhook``; ``/webhooks`` lists them.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, Request
from snacktopus_core.events import SCHEMAS
from snacktopus_core.settings import AppSettings
from snacktopus_core.web import sidecar_only

TOPICS = ["smoke.ping", *SCHEMAS]
PUBSUB = os.environ.get("PUBSUB_NAME", "snackpubsub")

app = FastAPI(title="event-probe", description=__doc__)
_events: deque[dict[str, Any]] = deque(maxlen=20_000)
_webhooks: deque[dict[str, Any]] = deque(maxlen=5_000)
_lock = threading.Lock()
_seq = 0


@app.get("/dapr/subscribe")
def subscribe() -> list[dict[str, str]]:
    return [{"pubsubname": PUBSUB, "topic": t, "route": f"/receive/{t}"} for t in TOPICS]


# Deliveries must carry the sidecar's app API token, as for the real apps' sidecar routes.
@app.post("/receive/{topic}", dependencies=[Depends(sidecar_only(AppSettings()))])
async def receive(topic: str, request: Request) -> dict[str, str]:
    global _seq
    envelope = await request.json()
    with _lock:
        _seq += 1
        _events.append({"seq": _seq, "topic": topic, "cloudevent": envelope})
    return {"status": "SUCCESS"}


@app.get("/events")
def events(topic: str | None = None, after: int = 0) -> list[dict[str, Any]]:
    with _lock:
        return [e for e in _events if e["seq"] > after and (topic is None or e["topic"] == topic)]


@app.post("/webhook")
async def webhook(request: Request) -> dict[str, str]:
    """What a chat tool's incoming webhook would get, kept with its content type."""
    global _seq
    body = await request.body()
    with _lock:
        _seq += 1
        _webhooks.append(
            {
                "seq": _seq,
                "content_type": request.headers.get("content-type"),
                "body": body.decode(errors="replace"),
            }
        )
    return {"status": "ok"}


@app.get("/webhooks")
def webhooks(after: int = 0) -> list[dict[str, Any]]:
    with _lock:
        return [w for w in _webhooks if w["seq"] > after]


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def run() -> None:
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ.get("PROBE_APP_PORT", "8003")),
        log_level="warning",
    )


if __name__ == "__main__":
    run()
