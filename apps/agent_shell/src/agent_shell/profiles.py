"""User profiles (allergies, diet, budget, likes) in ``agent-memory`` under ``profile:<user>``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from snacktopus_core.models import Allergen, Diet, Money, Profile, ShortText, utcnow
from snacktopus_core.state import AsyncStateStore

from agent_shell.settings import get_settings


class ProfileIn(BaseModel):
    """A whole profile (PUT)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: str | None = Field(default=None, max_length=80)
    allergies: list[Allergen] = Field(default=[], max_length=len(Allergen))
    diet: list[Diet] = Field(default=[], max_length=len(Diet))
    budget_usd: Money | None = None
    likes: list[ShortText] = Field(default=[], max_length=20)
    dislikes: list[ShortText] = Field(default=[], max_length=20)


class ProfilePatch(BaseModel):
    """Only the fields given change (PATCH). As in JSON merge patch (RFC 7396), an explicit
    ``null`` resets a field to its default: ``"likes": null`` empties the list."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: str | None = Field(default=None, max_length=80)
    allergies: list[Allergen] | None = Field(default=None, max_length=len(Allergen))
    diet: list[Diet] | None = Field(default=None, max_length=len(Diet))
    budget_usd: Money | None = None
    likes: list[ShortText] | None = Field(default=None, max_length=20)
    dislikes: list[ShortText] | None = Field(default=None, max_length=20)


def key(user_id: str) -> str:
    return f"profile:{user_id}"


def _state() -> AsyncStateStore:
    return AsyncStateStore(get_settings().memory_store)


async def get(user_id: str) -> Profile | None:
    value, _ = await _state().get(key(user_id))
    return Profile.model_validate(value) if value else None


async def put(user_id: str, body: ProfileIn) -> Profile:
    profile = Profile(user_id=user_id, **body.model_dump(), updated_at=utcnow())
    await _state().update(key(user_id), lambda _: profile.model_dump(mode="json"))
    return profile


async def patch(user_id: str, body: ProfilePatch) -> Profile | None:
    changes = {
        name: Profile.model_fields[name].get_default(call_default_factory=True)
        if value is None
        else value
        for name, value in body.model_dump(exclude_unset=True).items()
    }
    missing = False

    def apply(value: dict | None) -> dict | None:
        nonlocal missing
        if value is None:
            missing = True
            return None
        merged = {**value, **changes, "updated_at": utcnow().isoformat()}
        return Profile.model_validate(merged).model_dump(mode="json")

    current, _ = await _state().get(key(user_id))
    if current is None:
        return None
    result = await _state().update(key(user_id), apply)
    return None if missing else Profile.model_validate(result)
