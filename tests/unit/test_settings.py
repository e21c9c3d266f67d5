import re
from pathlib import Path

import pytest
from agent_shell.settings import AgentSettings
from pydantic import ValidationError
from workflow_host.settings import WorkflowSettings

from tools import stack_settings
from tools.stack_settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]


def test_default_ports_do_not_collide():
    StackSettings(_env_file=None)  # the validator raises on any shared port


def test_colliding_ports_are_refused_with_both_names(monkeypatch):
    monkeypatch.setenv("PLACEMENT_HEALTH_PORT", "28081")
    with pytest.raises(ValidationError, match="scheduler_health_port and placement_health_port"):
        StackSettings(_env_file=None)


def test_a_port_in_the_ephemeral_range_is_refused_with_its_name(monkeypatch):
    """An outgoing connection can hold such a port first: the scheduler's etcd client took
    50022 and workflow-host's sidecar crash-looped on its internal gRPC port."""
    monkeypatch.setattr(stack_settings, "ephemeral_ports", lambda: range(32768, 61000))
    StackSettings(_env_file=None)  # the defaults are below it
    monkeypatch.setenv("WORKFLOW_DAPR_INTERNAL_GRPC_PORT", "50022")
    with pytest.raises(ValidationError, match=r"workflow_dapr_internal_grpc_port=50022: inside"):
        StackSettings(_env_file=None)


def test_invalid_values_are_refused(monkeypatch):
    monkeypatch.setenv("APPROVAL_TIMEOUT_S", "-1")
    with pytest.raises(ValidationError, match="approval_timeout_s"):
        WorkflowSettings(_env_file=None)


def test_env_example_lists_every_setting():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    for model in (StackSettings, AgentSettings, WorkflowSettings):
        for name, field in model.model_fields.items():
            env = (field.alias or name).upper()
            assert env in listed, f"{model.__name__}.{name} ({env}) missing from .env.example"


def test_the_cli_defaults_are_the_local_stacks():
    """The CLI ships in the image without the stack's settings; its defaults are a copy of
    the stack's for the ports it needs, kept in step here."""
    from workflow_host.cli_settings import CliSettings

    cli, stack = CliSettings.model_fields, StackSettings.model_fields
    assert set(cli) <= set(stack)
    assert {name: f.default for name, f in cli.items()} == {
        name: stack[name].default for name in cli
    }


def test_the_library_in_the_images_has_no_stack_settings():
    import snacktopus_core.settings as core

    assert not hasattr(core, "StackSettings")
