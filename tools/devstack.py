"""The local one-machine stack: Redis, Zipkin, Ollama, placement, scheduler, and each app
under its own ``daprd`` sidecar.

    python tools/devstack.py up [--profile dev|test] [--no-apps]
    python tools/devstack.py down | status | logs [PROGRAM] [-n N] | stop/start/restart PROGRAM

Process management is supervisord's (PyPI ``supervisor``), not code of ours: this module
only renders its config from :class:`StackSettings`, starts it, waits until every program
answers its health check, and stops it again by the pid supervisord recorded, which stops
exactly the processes it started. Everything (config, pids, logs, Redis AOF, scheduler
etcd data) lives under one run folder, ``.run/`` by default.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `tools` is a package of the repository

from tools.stack_settings import StackSettings  # noqa: E402

console = Console(stderr=True, highlight=False)


FIRST_TIER = 20  # Redis, Zipkin, Ollama, placement, scheduler start with supervisord
# Each program's stopwaitsecs: supervisord stops the tiers one after another, so a stop
# can take this long per tier before it kills (seen: Redis writing out a large store).
STOP_WAIT_S = 15
SIDECAR_TIER = 30  # daprd + apps (priority 30/40: supervisord stops apps before sidecars)

# The test profile's app settings (`make up-test`, the test session, drills): seconds, not
# hours. A value already in the caller's environment wins over these defaults.
TEST_PROFILE_ENV_DEFAULTS = {
    "APPROVAL_TIMEOUT_S": "6",
    # Catalog prices are real: a 4-person order costs a few dollars, a 60-person one ~$40.
    "APPROVAL_THRESHOLD_USD": "25",
    "ALLOW_FAULT_INJECTION": "true",
    "LLM_TIMEOUT_S": "30",
    # Approval policies in seconds too. Four eyes above $60: BIG_ORDER (~$40) needs one
    # approver, HUGE_ORDER (tests/support.py) two. ivan is the escalation group: no other
    # test decides as ivan, who may decide only once an order escalated.
    "DUAL_APPROVAL_USD": "60",
    "APPROVAL_ESCALATE_AFTER_S": "4",
    "APPROVAL_ESCALATION_GROUP": "ivan",
    "APPROVAL_REMIND_BEFORE_S": "5",
    "NOTIFY_CHANNELS": "email,webhook",
}
# The bench profile: the model answered by Dapr's conversation.echo (so the benchmark
# measures our code and Dapr, not SmolLM2) and every order under the approval threshold.
BENCH_PROFILE_ENV_DEFAULTS = {"LLM_COMPONENT": "llm-echo", "APPROVAL_THRESHOLD_USD": "100000"}
PROFILE_ENV = {
    name: {k: os.environ.get(k, v) for k, v in defaults.items()}
    for name, defaults in (
        ("test", TEST_PROFILE_ENV_DEFAULTS),
        ("bench", BENCH_PROFILE_ENV_DEFAULTS),
    )
}


@dataclass
class Program:
    name: str
    command: list[str]
    check: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    priority: int = 10
    stopsignal: str = "TERM"


def _write_private(path: Path, text: str) -> None:
    """Writes a file holding credentials readable by its owner only, created with that mode
    (never briefly world-readable) and swapped in whole."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    tmp.replace(path)


def _http_ok(url: str, expect: tuple[int, ...] = (200, 204)) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code in expect
        except httpx.HTTPError:
            return False

    return check


