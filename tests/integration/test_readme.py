"""The README's local-stack command blocks, run as written against the test stack.

Each block marked ``<!-- tested: tests/integration/test_readme.py ... -->`` runs in one
bash session (so its ``export`` lines carry to the commands after them), one command at a
time, from the repository root, as a new user would paste it. Only the ports change, and
only when the stack runs on other ports than the README's (a ``.env`` that shifts them).

What "runs" means: every command exits 0 and every ``curl`` gets a 2xx, except answers the
README itself documents as depending on the order's state at that moment (a decision or a
cancel on an order that is not waiting, or not yet known, is 404/409 with our problem body;
the CLI's exit 4). A wrong path, a missing token, a body the API refuses or a command that
does not exist fails the test, with the command and what it got.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- tested: tests/integration/test_readme.py"
# Commands whose answer depends on where the order is when they run (README says so).
STATE_DEPENDENT = re.compile(r"/decision|/cancel|snacktopus (approve|reject|expire)\b")
DAPR_CLI = re.compile(r"dapr workflow \w+ .*--app-id (\S+)")


@dataclass
class Ran:
    command: str
    rc: int
    http_code: int | None
    body: str
    output: str


def readme_blocks() -> list[list[str]]:
    """The marked ```bash blocks, each as its list of commands (continuations joined,
    comment-only lines dropped)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    blocks: list[list[str]] = []
    for i, line in enumerate(lines):
        if not line.startswith(MARKER):
            continue
        assert lines[i + 1].startswith("```bash"), f"README line {i + 2}: not a bash block"
        body = []
        for raw in lines[i + 2 :]:
            if raw.startswith("```"):
                break
            body.append(raw)
        blocks.append(_commands(body))
    return blocks


def _commands(body: list[str]) -> list[str]:
    commands, current = [], ""
    for raw in body:
        line = raw.rstrip()
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(current)
            current = ""
    return commands


def shifted(command: str, stack) -> str:
    """The command with the README's ports (the stack's defaults) replaced by the running
    stack's."""
    s = stack.settings
    for name, field in type(s).model_fields.items():
        if name.endswith("_port") and field.default != getattr(s, name):
            host = r"(localhost|127\.0\.0\.1)"
            command = re.sub(rf"{host}:{field.default}\b", rf"\g<1>:{getattr(s, name)}", command)
    return command


def run_block(commands: list[str], tmp: Path) -> list[Ran]:
    """Runs the commands in one bash session; ``curl`` is wrapped to record each answer's
    status and body beside the command's exit status."""
    script = [
        "cd " + json.dumps(str(ROOT)),
        # daprd 1.18.2 can answer a workflow read racing the run's own write with a 500
        # naming a "transient store read failure"; the README says to ask again, and so
        # does the test: up to three times, a second apart.
        "curl() { for i in 1 2 3; do command curl -sS -o \"$OUT.body\" -w '%{http_code}' "
        '"$@" > "$OUT.code"; grep -q "transient store read failure" "$OUT.body" '
        "2>/dev/null || break; sleep 1; done; }",
    ]
    for n, command in enumerate(commands):
        out = tmp / f"cmd{n}"
        script += [
            f"OUT={json.dumps(str(out))}",
            # On lines of its own: a README command may end in a comment.
            f"(\n{command}\n) > {json.dumps(str(out))}.out 2>&1 < /dev/null",
            f"echo $? > {json.dumps(str(out))}.rc",
        ]
        if command.startswith("export "):
            script.append(command)  # the subshell above only checked that it works
    tmp.mkdir(parents=True, exist_ok=True)
    subprocess.run(["bash", "-c", "\n".join(script)], timeout=900, check=True)
    return [_ran(command, tmp / f"cmd{n}") for n, command in enumerate(commands)]


def _ran(command: str, out: Path) -> Ran:
    def read(suffix: str) -> str:
        path = out.with_name(out.name + suffix)
        return path.read_text() if path.exists() else ""

    code = read(".code").strip()
    return Ran(command, int(read(".rc")), int(code) if code else None, read(".body"), read(".out"))


def refusal(ran: Ran) -> str | None:
    """Why this command did not run as the README promises, or None."""
    state_dependent = STATE_DEPENDENT.search(ran.command) is not None
    if "Unauthenticated" in ran.output or "Unauthenticated" in ran.body:
        return "the sidecar refused the call: Unauthenticated"
    if ran.http_code is not None:
        if 200 <= ran.http_code < 300:
            return None
        if state_dependent and ran.http_code in (404, 409) and _ours(ran.body):
            return None
        return f"HTTP {ran.http_code}: {ran.body[:300]}"
    if ran.rc == 0 or (state_dependent and ran.rc == 4):
        return None
    return f"exit {ran.rc}: {ran.output[-300:]}"


def _ours(body: str) -> bool:
    """A problem body our APIs answer (FastAPI's own 404 for a missing route says only
    "Not Found")."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return False
    return isinstance(detail, str) and detail != "Not Found"


def sidecars_before_ours(app_id: str, our_resources: Path) -> list[int]:
    """PIDs of other daprd processes with this app id that the Dapr CLI meets before ours.

    The CLI (dapr/cli ``pkg/standalone.List``) walks the machine's processes in PID order
    and takes the first daprd whose ``--app-id`` matches. A kind node's pods (their
    processes are visible from the host) or a second checkout's stack are such processes;
    the README says the CLI then asks the wrong sidecar. Ours is the one on this stack's
    resources folder.
    """
    before = []
    for proc in sorted(Path("/proc").glob("[0-9]*"), key=lambda p: int(p.name)):
        try:
            raw = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in raw.split(b"\0")]
        if not args or Path(args[0]).name != "daprd" or _flag(args, "--app-id") != app_id:
            continue
        if _flag(args, "--resources-path") == str(our_resources):
            return before
        before.append(int(proc.name))
    return before


def _flag(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def test_the_readme_marks_its_local_stack_blocks():
    blocks = readme_blocks()
    assert len(blocks) == 4, "agent-shell, workflow-host, snacktopus CLI, Dapr CLI"
    assert all(blocks), "a marked block with no command"


def test_the_readme_blocks_run_as_written(stack, tmp_path):
    """In README order, as a reader goes: the CLI block decides the order the
    workflow-host block started."""
    failures: dict[str, str] = {}
    for n, block in enumerate(readme_blocks()):
        ran = run_block([shifted(c, stack) for c in block], tmp_path / f"block{n}")
        for r in ran:
            print(f"$ {r.command}\n  -> rc {r.rc}, http {r.http_code}")
        failures |= {r.command: why for r in ran if (why := refusal(r))}
        if n < 2:  # the two API blocks: their first calls need no particular state
            assert any(r.http_code and 200 <= r.http_code < 300 for r in ran), block
    shadowed = {c: pids for c in failures if (pids := _shadowed(c, stack))}
    failures = {c: w for c, w in failures.items() if c not in shadowed}
    assert failures == {}, "\n".join(f"{c}\n    {w}" for c, w in failures.items())
    if shadowed:  # everything else ran; these could not be checked on this machine
        pytest.skip(f"the Dapr CLI meets another stack's sidecar first: {shadowed}")


def _shadowed(command: str, stack) -> list[int]:
    """Foreign sidecars the Dapr CLI would pick for this command instead of ours."""
    match = DAPR_CLI.search(command)
    if not match:
        return []
    return sidecars_before_ours(match.group(1), stack.stack.run / "components")
