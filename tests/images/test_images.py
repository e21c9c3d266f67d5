"""The two app images, proven to run (``make images`` builds them; this builds them too,
from Docker's layer cache when nothing changed). Each starts as its non-root user on
Python 3.13, carries no test or dev package, and answers ``/healthz``, ``/metrics`` and
its API docs (assets included) when started beside the local stack with a ``daprd`` of its
own (host network).

With no Docker engine answering, these tests are reported as not run, with the reason."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import wait_until
from tests.support import check_docs_served_locally

ROOT = Path(__file__).resolve().parents[2]
TAG = "0.1.0"
IMAGES = {
    # image: (app port env, app port, daprd http, daprd grpc, daprd internal grpc, metrics)
    "agent-shell": ("AGENT_APP_PORT", 8091, 3591, 50091, 50092, 9191),
    "workflow-host": ("WORKFLOW_APP_PORT", 8092, 3592, 50093, 50094, 9192),
}
DEV_PACKAGES = ["pytest", "ruff", "locust", "schemathesis", "kubernetes", "hypothesis"]


def _engine() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    r = subprocess.run(
        ["docker", "info", "-f", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30
    )
    return None if r.returncode == 0 else f"no Docker engine answers: {r.stderr.strip()[:200]}"


@pytest.fixture(scope="module")
def built() -> dict[str, str]:
    if reason := _engine():
        pytest.skip(f"images not tested: {reason} (run ../shared/env/docker-engine)")
    r = subprocess.run(
        [str(ROOT / "runtime" / "images" / "build.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return {name: f"snacktopus/{name}:{TAG}" for name in IMAGES}


def test_the_locust_image_has_the_scenario_deps_and_nothing_of_the_apps(built):
    image = f"snacktopus/locust:{TAG}"
    code = (
        "import importlib.util as u, os, locust, pydantic_settings; print(os.getuid()); "
        "print(' '.join(m for m in ('snacktopus_core', 'dapr', 'fastapi') if u.find_spec(m)))"
    )
    out = docker_python(image, code).split("\n")
    assert out[0] == "10001" and out[1] == "", out
    version = subprocess.run(
        ["docker", "run", "--rm", image, "--version"], capture_output=True, text=True, check=True
    )
    assert "locust" in version.stdout


def docker_python(image: str, code: str) -> str:
    """Runs Python code in a throwaway container of the image, as the image's user."""
    r = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "python3", image, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("name", IMAGES)
def test_image_runs_as_non_root_on_python_313_without_dev_packages(built, name):
    image = built[name]
    user = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Config.User}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert user == "10001:10001"
    out = docker_python(image, "import os, sys; print(os.getuid()); print(sys.version_info[:2])")
    uid, version = out.split("\n")[:2]
    assert uid == "10001" and version == "(3, 13)"
    found = docker_python(
        image,
        "import importlib.util as u; "
        f"print(' '.join(m for m in {DEV_PACKAGES!r} if u.find_spec(m)))",
    )
    assert found.strip() == "", f"dev packages in {image}: {found}"
    labels = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{json .Config.Labels}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "org.opencontainers.image.title" in labels and "image.version" in labels


@pytest.mark.parametrize("name", IMAGES)
def test_image_answers_beside_the_stack_with_its_own_sidecar(built, stack, name):
    port_env, port, http_port, grpc, internal, metrics = IMAGES[name]
    s = stack.settings
    token = s.local_dapr_api_token()
    # Its own daprd, under an app id of its own (so it takes no work from the stack's app).
    daprd = subprocess.Popen(
        [
            *stack.stack.daprd_command(f"image-{name}", http_port, grpc, internal, metrics),
            "--app-port",
            str(port),
            "--app-protocol",
            "http",
        ],
        env={"DAPR_API_TOKEN": token or "", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    name_c = f"snacktopus-image-test-{name}"
    subprocess.run(["docker", "rm", "-f", name_c], capture_output=True)
    try:
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                name_c,
                "--network",
                "host",
                "-e",
                f"{port_env}={port}",
                "-e",
                "APP_HOST=127.0.0.1",
                "-e",
                f"DAPR_HTTP_PORT={http_port}",
                "-e",
                f"DAPR_GRPC_PORT={grpc}",
                "-e",
                f"DAPR_API_TOKEN={token}",
                "-e",
                f"ZIPKIN_ENDPOINT=http://127.0.0.1:{s.zipkin_port}/api/v2/spans",
                built[name],
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).json()["service"] == name
            except (httpx.HTTPError, ValueError, KeyError):
                return False

        wait_until(healthy, 90, 0.5)
        metrics_text = httpx.get(f"{base}/metrics", timeout=5).text
        assert "snacktopus_http_request_seconds" in metrics_text
        # The docs assets come from fastapi-offline, installed from uv.lock into the image.
        with httpx.Client(base_url=base, timeout=5) as client:
            check_docs_served_locally(client)
        ready = httpx.get(f"{base}/readyz", timeout=5).json()
        assert ready["sidecar"] is True, ready  # reached its own daprd, with the API token
        # The app itself (PID 1 in the container) runs as 10001.
        status = subprocess.run(
            ["docker", "exec", name_c, "cat", "/proc/1/status", "/proc/1/cmdline"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert re.search(r"^Uid:\s+10001\s", status, re.M), status
        assert name in status
    finally:
        # Shown by pytest when the test fails.
        print(subprocess.run(["docker", "logs", name_c], capture_output=True, text=True).stderr)
        subprocess.run(["docker", "rm", "-f", name_c], capture_output=True)
        daprd.terminate()
        try:
            daprd.wait(15)
        except subprocess.TimeoutExpired:
            daprd.kill()