def _redis_ok(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    return check


def _smtp_ok(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                return s.recv(64).startswith(b"220")
        except OSError:
            return False

    return check


def daprd_binary(cache_dir: Path) -> Path:
    """Our daprd flavour, from its flavour-keyed cache directory (runtime/install.sh), not
    the shared ``bin/daprd`` link: a stack runs the flavour its own checkout pins, whatever
    another checkout's install pointed that link at."""
    pins = dict(
        line.split("=", 1)
        for line in (ROOT / "runtime" / "versions.env").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    return cache_dir / "dapr" / f"{pins['DAPR_VERSION']}-{pins['DAPRD_FLAVOUR']}" / "daprd"


def _model_ok(url: str, model: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            tags = httpx.get(f"{url}/api/tags", timeout=2.0).json()
        except (httpx.HTTPError, ValueError):
            return False
        return any(m.get("name") in {model, f"{model}:latest"} for m in tags.get("models", []))

    return check


class Stack:
    def __init__(self, settings: StackSettings) -> None:
        self.run = (ROOT / settings.run_dir).resolve()
        self.s = settings.model_copy(update={"run_dir": self.run})
        self.bin = settings.cache_dir / "bin"
        self.conf = self.run / "supervisord.conf"
        self.pidfile = self.run / "supervisord.pid"
        self.sock = self.run / "supervisor.sock"
        self.logs = self.run / "logs"
        # Every sidecar's binary; a reproduction may point it at a patched build.
        self.daprd = daprd_binary(settings.cache_dir)

    def daprd_command(self, app_id: str, http: int, grpc: int, internal: int, metrics: int):
        """A daprd of our flavour on this stack's components, configuration, placement and
        scheduler, listening on loopback only (the app's own options are the caller's)."""
        s, run = self.s, self.run
        return [
            str(self.daprd),
            "--app-id",
            app_id,
            "--dapr-http-port",
            str(http),
            "--dapr-grpc-port",
            str(grpc),
            "--dapr-internal-grpc-port",
            str(internal),
            "--metrics-port",
            str(metrics),
            "--resources-path",
            str(run / "components"),
            "--config",
            str(run / "config.yaml"),
            "--placement-host-address",
            f"localhost:{s.placement_port}",
            "--scheduler-host-address",
            f"localhost:{s.scheduler_port}",
            "--log-as-json",
            "--dapr-listen-addresses",
            "127.0.0.1",
        ]

    # ------------------------------------------------------------------ rendering
    def render(
        self,
        profile: str,
        with_apps: bool,
        without: set[str] = frozenset(),
        app_env: dict[str, str] | None = None,
        components: bool = True,
    ) -> list[Program]:
        """Writes the stack's configuration; ``app_env`` is added to every app's
        environment, over the profile's (see :meth:`reconfigure`). ``components=False``
        leaves the Dapr components and configuration as they are: running sidecars
        reload on a rewrite of them (and lost their name-resolution entry doing so)."""
        s, run = self.s, self.run
        mail = [s.maildir / sub for sub in ("tmp", "new", "cur")]  # a whole Maildir
        for d in (run, self.logs, run / "redis", run / "scheduler", run / "components", *mail):
            d.mkdir(parents=True, exist_ok=True)
        values = {
            "REDIS_HOST": s.redis_host,
            "OLLAMA_ENDPOINT": f"{s.ollama_url}/v1",
            "OLLAMA_MODEL": s.ollama_model,
            "ZIPKIN_ENDPOINT": f"{s.zipkin_url}/api/v2/spans",
            "SECRETS_FILE": str(s.secrets_file),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(s.smtp_port),
            # The test profile's event-probe doubles as the webhook receiver (chat tools).
            "NOTIFY_WEBHOOK_URL": f"http://127.0.0.1:{s.probe_app_port}/webhook",
        }
        if components:
            self._write_components(values)
        (run / "profile").write_text(profile)

        b = lambda name: str(self.bin / name)  # noqa: E731
        venv = ROOT / ".venv" / "bin"
        programs = [
            Program(
                "redis",
                [
                    b("redis-server"),
                    "--port",
                    str(s.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(run / "redis"),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",  # orders and reservations are money: fsync every write (kill -9 safe)
                    "--save",
                    "",
                    "--protected-mode",
                    "yes",
                ],
                _redis_ok(s.redis_port),
            ),
            Program(
                "zipkin",
                [
                    "java",
                    "-Xms64m",
                    "-Xmx384m",
                    "-XX:+UseSerialGC",
                    "-jar",
                    str(s.cache_dir / "zipkin.jar"),
                ],
                _http_ok(f"{s.zipkin_url}/health"),
                env={
                    "QUERY_PORT": str(s.zipkin_port),
                    "STORAGE_TYPE": "mem",
                    "MEM_MAX_SPANS": "200000",
                },
            ),
            Program(
                "ollama",
                [b("ollama"), "serve"],
                _model_ok(s.ollama_url, s.ollama_model),
                env={
                    "OLLAMA_HOST": f"127.0.0.1:{s.ollama_port}",
                    "OLLAMA_MODELS": str(s.cache_dir / "ollama-models"),
                    # Overridable to measure what they move (loadtest/model_limit.py).
                    "OLLAMA_KEEP_ALIVE": os.environ.get("OLLAMA_KEEP_ALIVE", "24h"),
                    "OLLAMA_NUM_PARALLEL": os.environ.get("OLLAMA_NUM_PARALLEL", "2"),
                },
            ),
            # Notification mail: a real SMTP server, each message a file in the Maildir.
            Program(
                "smtp",
                [
                    str(venv / "python"),
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    f"127.0.0.1:{s.smtp_port}",
                    "-c",
                    "aiosmtpd.handlers.Mailbox",
                    str(s.maildir),
                ],
                _smtp_ok(s.smtp_port),
            ),
            Program(
                "placement",
                [
                    b("placement"),
                    "--port",
                    str(s.placement_port),
                    "--healthz-port",
                    str(s.placement_health_port),
                    "--metrics-port",
                    str(s.placement_metrics_port),
                    # Its raft port too: Dapr's default (8201) is shared by every
                    # placement on the machine and sits among app ports.
                    "--initial-cluster",
                    f"dapr-placement-0=127.0.0.1:{s.placement_raft_port}",
                    "--log-as-json",
                ],
                _http_ok(f"http://127.0.0.1:{s.placement_health_port}/healthz"),
                priority=20,
            ),
            Program(
                "scheduler",
                [
                    b("scheduler"),
                    "--port",
                    str(s.scheduler_port),
                    "--healthz-port",
                    str(s.scheduler_health_port),
                    "--metrics-port",
                    str(s.scheduler_metrics_port),
                    "--etcd-data-dir",
                    str(run / "scheduler"),
                    "--etcd-client-port",
                    str(s.scheduler_etcd_client_port),
                    "--etcd-initial-cluster",
                    f"dapr-scheduler-server-0=http://localhost:{s.scheduler_etcd_peer_port}",
                    "--log-as-json",
                ],
                _http_ok(f"http://127.0.0.1:{s.scheduler_health_port}/healthz"),
                priority=20,
            ),
        ]
        sidecars = [
            (
                "agent-shell",
                "agent",
                s.agent_app_port,
                s.agent_dapr_http_port,
                s.agent_dapr_grpc_port,
                s.agent_dapr_internal_grpc_port,
                s.agent_dapr_metrics_port,
            ),
            (
                "workflow-host",
                "workflow",
                s.workflow_app_port,
                s.workflow_dapr_http_port,
                s.workflow_dapr_grpc_port,
                s.workflow_dapr_internal_grpc_port,
                s.workflow_dapr_metrics_port,
            ),
        ]
        if profile == "bench":
            sidecars.append(
                (
                    "bare-bench",
                    "bare",
                    s.bare_app_port,
                    s.bare_dapr_http_port,
                    s.bare_dapr_grpc_port,
                    s.bare_dapr_internal_grpc_port,
                    s.bare_dapr_metrics_port,
                )
            )
            sidecars.append(
                (
                    "bare-agent",
                    "bareagent",
                    s.bare_agent_app_port,
                    s.bare_agent_dapr_http_port,
                    s.bare_agent_dapr_grpc_port,
                    s.bare_agent_dapr_internal_grpc_port,
                    s.bare_agent_dapr_metrics_port,
                )
            )
        if profile == "test":
            sidecars.append(
                (
                    "event-probe",
                    "probe",
                    s.probe_app_port,
                    s.probe_dapr_http_port,
                    s.probe_dapr_grpc_port,
                    s.probe_dapr_internal_grpc_port,
                    s.probe_dapr_metrics_port,
                )
            )
        tokens = self._tokens({app_id for app_id, *_ in sidecars})
        for app_id, short, app_port, http, grpc, internal, metrics in sidecars:
            has_app = with_apps and app_port is not None
            cmd = self.daprd_command(app_id, http, grpc, internal, metrics)
            if has_app:
                cmd += ["--app-port", str(app_port), "--app-protocol", "http"]
            # Every sidecar API call needs the Dapr API token; each sidecar proves itself to
            # its app with that app's token (APP_API_TOKEN), checked on sidecar-only routes.
            app_token = tokens["app_api_tokens"][app_id]
            auth_env = {"DAPR_API_TOKEN": tokens["dapr_api_token"], "APP_API_TOKEN": app_token}
            programs.append(
                Program(
                    f"daprd-{short}",
                    cmd,
                    _http_ok(f"http://127.0.0.1:{http}/v1.0/healthz"),
                    env=auth_env,
                    priority=30,
                )
            )
            if has_app:
                scripts = {
                    "event-probe": ROOT / "tools" / "event_probe.py",
                    "bare-bench": ROOT / "loadtest" / "bare_workflow.py",
                    "bare-agent": ROOT / "loadtest" / "bare_agent.py",
                }
                command = (
                    [str(venv / "python"), str(scripts[app_id])]
                    if app_id in scripts
                    else [str(venv / app_id)]
                )
                programs.append(
                    Program(
                        short,
                        command,
                        _http_ok(f"http://127.0.0.1:{app_port}/healthz"),
                        env={
                            "DAPR_HTTP_PORT": str(http),
                            "DAPR_GRPC_PORT": str(grpc),
                            f"{short.upper()}_APP_PORT": str(app_port),
                            "ZIPKIN_ENDPOINT": values["ZIPKIN_ENDPOINT"],
                            # The label answers report: the model the llm component runs.
                            "LLM_MODEL_LABEL": s.ollama_model,
                            "CONSOLE_BASE_URL": f"http://127.0.0.1:{s.workflow_app_port}",
                            **auth_env,
                            **PROFILE_ENV.get(profile, {}),
                            **(app_env or {}),
                        },
                        priority=40,
                    )
                )
        programs = [p for p in programs if p.name not in without]
        # The programs' environment holds the stack's tokens: owner-only, like the token files.
        _write_private(self.conf, self._supervisor_conf(programs))
        return programs

    def _write_components(self, values: dict[str, str]) -> None:
        run = self.run
        for old in (run / "components").glob("*.yaml"):
            old.unlink()
        for src in sorted((ROOT / "components").glob("*.yaml")):
            target = run / (
                "config.yaml" if src.name == "config.yaml" else f"components/{src.name}"
            )
            target.write_text(_substitute(src.read_text(), values, src.name))
        _resolve_names_in(run / "config.yaml", run / "nameresolution.db")

    def _tokens(self, app_ids: set[str]) -> dict:
        """The stack's credentials, made once per run folder (0600) and kept across restarts
        so running clients stay valid: the Dapr API token, an app API token for each app
        this profile runs, and the secret store's file with a token per approver
        (``approver-<name>``) and the console's cookie signing key (``console-session-key``).
        Missing ones are added; existing ones are never changed."""
        s = self.s
        new = lambda: secrets.token_urlsafe(24)  # noqa: E731
        tokens = s.local_tokens()
        apps = tokens.get("app_api_tokens", {})
        if not tokens.get("dapr_api_token") or not app_ids <= set(apps):
            tokens = {
                "dapr_api_token": tokens.get("dapr_api_token") or new(),
                "app_api_tokens": {**{a: new() for a in app_ids}, **apps},
            }
            _write_private(s.tokens_file, json.dumps(tokens))
        store = s.local_secrets()
        # The console signs its session cookies with console-session-key (workflow-host).
        wanted = {f"approver-{a}" for a in s.approvers} | {"console-session-key"}
        if not wanted <= set(store):
            store = {k: v for k, v in store.items() if k in wanted}
            store.update({k: new() for k in wanted - set(store)})
            _write_private(s.secrets_file, json.dumps(store))
        return tokens

    def _supervisor_conf(self, programs: list[Program]) -> str:
        lines = [
            "[unix_http_server]",
            f"file={self.sock}",
            "chmod=0700",
            "",
            "[supervisord]",
            f"pidfile={self.pidfile}",
            f"logfile={self.logs / 'supervisord.log'}",
            f"directory={ROOT}",
            "loglevel=info",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{self.sock}",
            "",
        ]
        for p in programs:
            env = ",".join(f'{k}="{v}"' for k, v in p.env.items())
            lines += [
                f"[program:{p.name}]",
                "command=" + " ".join(shlex.quote(c).replace("%", "%%") for c in p.command),
                f"directory={ROOT}",
                f"priority={p.priority}",
                # Only the first tier starts with supervisord; `up` starts each later tier
                # once the one before answers (a sidecar that meets a Redis still loading
                # its AOF exits fatally).
                f"autostart={'true' if p.priority <= FIRST_TIER else 'false'}",
                "autorestart=unexpected",
                "startsecs=1",
                "startretries=3",
                f"stopsignal={p.stopsignal}",
                f"stopwaitsecs={STOP_WAIT_S}",
                "stopasgroup=true",
                "killasgroup=true",
                "redirect_stderr=true",
                f"stdout_logfile={self.logs / (p.name + '.log')}",
                "stdout_logfile_maxbytes=20MB",
                "stdout_logfile_backups=1",
            ]
            if env:
                lines.append(f"environment={env}")
            lines.append("")
        return "\n".join(lines)

    # ------------------------------------------------------------------ lifecycle
    def supervisord_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return None
        # A recycled pid belongs to someone else: only ours names our config.
        return pid if str(self.conf) in cmdline else None

    def profile(self) -> str | None:
        try:
            return (self.run / "profile").read_text().strip()
        except OSError:
            return None

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            check=check,
        )

    def up(
        self, profile: str, with_apps: bool, timeout: float, without: set[str] = frozenset()
    ) -> None:
        if (pid := self.supervisord_pid()) is not None:
            raise SystemExit(
                f"a stack is already running (supervisord pid {pid}, profile {self.profile()}); "
                "run `make down` first"
            )
        self._check_ports()
        programs = self.render(profile, with_apps, without)
        missing = [
            p.command[0]
            for p in programs
            if "/" in p.command[0] and not Path(p.command[0]).exists()
        ]
        if missing:
            raise SystemExit(f"not installed: {', '.join(missing)} — run `make dev` first")
        console.print(
            f"[bold]stack[/] starting {len(programs)} programs "
            f"(profile {profile}, run folder {self.run})"
        )
        subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)], check=True
        )
        start = time.monotonic()
        # Sidecars and apps start together: a daprd with --app-port is healthy only once its
        # app listens, and the app waits for its sidecar.
        tier_of = lambda p: min(p.priority, SIDECAR_TIER)  # noqa: E731
        for tier in sorted({tier_of(p) for p in programs}):
            group = [p for p in programs if tier_of(p) == tier]
            if tier > FIRST_TIER:
                self.ctl("start", *(p.name for p in group), check=False)
            self._wait_ready(group, start, timeout)
        console.print(f"[bold green]stack ready[/] in {time.monotonic() - start:.1f} s")

    def _wait_ready(self, group: list[Program], start: float, timeout: float) -> None:
        pending = {p.name: p for p in group}
        while pending:
            for name, p in list(pending.items()):
                if p.check():
                    console.print(f"  [green]ready[/] {name:<16} {time.monotonic() - start:5.1f} s")
                    del pending[name]
            if not pending:
                return
            if time.monotonic() - start > timeout:
                for name in pending:
                    console.print(f"[red]not ready after {timeout:.0f} s:[/] {name}")
                    console.print(self.tail(name, 25), markup=False, highlight=False)
                self.down()
                raise SystemExit(f"stack did not become ready: {', '.join(pending)}")
            status = self.ctl("status", check=False).stdout
            for name in pending:
                # FATAL: supervisord gave up restarting it (EXITED/BACKOFF may still recover).
                if re.search(rf"^{re.escape(name)}\s+FATAL", status, re.M):
                    console.print(f"[red]{name} failed to start[/]")
                    console.print(self.tail(name, 40))
                    self.down()
                    raise SystemExit(f"{name} failed to start (log {self.logs / name}.log)")
            time.sleep(0.5)

    @contextmanager
    def borrowed(self, profile: str = "dev", timeout: float = 300) -> Iterator[bool]:
        """The stack for a tool's run: a running one is used as it is (any profile) and
        left running; otherwise ``profile`` is started and stopped again after. Yields
        whether this call started it."""
        started = self.supervisord_pid() is None
        if started:
            self.up(profile, True, timeout=timeout)
        try:
            yield started
        finally:
            if started:
                self.down()

    def reconfigure(self, program: str, app_env: dict[str, str], timeout: float = 180) -> None:
        """Restarts one app of the running stack with ``app_env`` added to the apps'
        environment (the bench's real-model phase: agent-shell on ``llm`` rather than
        ``llm-echo``); ``{}`` puts the profile's own back. Only that program restarts."""
        profile = self.profile() or self.s.stack_profile
        rendered = self.render(profile, True, app_env=app_env, components=False)
        programs = {p.name: p for p in rendered}
        self.ctl("reread", check=False)
        self.ctl("update", program, check=False)  # drops and re-adds it: not autostarted
        self.ctl("start", program, check=False)
        self._wait_ready([programs[program]], time.monotonic(), timeout)

    def down(self) -> None:
        pid = self.supervisord_pid()
        if pid is None:
            console.print("no stack running (no live supervisord pid in the run folder)")
            return
        # supervisord stops its programs tier by tier, each up to STOP_WAIT_S, then exits.
        wait_s = STOP_WAIT_S * (len(self._tiers()) + 1)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.2)
        else:
            console.print(f"[red]supervisord {pid} still running after {wait_s} s[/]")
            raise SystemExit(1)
        console.print(f"stack stopped (supervisord pid {pid} and its programs)")

    def _tiers(self) -> set[str]:
        """The priorities of the running stack's programs (its rendered config, which a
        live supervisord of ours always has: ``supervisord_pid`` reads it off its cmdline)."""
        return set(re.findall(r"^priority=(\d+)$", self.conf.read_text(), re.M))

    def status(self) -> int:
        if self.supervisord_pid() is None:
            console.print("no stack running")
            return 3
        console.print(f"profile: {self.profile()}  run folder: {self.run}")
        out = self.ctl("status", check=False)
        print(out.stdout, end="")
        return out.returncode

    def supervisor_pids(self) -> dict[str, int]:
        """pid of each running program, as supervisord reports it."""
        out = self.ctl("status", check=False).stdout
        return {m[1]: int(m[2]) for m in re.finditer(r"^(\S+)\s+RUNNING\s+pid (\d+)", out, re.M)}

    def kill(self, name: str) -> None:
        """SIGKILL one program (drills): supervisord sees an unexpected exit and restarts it."""
        self.ctl("signal", "KILL", name)

    def tail(self, name: str, n: int = 50) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return f"(no log {path})"
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])

    def _check_ports(self) -> None:
        busy = []
        for name, value in self.s.ports().items():
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", value)) == 0:
                    busy.append(f"{name}={value}")
        if busy:
            raise SystemExit(
                "ports already in use by something else: "
                + ", ".join(busy)
                + " — stop it, or set other ports in .env (see .env.example)"
            )


