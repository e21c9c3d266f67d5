"""Fixtures for the live-cluster tests (``make test-k8s``): the kind cluster that ``make
kind-up && make helm-install`` made, reached through ``kubectl`` and ``kubectl port-forward``.

With no cluster reachable the tests are skipped with the reason in plain words, except when
``SNACKTOPUS_K8S_REQUIRED=1`` (what ``make test-k8s`` sets): then they fail, since the run
was asked for a cluster. Every port-forward and every object a fixture starts is stopped or
deleted by it, by the pid it recorded or the name it created.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict
from workflow_host.runs import TERMINAL

from tests.support import BIG_ORDER, SMALL_ORDER, wait_until  # noqa: F401  (for the tests)

ROOT = Path(__file__).resolve().parents[2]


class K8sTestSettings(BaseSettings):
    """Where the cluster is; env ``SNACKTOPUS_K8S_*``."""

    model_config = SettingsConfigDict(env_prefix="SNACKTOPUS_K8S_")

    context: str = f"kind-{os.environ.get('KIND_CLUSTER', 'snacktopus')}"
    namespace: str = "snacktopus"
    release: str = "snacktopus"
    required: bool = False
    kubectl: str = str(Path.home() / ".cache/snacktopus/bin/kubectl")
    helm: str = str(Path.home() / ".cache/snacktopus/bin/helm")
    kind: str = str(Path.home() / ".cache/snacktopus/bin/kind")


SETTINGS = K8sTestSettings()


def kubectl(
    *args: str, check: bool = True, timeout: float = 60, namespaced: bool = True, **kw: Any
) -> str:
    """kubectl on the test cluster, in the release's namespace unless ``namespaced=False``."""
    ns = ["-n", SETTINGS.namespace] if namespaced else []
    cmd = [SETTINGS.kubectl, "--context", SETTINGS.context, *ns, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def helm(*args: str, timeout: float = 600) -> str:
    cmd = [SETTINGS.helm, "--kube-context", SETTINGS.context, "-n", SETTINGS.namespace, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, f"{' '.join(cmd)} failed: {done.stderr[-2000:]}"
    return done.stdout


CHART = "charts/snacktopus"
VALUES = "charts/snacktopus/values-kind-airgap.yaml"


def upgrade(
    cluster: K8sTestSettings, *sets: str, wait: bool = True, settle: tuple[str, ...] = ()
) -> None:
    """``helm upgrade`` of the release, keeping its values but for ``sets``; then, for each
    app in ``settle``, until the pods of the release before have left (``--wait`` returns
    once the new ones are ready, while the old ones still drain and serve)."""
    args = ["upgrade", cluster.release, CHART, "-f", VALUES, "--reuse-values"]
    args += ["--wait", "--timeout=10m"] if wait else []
    for s in sets:
        args += ["--set", s]
    helm(*args)
    for app in settle:
        wait_until(lambda app=app: settled(app), timeout=240, every=2)


def settled(app: str) -> bool:
    """Every pod of the app is of one pod template (the Deployment's newest) and none is
    terminating: no replica of another release still takes work."""
    items = _pods(app)
    templates = {p["metadata"]["labels"].get("pod-template-hash") for p in items}
    return len(templates) == 1 and not any(p["metadata"].get("deletionTimestamp") for p in items)


def app_image(app: str) -> str:
    """The image the app's Deployment runs now."""
    return kubectl(
        "get",
        "deploy",
        app,
        "-o",
        "jsonpath={.spec.template.spec.containers[?(@.name=='app')].image}",
    )


def load_images(*images: str) -> None:
    """Loads images built here into the kind node (no registry)."""
    cluster = SETTINGS.context.removeprefix("kind-")
    done = subprocess.run(
        [SETTINGS.kind, "load", "docker-image", "--name", cluster, *images],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def new_id(prefix: str) -> str:
    return f"{prefix}-k8s-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def cluster() -> K8sTestSettings:
    """The cluster and our release in it, or a plain skip/failure saying what is missing."""
    why = None
    if not Path(SETTINGS.kubectl).exists():
        why = f"no kubectl at {SETTINGS.kubectl} (make kind-up builds it)"
    else:
        try:
            done = subprocess.run(
                [SETTINGS.kubectl, "--context", SETTINGS.context, "get", "--raw", "/readyz"],
                capture_output=True,
                text=True,
                timeout=15,
            )
            if done.returncode != 0:
                why = (
                    f"no Kubernetes cluster reachable at context {SETTINGS.context!r} "
                    f"({done.stderr.strip()[:200]}); run `make kind-up helm-install`"
                )
        except subprocess.TimeoutExpired:
            why = f"the cluster at context {SETTINGS.context!r} did not answer within 15 s"
    if why is None:
        pods = kubectl("get", "deploy", "-o", "name", check=False)
        if "deployment.apps/workflow-host" not in pods:
            why = (
                f"the cluster answers but release {SETTINGS.release!r} is not installed in "
                f"namespace {SETTINGS.namespace!r}: run `make helm-install`"
            )
    if why:
        if SETTINGS.required:
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return SETTINGS


@pytest.fixture(autouse=True)
def _needs_cluster(cluster: K8sTestSettings) -> None:
    """Every test here needs the cluster: skipped (or failed, when required) with the reason,
    also those that reach it through kubectl alone."""


@dataclass
class Forward:
    """One ``kubectl port-forward``; stopped by the pid it started with."""

    proc: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def port_forward(target: str, remote: int) -> Forward:
    proc = subprocess.Popen(
        [
            SETTINGS.kubectl,
            "--context",
            SETTINGS.context,
            "-n",
            SETTINGS.namespace,
            "port-forward",
            target,
            f":{remote}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not found:
        proc.terminate()
        raise AssertionError(f"port-forward {target} {remote} said: {line!r}")
    # Keep the pipe drained (kubectl logs each connection there).
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return Forward(proc, int(found.group(1)))


@pytest.fixture(scope="session")
def forwards(cluster) -> Iterator[Callable[[str, int], Forward]]:
    """Opens (and remembers) port-forwards; stops each at the end of the session."""
    opened: dict[tuple[str, int], Forward] = {}

    def open_(target: str, remote: int) -> Forward:
        key = (target, remote)
        fwd = opened.get(key)
        if fwd is None or fwd.proc.poll() is not None:
            fwd = opened[key] = port_forward(target, remote)
        return fwd

    yield open_
    for fwd in opened.values():
        fwd.stop()


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


def secret(name: str, key: str) -> str:
    raw = kubectl("get", "secret", name, "-o", f"jsonpath={{.data.{key}}}")
    return base64.b64decode(raw).decode()


@dataclass
class Apps:
    """The apps' and Zipkin's addresses here. Each app's is a port-forward to one of its
    Ready pods, moved to another when that pod stops being Ready or starts terminating: a
    forward to a Service stays bound to the pod it chose while that pod terminates (an
    upgrade, a drill), and would go on reaching an app whose sidecar has already gone."""

    forwards: Callable[[str, int], Forward]
    dapr_token: str
    bound: dict[str, tuple[str, float]] = field(default_factory=dict)

    def _app(self, app: str, port: int) -> str:
        pod, checked = self.bound.get(app, ("", 0.0))
        if time.monotonic() - checked > 2:  # at most one pod listing per app every 2 s
            ready = pods_of(app)
            pod = pod if pod in ready else (ready[0] if ready else pod)
            assert pod, f"no ready pod of {app}"
            self.bound[app] = (pod, time.monotonic())
        return self.forwards(pod, port).url

    @property
    def agent(self) -> str:
        return self._app("agent-shell", 8001)

    @property
    def workflow(self) -> str:
        return self._app("workflow-host", 8002)

    @property
    def zipkin(self) -> str:
        return self.forwards("svc/zipkin", 9411).url

    def approver(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret(f'approver-{name}', f'approver-{name}')}"}


@pytest.fixture(scope="session")
def apps(cluster, forwards) -> Apps:
    fullname = f"{cluster.release}-snacktopus"
    return Apps(forwards=forwards, dapr_token=secret(f"{fullname}-dapr-api-token", "token"))


def _pods(app: str) -> list[dict]:
    """Every pod of the app, as the API server has it now."""
    out = kubectl("get", "pods", "-l", f"app.kubernetes.io/name={app}", "-o", "json")
    return json.loads(out)["items"]


def pods_of(app: str) -> list[str]:
    """The app's Ready pods that are not terminating (``pod/<name>``), oldest first."""
    items = _pods(app)
    ready = [
        p
        for p in items
        if not p["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions", [])
        )
    ]
    ready.sort(key=lambda p: p["metadata"]["creationTimestamp"])
    return [f"pod/{p['metadata']['name']}" for p in ready]


def pod_of(app: str) -> str:
    """A Ready pod of the app (the oldest)."""
    pods = pods_of(app)
    assert pods, f"no ready pod of {app}"
    return pods[0]


def force_kill(pod: str) -> str:
    """Deletes ``pod`` with no grace (``--grace-period=0 --force``): its containers get
    SIGKILL, as on a lost node. Returns the pod's uid, to tell its replacement apart."""
    uid = kubectl("get", pod, "-o", "jsonpath={.metadata.uid}")
    kubectl("delete", pod, "--grace-period=0", "--force", "--wait=false", timeout=60)
    return uid


def rollout_complete(*deploys: str, timeout: float = 300) -> None:
    for deploy in deploys:
        kubectl(
            "rollout",
            "status",
            f"deploy/{deploy}",
            f"--timeout={int(timeout)}s",
            timeout=timeout + 20,
        )


def redis_json(app_id: str, key: str) -> Any:
    """A value as Dapr's state.redis stored it in the in-cluster Redis (``<app>||<key>``)."""
    return redis_many(app_id, [key])[key]


def redis_many(app_id: str, keys: list[str]) -> dict[str, Any]:
    """Many values in one ``kubectl exec`` (redis-cli reading commands from stdin; it
    authenticates with the pod's REDISCLI_AUTH)."""
    if not keys:
        return {}
    script = "".join(f"HGET '{app_id}||{key}' data\n" for key in keys)
    out = kubectl("exec", "-i", "redis-0", "--", "redis-cli", "--raw", input=script, timeout=120)
    lines = out.split("\n")
    assert len(lines) >= len(keys), out[-2000:]
    return {
        k: json.loads(raw) if raw.strip() else None for k, raw in zip(keys, lines, strict=False)
    }


def redis_keys(app_id: str, pattern: str) -> list[str]:
    """Keys of ``app_id`` matching ``pattern``, without the ``<app>||`` prefix."""
    out = kubectl(
        "exec",
        "redis-0",
        "--",
        "redis-cli",
        "--raw",
        "--scan",
        "--pattern",
        f"{app_id}||{pattern}",
        timeout=120,
    )
    return [k.split("||", 1)[1] for k in out.split()]


def start_order(http: httpx.Client, apps: Apps, **body: Any) -> str:
    body.setdefault("order_id", new_id("ord"))
    body.setdefault("user_id", new_id("u"))
    # A port-forward ends with the pod behind it (drills and upgrades replace pods) a
    # moment before kubectl notices; the order id makes asking again safe: 200 then says
    # the first attempt had started the run.
    for attempt in range(5):
        try:
            r = http.post(f"{apps.workflow}/orders", json=body)
        except httpx.TransportError:
            time.sleep(2)
            continue
        assert r.status_code == 202 or (attempt and r.status_code == 200), r.text
        return body["order_id"]
    raise AssertionError(f"POST /orders for {body['order_id']}: no answer in 5 attempts")


def run_record(http: httpx.Client, apps: Apps, order_id: str) -> dict[str, Any] | None:
    try:
        r = http.get(f"{apps.workflow}/orders/{order_id}")
    except httpx.TransportError:
        return None  # a port-forward hiccup (pod restarts in drills): ask again
    return r.json()["run"] if r.status_code == 200 else None


def wait_run(
    http: httpx.Client, apps: Apps, order_id: str, statuses=TERMINAL, timeout: float = 240
) -> dict[str, Any]:
    def reached():
        run = run_record(http, apps, order_id)
        return run if run and run["status"] in statuses else None

    return wait_until(reached, timeout=timeout, every=1)


# --------------------------------------------------------------- in-cluster event subscriber

PROBE_MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: event-probe-code, labels: {{app.kubernetes.io/name: event-probe}}}}
data:
  event_probe.py: |
{code}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: event-probe, labels: {{app.kubernetes.io/name: event-probe}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app.kubernetes.io/name: event-probe}}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: event-probe}}
      annotations:
        dapr.io/enabled: "true"
        dapr.io/app-id: event-probe
        dapr.io/app-port: "8003"
        dapr.io/config: snacktopus
        dapr.io/api-token-secret: {fullname}-dapr-api-token
        dapr.io/app-token-secret: {fullname}-app-api-token
    spec:
      securityContext: {{runAsNonRoot: true, runAsUser: 10001}}
      containers:
        - name: app
          image: {image}
          imagePullPolicy: Never
          command: [python, /probe/event_probe.py]
          env:
            - name: APP_API_TOKEN
              valueFrom: {{secretKeyRef: {{name: {fullname}-app-api-token, key: token}}}}
          volumeMounts: [{{name: code, mountPath: /probe}}]
      volumes: [{{name: code, configMap: {{name: event-probe-code}}}}]
