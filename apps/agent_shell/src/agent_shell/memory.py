"""Cross-session memory of each user, in the Dapr state store.

dapr-agents keys its own conversation memory per workflow instance; remembering a person
across sessions is ours. Keys in ``agent-memory``:

- ``profile:<user>``            the :class:`Profile` (profiles.py)
- ``session:<user>:<session>``  a :class:`SessionDoc`: entries, newest last, and a summary
- ``sessions:<user>``           ``{session_id: last_update}`` for listing and pruning

Every write is a read-modify-write with ETags (``update`` of snacktopus_core.state), so two
concurrent asks on one session never lose an entry. The summarizer folds older entries into
the session's summary once it passes ``memory_summarize_after`` (with the model when it
answers, an extractive summary when it does not); the pruner bounds entries per session and
sessions per user by count and by age.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from snacktopus_core.events import SafetyFlag
from snacktopus_core.models import Basket, utcnow
from snacktopus_core.state import AsyncStateStore

from agent_shell.settings import AgentSettings

_WORD = re.compile(r"[a-z]{3,}")


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=4000)
    asked_at: datetime = Field(default_factory=utcnow)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    basket: Basket | None = None
    degraded: bool = False
    blocked: bool = False
    flags: list[SafetyFlag] = []
    answered_at: datetime = Field(default_factory=utcnow)


class MemoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16])
    user_id: str
    session_id: str
    kind: Literal["qa", "summary"] = "qa"
    question: Question
    answer: Answer | None = None
    trace_id: str | None = None

    def keywords(self) -> set[str]:
        text = self.question.text + " " + (self.answer.text if self.answer else "")
        return set(_WORD.findall(text.lower()))


class SessionDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str
    session_id: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    entries: list[MemoryEntry] = []
    summary: str | None = None
    summarized_count: int = 0


class Recall(BaseModel):
    """What an answer was given to remember, and which entries those were."""

    summary: str | None = None
    entries: list[MemoryEntry] = []
    preferred_skus: list[str] = []

    @property
    def used(self) -> list[str]:
        out = [f"entry:{e.entry_id}" for e in self.entries]
        return (["summary"] if self.summary else []) + out


def session_key(user_id: str, session_id: str) -> str:
    return f"session:{user_id}:{session_id}"


def extractive_summary(entries: list[MemoryEntry], previous: str | None) -> str:
    """The fallback summary: what was asked and what basket came back, in one line each."""
    lines = [previous] if previous else []
    for e in entries:
        basket = ""
        if e.answer and e.answer.basket and e.answer.basket.lines:
            names = ", ".join(f"{ln.quantity}x {ln.name}" for ln in e.answer.basket.lines[:4])
            basket = f" -> {names} (${e.answer.basket.total_usd:.2f})"
        lines.append(f"- asked: {e.question.text[:120]}{basket}")
    return "\n".join(lines)[-4000:]


def fold(doc: SessionDoc, settings: AgentSettings, summary: str) -> SessionDoc:
    """Moves all but the newest ``memory_keep_recent`` entries into the summary."""
    keep = settings.memory_keep_recent
    if len(doc.entries) <= keep:
        return doc
    folded = len(doc.entries) - keep
    return doc.model_copy(
        update={
            "entries": doc.entries[folded:],
            "summary": summary,
            "summarized_count": doc.summarized_count + folded,
        }
    )


def prune_entries(doc: SessionDoc, settings: AgentSettings, now: datetime) -> SessionDoc:
    cutoff = now - timedelta(days=settings.memory_max_age_days)
    entries = [e for e in doc.entries if e.question.asked_at >= cutoff]
    entries = entries[-settings.memory_max_entries :]
    return doc.model_copy(update={"entries": entries})


def sessions_to_drop(sessions: dict[str, str], settings: AgentSettings, now: datetime) -> list[str]:
    """Sessions past the age limit, then the oldest beyond the count limit."""
    cutoff = now - timedelta(days=settings.memory_max_age_days)
    by_age = sorted(sessions.items(), key=lambda kv: kv[1])
    old = [sid for sid, ts in by_age if datetime.fromisoformat(ts) < cutoff]
    young = [sid for sid, _ in by_age if sid not in old]
    over = max(0, len(young) - settings.memory_max_sessions)
    return old + young[:over]


class Memory:
    def __init__(
        self,
        settings: AgentSettings,
        summarize: Callable[[list[MemoryEntry], str | None], Awaitable[str | None]] | None = None,
    ) -> None:
        self.settings = settings
        self.summarize = summarize
        self.state = AsyncStateStore(settings.memory_store)

    async def session(self, user_id: str, session_id: str) -> SessionDoc | None:
        value, _ = await self.state.get(session_key(user_id, session_id))
        return SessionDoc.model_validate(value) if value else None

    async def sessions(self, user_id: str) -> dict[str, str]:
        value, _ = await self.state.get(f"sessions:{user_id}")
        return value or {}

    async def append(self, entry: MemoryEntry) -> SessionDoc:
        key = session_key(entry.user_id, entry.session_id)
        now = utcnow()

        def add(value: dict | None) -> dict:
            doc = (
                SessionDoc.model_validate(value)
                if value
                else SessionDoc(user_id=entry.user_id, session_id=entry.session_id)
            )
            doc.entries = [e for e in doc.entries if e.entry_id != entry.entry_id] + [entry]
            doc.updated_at = now
            return prune_entries(doc, self.settings, now).model_dump(mode="json")

        # The session and the user's session list together: different keys, and recall
        # reads a listed session that is not written yet as no session.
        updated, _ = await asyncio.gather(
            self.state.update(key, add), self._touch_session(entry.user_id, entry.session_id, now)
        )
        doc = SessionDoc.model_validate(updated)
        if len(doc.entries) > self.settings.memory_summarize_after:
            doc = await self._summarize(key, doc)
        return doc

    async def _summarize(self, key: str, doc: SessionDoc) -> SessionDoc:
        older = doc.entries[: len(doc.entries) - self.settings.memory_keep_recent]
        summary = None
        if self.summarize is not None:
            summary = await self.summarize(older, doc.summary)
        if not summary:
            summary = extractive_summary(older, doc.summary)
        folded_ids = {e.entry_id for e in older}

        def apply(value: dict | None) -> dict:
            current = SessionDoc.model_validate(value)
            # Fold only what we summarized; entries that arrived meanwhile stay.
            remaining = [e for e in current.entries if e.entry_id not in folded_ids]
            return current.model_copy(
                update={
                    "entries": remaining,
                    "summary": summary,
                    "summarized_count": current.summarized_count + len(folded_ids),
                }
            ).model_dump(mode="json")

        return SessionDoc.model_validate(await self.state.update(key, apply))

    async def _touch_session(self, user_id: str, session_id: str, now: datetime) -> None:
        def touch(value: dict | None) -> dict:
            sessions = dict(value or {})
            sessions[session_id] = now.isoformat()
            for sid in sessions_to_drop(sessions, self.settings, now):
                if sid != session_id:
                    sessions.pop(sid)
            return sessions

        dropped: list[str] = []

        def touch_and_note(value: dict | None) -> dict:
            after = touch(value)
            # Reset on every attempt: update() calls this again after an ETag conflict.
            dropped[:] = [sid for sid in value or {} if sid not in after]
            return after

        await self.state.update(f"sessions:{user_id}", touch_and_note)
        for sid in dropped:
            await self.state.delete(session_key(user_id, sid))

    async def history(
        self, user_id: str, session_id: str | None, limit: int, offset: int
    ) -> tuple[list[MemoryEntry], int]:
        ids = [session_id] if session_id else list(await self.sessions(user_id))
        entries: list[MemoryEntry] = []
        for sid in ids:
            doc = await self.session(user_id, sid)
            if doc:
                entries.extend(doc.entries)
        entries.sort(key=lambda e: e.question.asked_at, reverse=True)
        return entries[offset : offset + limit], len(entries)

    async def recall(self, user_id: str, session_id: str, question: str) -> Recall:
        """The session summary plus the most relevant recent entries of all sessions, and
        the SKUs of earlier baskets (past orders shape the next one)."""
        n = self.settings.recall_entries
        words = set(_WORD.findall(question.lower()))
        recent = list(await self.sessions(user_id))[-10:]
        # One bulk read for this session and the user's recent ones, not a trip each.
        keys = [session_key(user_id, sid) for sid in dict.fromkeys([session_id, *recent])]
        read = await self.state.get_many(keys)
        docs = {k: SessionDoc.model_validate(v) for k, (v, _) in read.items() if v is not None}
        doc = docs.get(session_key(user_id, session_id))
        pool: list[MemoryEntry] = []
        for sid in recent:
            if other := docs.get(session_key(user_id, sid)):
                pool.extend(e for e in other.entries if e.answer and not e.answer.blocked)
        pool.sort(key=lambda e: e.question.asked_at, reverse=True)
        scored = sorted(
            enumerate(pool[:50]), key=lambda ie: (-len(ie[1].keywords() & words), ie[0])
        )
        picked = [e for _, e in scored[:n]]
        skus: list[str] = []
        for e in pool[:20]:
            if e.answer and e.answer.basket:
                skus.extend(ln.sku for ln in e.answer.basket.lines if ln.sku not in skus)
        return Recall(summary=doc.summary if doc else None, entries=picked, preferred_skus=skus)