def _resolve_names_in(config: Path, db: Path) -> None:
    """Makes the stack's sidecars find each other through a SQLite file of its own.

    Dapr's default in self-hosted mode, mDNS, has no namespaces: with a second stack on
    the machine (another checkout, its ports shifted in ``.env``) each sidecar would
    resolve ``workflow-host`` or ``agent-shell`` to either stack's. The chart keeps
    Kubernetes' resolver, so this lives here, not in ``components/config.yaml``."""
    doc = yaml.safe_load(config.read_text())
    doc["spec"]["nameResolution"] = {
        "component": "sqlite",
        "configuration": {"connectionString": str(db.resolve())},
    }
    config.write_text(yaml.safe_dump(doc, sort_keys=False))


def _substitute(text: str, values: dict[str, str], where: str) -> str:
    def repl(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise SystemExit(f"{where}: unknown placeholder ${{{key}}}")
        return values[key]

    return re.sub(r"\$\{([A-Z_]+)\}", repl, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start the stack and wait until every program is ready")
    up.add_argument("--profile", choices=["dev", "test", "bench"], default=None)
    up.add_argument("--no-apps", action="store_true", help="sidecars only, no app processes")
    up.add_argument("--timeout", type=float, default=240.0)
    up.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="PROGRAM",
        help="leave one program out (e.g. ollama, for a degraded-mode drill)",
    )
    sub.add_parser("down", help="stop what `up` started")
    sub.add_parser("status", help="what runs")
    sub.add_parser("render", help="write the config without starting anything")
    logs = sub.add_parser("logs", help="tail the logs")
    logs.add_argument("program", nargs="?")
    logs.add_argument("-n", type=int, default=40)
    for verb in ("stop", "start", "restart", "kill"):
        p = sub.add_parser(verb, help=f"{verb} one program (drills)")
        p.add_argument("program")
    args = parser.parse_args(argv)

    stack = Stack(StackSettings())
    match args.cmd:
        case "up":
            stack.up(
                args.profile or stack.s.stack_profile,
                not args.no_apps,
                args.timeout,
                set(args.without),
            )
        case "down":
            stack.down()
        case "status":
            return stack.status()
        case "render":
            stack.render(stack.s.stack_profile, True)
            print(stack.conf)
        case "logs":
            names = (
                [args.program] if args.program else sorted(p.stem for p in stack.logs.glob("*.log"))
            )
            for name in names:
                console.rule(name)
                print(stack.tail(name, args.n))
        case "kill":
            stack.kill(args.program)
        case "stop" | "start" | "restart":
            out = stack.ctl(args.cmd, args.program, check=False)
            print(out.stdout, end="")
            return out.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
