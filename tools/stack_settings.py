"""Ports and paths of the local one-machine stack (``make up``, ``tools/devstack.py``).

Only the tools, tests and benchmarks that run the stack beside the apps read this: the apps
and the library in their images know their own sidecar and nothing of a machine's other
processes. Values come from the environment, then ``.env`` (``.env.example`` lists them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode
from snacktopus_core.settings import ENV_FILE, dapr_token_header
from snacktopus_core.settings import port_field as _port


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_ports() -> range | None:
    """The ports the kernel hands out as the local end of outgoing connections."""
    try:
        low, high = map(int, EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return None
    return range(low, high + 1)


class StackSettings(BaseSettings):
    """Ports and paths of the local one-machine stack (``make up``).

    Defaults avoid the clashes of Dapr's own defaults: placement and scheduler both
    default to healthz 8080 and metrics 9090, and each daprd to metrics 9090; and they lie
    below the kernel's ephemeral range (32768-60999 on Linux by default), which Dapr's
    own 5xxxx ports are in.
    """

    model_config = ENV_FILE

    run_dir: Path = Field(default=Path(".run"), description="Pids, logs, data of `make up`.")
    cache_dir: Path = Field(default=Path.home() / ".cache" / "snacktopus")
    stack_profile: Literal["dev", "test", "bench"] = "dev"

    redis_port: int = _port(6390, "Redis (state store and pub/sub).")
    zipkin_port: int = _port(9411, "Zipkin API and UI.")
    ollama_port: int = _port(11434, "Ollama API.")
    ollama_model: str = Field(
        default="gemma3:270m",
        min_length=1,
        description="The model Ollama serves to the llm component: gemma3:270m or smollm2:135m.",
    )

    placement_port: int = _port(25005, "Dapr placement (actors).")
    placement_health_port: int = _port(28080, "placement healthz.")
    placement_metrics_port: int = _port(29090, "placement metrics.")
    placement_raft_port: int = _port(28201, "placement's raft peer port (Dapr's default 8201).")
    scheduler_port: int = _port(25006, "Dapr scheduler (timers, reminders).")
    scheduler_health_port: int = _port(28081, "scheduler healthz.")
    scheduler_metrics_port: int = _port(29091, "scheduler metrics.")
    scheduler_etcd_client_port: int = _port(22379, "scheduler's embedded etcd client port.")
    scheduler_etcd_peer_port: int = _port(22380, "scheduler's embedded etcd peer port.")

    agent_app_port: int = _port(8001, "agent-shell HTTP API.")
    agent_dapr_http_port: int = _port(3501, "agent-shell's daprd HTTP.")
    agent_dapr_grpc_port: int = _port(25011, "agent-shell's daprd gRPC.")
    agent_dapr_internal_grpc_port: int = _port(25021, "agent-shell's daprd internal gRPC.")
    agent_dapr_metrics_port: int = _port(9091, "agent-shell's daprd metrics.")

    workflow_app_port: int = _port(8002, "workflow-host HTTP API.")
    workflow_dapr_http_port: int = _port(3502, "workflow-host's daprd HTTP.")
    workflow_dapr_grpc_port: int = _port(25012, "workflow-host's daprd gRPC.")
    workflow_dapr_internal_grpc_port: int = _port(25022, "workflow-host's daprd internal gRPC.")
    workflow_dapr_metrics_port: int = _port(9092, "workflow-host's daprd metrics.")

    probe_app_port: int = _port(8003, "event-probe subscriber app (test profile).")
    probe_dapr_http_port: int = _port(3503, "event-probe daprd HTTP (test profile).")
    probe_dapr_grpc_port: int = _port(25013, "event-probe daprd gRPC (test profile).")
    probe_dapr_internal_grpc_port: int = _port(25023, "event-probe daprd internal gRPC.")
    probe_dapr_metrics_port: int = _port(9093, "event-probe daprd metrics.")

    bare_app_port: int = _port(8004, "bare-bench baseline workflow app (bench profile).")
    bare_dapr_http_port: int = _port(3504, "bare-bench daprd HTTP (bench profile).")
    bare_dapr_grpc_port: int = _port(25014, "bare-bench daprd gRPC (bench profile).")
    bare_dapr_internal_grpc_port: int = _port(25024, "bare-bench daprd internal gRPC.")
    bare_dapr_metrics_port: int = _port(9094, "bare-bench daprd metrics.")

    bare_agent_app_port: int = _port(8005, "bare-agent baseline DurableAgent app (bench profile).")
    bare_agent_dapr_http_port: int = _port(3505, "bare-agent daprd HTTP (bench profile).")
    bare_agent_dapr_grpc_port: int = _port(25015, "bare-agent daprd gRPC (bench profile).")
    bare_agent_dapr_internal_grpc_port: int = _port(25025, "bare-agent daprd internal gRPC.")
    bare_agent_dapr_metrics_port: int = _port(9095, "bare-agent daprd metrics.")

    smtp_port: int = _port(2525, "The local SMTP server (aiosmtpd) notifications go to.")

    def ports(self) -> dict[str, int]:
        """Every port setting (the fields named ``*_port``), by name."""
        return {name: value for name, value in self if name.endswith("_port")}

    @model_validator(mode="after")
    def _ports_distinct(self) -> Self:
        seen: dict[int, str] = {}
        for name, value in self.ports().items():
            if value in seen:
                raise ValueError(f"{name} and {seen[value]} both use port {value}")
            seen[value] = name
        return self

    @model_validator(mode="after")
    def _ports_outside_the_ephemeral_range(self) -> Self:
        """A port the stack listens on inside the ephemeral range can be taken first by any
        outgoing connection, and the program that should listen there crash-loops (seen:
        the scheduler's etcd client on 50022, workflow-host's daprd internal gRPC port)."""
        ephemeral = ephemeral_ports()
        if ephemeral is None:
            return self
        taken = [f"{n}={v}" for n, v in self.ports().items() if v in ephemeral]
        if taken:
            raise ValueError(
                f"{', '.join(taken)}: inside this machine's ephemeral port range "
                f"{ephemeral.start}-{ephemeral.stop - 1} ({EPHEMERAL_RANGE}), where an "
                "outgoing connection may hold it first; choose a port below it"
            )
        return self

    # NoDecode: a comma list from the environment, not JSON.
    approvers: Annotated[list[str], NoDecode] = Field(
        # ivan: the test profile's escalation group (no other test decides as ivan).
        default=["alice", "bob", "carol", "dave", "erin", "frank", "gina", "olga", "ivan"],
        description="Approvers the local stack issues tokens for (secret approver-<name>).",
    )

    @field_validator("approvers", mode="before")
    @classmethod
    def _split_approvers(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @property
    def tokens_file(self) -> Path:
        """The local stack's Dapr API and app API tokens (0600, made by ``make up``)."""
        return self.run_dir / "tokens.json"

    @property
    def secrets_file(self) -> Path:
        """The local secret store's file (approver tokens; 0600, made by ``make up``)."""
        return self.run_dir / "secrets.json"

    def local_tokens(self) -> dict:
        return _read_json(self.tokens_file)

    def local_secrets(self) -> dict[str, str]:
        return _read_json(self.secrets_file)

    def local_dapr_api_token(self) -> str | None:
        """The token the local stack's sidecars require, for tools run beside it."""
        return self.local_tokens().get("dapr_api_token")

    def sidecar_headers(self) -> dict[str, str]:
        return dapr_token_header(self.local_dapr_api_token())

    def approver_auth(self, approver: str) -> dict[str, str]:
        """``Authorization`` for a local approver (demo, drills, tests)."""
        token = self.approver_token(approver)
        return {"authorization": f"Bearer {token}"} if token else {}

    def approver_token(self, approver: str) -> str | None:
        return self.local_secrets().get(f"approver-{approver}")

    @property
    def maildir(self) -> Path:
        """Where the local SMTP server stores each message it receives (a Maildir)."""
        return self.run_dir / "mail"

    @property
    def redis_host(self) -> str:
        return f"127.0.0.1:{self.redis_port}"

    @property
    def zipkin_url(self) -> str:
        return f"http://127.0.0.1:{self.zipkin_port}"

    @property
    def ollama_url(self) -> str:
        return f"http://127.0.0.1:{self.ollama_port}"
