"""The Dockerfiles: hadolint clean, and the rules the app images must keep."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = ROOT / ".venv" / "bin" / "hadolint"
DOCKERFILES = ["Dockerfile.agent", "Dockerfile.workflow"]
# Every other Dockerfile: the Locust image, the Debian bases, the kind node and the
# air-gapped stack images (Redis, Zipkin, Ollama) of the cluster.
OTHERS = [
    "Dockerfile.locust",
    "runtime/images/base.Dockerfile",
    "runtime/kube/node/Dockerfile",
    "runtime/kube/node/preloaded.Dockerfile",
    *(f"runtime/kube/stack/{n}.Dockerfile" for n in ("redis", "zipkin", "ollama")),
]


@pytest.mark.parametrize("name", DOCKERFILES + OTHERS)
def test_hadolint_finds_nothing(name):
    # DL3008/DL3013 (pin apt/pip versions): uv is pinned by ARG and nothing comes from apt.
    r = subprocess.run(
        [str(HADOLINT), "--ignore", "DL3013", "--failure-threshold", "info", str(ROOT / name)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_rules(name):
    text = (ROOT / name).read_text()
    assert "ARG BASE=python:3.13-slim" in text  # the air-gapped base is a build arg away
    assert text.count("FROM ${BASE}") == 2  # multi-stage on the same base
    assert "uv sync --frozen --no-dev" in text
    assert "\nUSER 10001:10001\n" in text
    assert "HEALTHCHECK" in text and "org.opencontainers.image.title" in text
    final = text.rsplit("FROM ${BASE}", 1)[1]
    assert "build-ca" not in final  # the optional build CA never reaches the image


def test_dockerignore_keeps_the_context_small():
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*")] == "*"
    assert {"!apps/", "!libs/", "!uv.lock", "!pyproject.toml"} <= set(lines)


@pytest.mark.parametrize("name", ["redis", "zipkin", "ollama"])
def test_the_stack_images_run_as_a_numeric_non_root_user(name):
    text = (ROOT / f"runtime/kube/stack/{name}.Dockerfile").read_text()
    assert "\nUSER 10001:10001\n" in text  # the chart's runAsNonRoot needs a numeric user