"""


class Probe:
    def __init__(self, http: httpx.Client, url: str) -> None:
        self.http, self.url = http, url

    def events(self, topic: str) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.url}/events", params={"topic": topic})
        r.raise_for_status()
        return [e["cloudevent"] for e in r.json()]

    def wait_for(self, topic: str, order_id: str, timeout: float = 90) -> dict[str, Any]:
        def found():
            hits = [e for e in self.events(topic) if e["data"].get("order_id") == order_id]
            return hits[0] if hits else None

        return wait_until(found, timeout=timeout, every=1)


@pytest.fixture(scope="session")
def probe(cluster, http, forwards) -> Iterator[Probe]:
    """tools/event_probe.py as an in-cluster Dapr app subscribed to every topic; deleted after."""
    code = (ROOT / "tools" / "event_probe.py").read_text()
    manifest = PROBE_MANIFEST.format(
        code="\n".join("    " + line for line in code.splitlines()),
        fullname=f"{cluster.release}-snacktopus",
        image=kubectl(
            "get",
            "deploy",
            "workflow-host",
            "-o",
            "jsonpath={.spec.template.spec.containers[?(@.name=='app')].image}",
        ),
    )
    kubectl("apply", "-f", "-", input=manifest)
    try:
        kubectl("rollout", "status", "deploy/event-probe", "--timeout=180s", timeout=200)
        fwd = forwards("deploy/event-probe", 8003)
        yield Probe(http, fwd.url)
    finally:
        remove_probe(wait=False)


def remove_probe(wait: bool = True) -> None:
    """Deletes the test subscriber (and waits for the Service Dapr made for it to go)."""
    kubectl(
        "delete",
        "deploy/event-probe",
        "configmap/event-probe-code",
        "--ignore-not-found",
        f"--wait={str(wait).lower()}",
        timeout=120,
    )
    if wait:
        wait_until(
            lambda: not kubectl("get", "svc", "event-probe-dapr", "-o", "name", check=False),
            timeout=60,
            every=1,
        )


@pytest.fixture(scope="module")
def cli(apps, forwards):
    """snacktopus-approve against a running workflow-host pod's sidecar (port-forwarded;
    the pod is looked up at each call, since drills replace pods)."""

    def run(*args: str, approver: str = "alice") -> subprocess.CompletedProcess[str]:
        pod = pod_of("workflow-host")
        token = secret(f"approver-{approver}", f"approver-{approver}")
        env = {
            **os.environ,
            "SNACKTOPUS_DAPR_GRPC_PORT": str(forwards(pod, 50001).port),
            "SNACKTOPUS_DAPR_HTTP_PORT": str(forwards(pod, 3500).port),
            "DAPR_API_TOKEN": apps.dapr_token,
            "SNACKTOPUS_APPROVER_TOKEN": token,
        }
        return subprocess.run(
            [str(ROOT / ".venv/bin/snacktopus-approve"), *args, "--approver", approver],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


# ------------------------------------------------------------ exactly once, judged by Redis

WF = "workflow-host"
# The record each side effect leaves (``<key>:<order_id>``), released by its undo step.
RECORD_OF = {
    "price_quote": "quote",
    "reserve_inventory": "reservation",
    "hold_delivery_slot": "slot",
}


@dataclass
class Verdict:
    """What Redis and the events say of some orders: their statuses, how many ledger
    entries there are, and every way an order was lost, doubled or left half undone."""

    statuses: dict[str, str]
    ledger_entries: int
    problems: list[str]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for status in self.statuses.values():
            out[status] = out.get(status, 0) + 1
        return dict(sorted(out.items()))


def judge(probe: Probe, order_ids: list[str]) -> Verdict:
    """Exactly once, by the ledger: a completed order has one ledger entry (its total) and
    one ``order.completed``; any other terminal order has no ledger entry, every side
    effect it held released, and one ``order.compensated``."""
    values = redis_many(WF, [f"{k}:{o}" for o in order_ids for k in ("run", "ledger")])
    events = {o: [] for o in order_ids}
    for topic in ("order.completed", "order.compensated"):
        for e in probe.events(topic):
            if e["data"].get("order_id") in events:
                events[e["data"]["order_id"]].append(topic)
    statuses, problems, released = {}, [], []
    for oid in order_ids:
        run, ledger = values[f"run:{oid}"], values[f"ledger:{oid}"]
        status = statuses[oid] = run["status"] if run else "lost"
        want = "order.completed" if status == "completed" else "order.compensated"
        if status not in TERMINAL:
            problems.append(f"{oid}: {status}")
            continue
        if events[oid] != [want]:
            problems.append(f"{oid} ({status}) published {events[oid]}")
        if status == "completed" and (ledger is None or ledger["total_usd"] != run["total_usd"]):
            problems.append(f"{oid}: completed, ledger {ledger}")
        if status != "completed":
            if ledger is not None:
                problems.append(f"{oid}: {status} but placed")
            released += [f"{RECORD_OF[e]}:{oid}" for e in run["side_effects"]]
    for key, record in redis_many(WF, released).items():
        if (record or {}).get("status") != "released":
            problems.append(f"{key} not released: {record}")
    ledger_entries = sum(values[f"ledger:{o}"] is not None for o in order_ids)
    return Verdict(statuses, ledger_entries, problems)


def judge_ended(http: httpx.Client, apps: Apps, probe: Probe, want: dict[str, str]) -> Verdict:
    """Waits for every order to end, then holds them to ``want`` (order id -> status) and
    to exactly once (``judge``), and the stock counters to the reservations."""
    for order_id in want:
        wait_run(http, apps, order_id, timeout=600)
    verdict = judge(probe, list(want))
    assert verdict.problems == [], verdict.problems
    assert verdict.statuses == want
    assert stock_disagreements() == []
    return verdict


DRILLS = ROOT / ".run" / "k8s" / "drills.json"


def record_drill(drill: str, **figures: Any) -> None:
    """A drill's counts, kept in ``.run/k8s/drills.json`` (the test plan quotes them)."""
    DRILLS.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(DRILLS.read_text()) if DRILLS.exists() else {}
    report[drill] = figures
    DRILLS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{drill}: {figures}")


