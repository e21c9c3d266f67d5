"""Jinja filters: how the console writes money, times and what is left of a deadline."""

from __future__ import annotations

from datetime import UTC, datetime


def money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def utc(value: datetime) -> datetime:
    """The workflow's clock (``ctx.current_utc_datetime``) is UTC without a zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def left(deadline: datetime | None) -> str:
    """Time left before ``deadline``, as a person reads it (the page's script counts it
    down; this is what shows without script)."""
    if deadline is None:
        return "no deadline known"
    seconds = int((utc(deadline) - datetime.now(UTC)).total_seconds())
    if seconds <= 0:
        return "due now"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min left"
    return f"{minutes} min {seconds} s left" if minutes else f"{seconds} s left"


def iso(value: datetime | None) -> str:
    return utc(value).isoformat() if value else ""


FILTERS = {"money": money, "when": when, "left": left, "iso": iso}
