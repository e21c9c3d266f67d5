"""workflow-host's settings (environment, then ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode
from snacktopus_core.settings import RetentionSettings

UNDO_STEPS = ("release_delivery_slot", "release_inventory", "release_quote")
BRANCHES = ("catalog_lookup", "nutrition_and_allergens", "price_quote", "vendor_eta")


class WorkflowSettings(RetentionSettings):
    """workflow-host's settings; retention's (RUN_RETENTION_DAYS...) come with the base:
    a finished order's instance and keys are forgotten, its ledger entry stays."""

    app_id: ClassVar[str] = "workflow-host"
    app_port: int = Field(default=8002, ge=1, le=65535, alias="WORKFLOW_APP_PORT")
    state_store: str = Field(default="orderstate", description="Runs, reservations, ledger.")
    agent_app_id: str = "agent-shell"
    approval_threshold_usd: float = Field(default=50.0, ge=0, le=100_000)
    approval_timeout_s: float = Field(default=300.0, gt=0, le=7 * 24 * 3600)
    # Approval policies (captured in each run's input when it starts).
    dual_approval_usd: float | None = Field(
        default=None, ge=0, le=100_000, description="Above this, two different approvers."
    )
    approval_escalate_after_s: float | None = Field(
        default=None, gt=0, le=7 * 24 * 3600, description="Undecided this long: escalate."
    )
    approval_escalation_group: Annotated[list[str], NoDecode] = Field(
        default=[], description="Approvers who may decide only once a run escalated."
    )
    approval_remind_before_s: float | None = Field(
        default=None, gt=0, le=7 * 24 * 3600, description="Remind approvers this long before."
    )
    console_base_url: str = Field(
        default="http://127.0.0.1:8002",
        description="Where approvers reach the console; notifications link to its order pages.",
    )
    # Notifications (workflow-host's subscriber, through Dapr output bindings).
    notify_channels: Annotated[list[Literal["email", "webhook"]], NoDecode] = ["email"]
    notify_email_binding: str = "notify-email"
    notify_webhook_binding: str = "notify-webhook"
    notify_approvers_email: str = Field(
        default="approvers@snacktopus.local", description="To: of approver mail (a;b for more)."
    )
    notify_escalation_email: str = Field(
        default="escalation@snacktopus.local", description="To: of escalation mail."
    )
    # Compensation toggles: switch single undo steps off for drills (never in production).
    compensate_release_delivery_slot: bool = True
    compensate_release_inventory: bool = True
    compensate_release_quote: bool = True
    undo_max_attempts: int = Field(default=4, ge=1, le=20)
    branch_max_attempts: int = Field(default=3, ge=1, le=10)
    # Steps that write orders (run record, stock, slot, ledger) wait out a store restart:
    # 10 attempts span ~24 s, a Redis pod rescheduled on Kubernetes included.
    store_max_attempts: int = Field(default=10, ge=1, le=20)
    # Steps that call agent-shell wait out its restart (~15 s) rather than fail the order.
    invoke_max_attempts: int = Field(default=7, ge=1, le=20)
    workflow_worker_threads: int = Field(
        default=64, ge=4, le=1024, description="Threads running activities (I/O-bound)."
    )
    recommend_timeout_s: float = Field(default=90.0, gt=0, le=600)
    secret_store: str = Field(
        default="snack-secrets",
        description="Secret store holding approver tokens as `approver-<name>` (scoped to us).",
    )
    # The web console (/console). Its session cookies are signed with CONSOLE_SESSION_KEY,
    # else with the secret `console-session-key` of the secret store (the local stack makes
    # one); changing the key signs every console user out.
    console_session_key: SecretStr | None = Field(default=None, repr=False)
    console_session_key_secret: str = "console-session-key"
    console_session_ttl_s: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)
    # Secure cookies need HTTPS: on wherever the console is served through TLS.
    console_cookie_secure: bool = False
    zipkin_ui_url: str | None = Field(
        default=None,
        description="Zipkin's UI for the console's trace links (default: ZIPKIN_ENDPOINT's "
        "host, path /zipkin).",
    )
    # NoDecode: a comma list, not JSON (pydantic-settings would json.loads a list field).
    blocked_skus: Annotated[list[str], NoDecode] = Field(
        default=[], description="SKUs never to order (comma list)."
    )
    # Fault injection, for tests and drills only: lets an order's input name branches or
    # undo steps that must fail. Off by default; refused in the order input when off.
    allow_fault_injection: bool = False

    @field_validator("blocked_skus", "approval_escalation_group", "notify_channels", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("console_session_key", mode="before")
    @classmethod
    def _key_or_none(cls, value: object) -> object:
        """Empty (as in .env.example) means "use the secret store", never an empty key."""
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and len(value) < 16:
            raise ValueError("CONSOLE_SESSION_KEY needs at least 16 characters")
        return value

    @property
    def zipkin_ui(self) -> str:
        if self.zipkin_ui_url:
            return self.zipkin_ui_url.rstrip("/")
        return self.zipkin_endpoint.split("/api/", 1)[0] + "/zipkin"

    def compensation_enabled(self, undo_step: str) -> bool:
        return bool(getattr(self, f"compensate_{undo_step}"))


@lru_cache
def get_settings() -> WorkflowSettings:
    return WorkflowSettings()