def stock_disagreements() -> list[str]:
    """Every SKU's stock ledger (``stock:<sku>``, ``workflow_host.stock``) against the
    reservations held through it: its ``holds`` exactly the held ones (order and units),
    its ``sold`` the committed ones' units. A doubled or lost hold, a lost release or a
    sale counted twice shows as a difference. Reservations of a release before the ledger
    (counted in ``reserved:<sku>``, whose earlier drills left it short) are not judged."""
    holds: dict[str, dict[str, int]] = {}
    sold: dict[str, int] = {}
    for res in redis_many(WF, redis_keys(WF, "reservation:*")).values():
        if not res or res.get("ledger") != "stock":
            continue
        for sku, qty in res["lines"].items():
            if res["status"] == "held":
                holds.setdefault(sku, {})[res["order_id"]] = qty
            elif res["status"] == "committed":
                sold[sku] = sold.get(sku, 0) + qty
    ledgers = {
        key.split(":", 1)[1]: ledger or {}
        for key, ledger in redis_many(WF, redis_keys(WF, "stock:*")).items()
    }
    problems = []
    for sku in sorted(set(ledgers) | set(holds) | set(sold)):
        ledger = ledgers.get(sku, {})
        if ledger.get("holds", {}) != holds.get(sku, {}):
            problems.append(f"{sku}: holds {ledger.get('holds')}, reservations {holds.get(sku)}")
        if ledger.get("sold", 0) != sold.get(sku, 0):
            problems.append(f"{sku}: sold {ledger.get('sold', 0)}, committed {sold.get(sku, 0)}")
    return problems
