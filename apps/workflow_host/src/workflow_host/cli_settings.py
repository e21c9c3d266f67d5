"""Where the ``snacktopus`` command line finds workflow-host: its sidecar (the approval
commands, ``purge``), its API and Zipkin (``trace``).

The CLI ships with workflow-host but runs beside it, most often beside the local stack
(``make up``): the defaults are that stack's ports, read from the same variables and
``.env`` that move them (``tools/stack_settings.py`` owns the stack's full list;
``tests/unit/test_settings.py`` keeps the two in step). Elsewhere, the options and
``SNACKTOPUS_DAPR_HTTP_PORT``/``SNACKTOPUS_DAPR_GRPC_PORT`` point it at a port-forward.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings
from snacktopus_core.settings import ENV_FILE, port_field


class CliSettings(BaseSettings):
    model_config = ENV_FILE

    run_dir: Path = Field(default=Path(".run"), description="The local stack's run folder.")
    workflow_app_port: int = port_field(8002, "workflow-host HTTP API.")
    workflow_dapr_http_port: int = port_field(3502, "workflow-host's daprd HTTP.")
    workflow_dapr_grpc_port: int = port_field(25012, "workflow-host's daprd gRPC.")
    zipkin_port: int = port_field(9411, "Zipkin API and UI.")

    def local_dapr_api_token(self) -> str | None:
        """The local stack's Dapr API token (``make up`` writes it, 0600), if there is one."""
        try:
            return json.loads((self.run_dir / "tokens.json").read_text()).get("dapr_api_token")
        except (OSError, ValueError):
            return None
