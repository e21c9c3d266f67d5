"""``make eval``: the concierge's eval set (evals/) against the real local stack.

Reuses a running stack (any profile), else starts the dev profile and stops it after, as
``make demo`` does. Arguments pass through to :mod:`evals.harness` (``--limit``,
``--label``, ``--base-url``). Exits 1 when a target of the eval is missed, so the
numbers are read, not just printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make tools/ and evals/ importable

import typer  # noqa: E402

from evals import harness  # noqa: E402
from tools.devstack import Stack  # noqa: E402
from tools.stack_settings import StackSettings  # noqa: E402

# The targets of issue #19, checked on every full run.
TARGETS = {
    "shown_sentence_fail_rate": lambda v: v <= 0.02,
    "false_safety_shown": lambda v: v == 0,
    "evaluator_recall": lambda v: v >= 0.95,
    "evaluator_precision": lambda v: v >= 0.90,
    "model_text_kept_rate": lambda v: v >= 0.60,
    "basket_violations": lambda v: v == 0,
}


def main(
    limit: Annotated[int, typer.Option(help="Run only the first N cases (0: all).")] = 0,
    label: Annotated[str, typer.Option(help="Name of this configuration in the report.")] = "",
    out: Annotated[Path, typer.Option(help="Folder for the reports.")] = harness.RESULTS,
) -> None:
    settings = StackSettings()
    with Stack(settings).borrowed("dev"):
        base = f"http://127.0.0.1:{settings.agent_app_port}"
        if not harness.wait_ready(base):
            typer.echo(f"agent-shell at {base} is not ready", err=True)
            raise typer.Exit(2)
        summary = harness.run(base, limit or None, label or None, out)
    typer.echo(Path(summary["json"]).with_suffix(".md").read_text())
    typer.echo(f"written: {summary['json']}")
    missed = [k for k, ok in TARGETS.items() if not ok(summary[k])]
    if missed:
        typer.echo(f"targets missed: {', '.join(missed)}", err=True)
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
