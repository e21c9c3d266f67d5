"""Approver authentication: a bearer token checked against the Dapr secret store.

Each approver has a secret ``approver-<name>`` in the ``snack-secrets`` store, which only
workflow-host may read (component ``scopes``). A decision is accepted only when its
``approver`` names the owner of the token that came with it, so the run records who really
decided. Tokens are compared in constant time and never logged, traced or echoed.
"""

from __future__ import annotations

import hmac
import re

from snacktopus_core import sidecar
from snacktopus_core.errors import Forbidden, NotAuthenticated, SecretStoreUnavailable

from workflow_host.settings import get_settings

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or :class:`NotAuthenticated`."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("approvers authenticate: send 'Authorization: Bearer <token>'")
    return token.strip()


def authenticate(approver: str, token: str) -> None:
    """Returns when ``token`` is ``approver``'s; raises :class:`Forbidden` otherwise."""
    expected = read_secret(_key(approver), f"'{approver}' is not a known approver")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden(f"this token does not belong to approver '{approver}'")


def _key(approver: str) -> str:
    name = approver.strip().lower()
    if not _NAME.fullmatch(name):
        raise Forbidden(f"'{approver}' is not a known approver")
    return f"approver-{name}"


def read_secret(key: str, unknown: str) -> str:
    """The value of secret ``key`` in the secret store: :class:`Forbidden` (``unknown``)
    when there is none, :class:`SecretStoreUnavailable` when the store cannot answer."""
    try:
        secret = sidecar.dapr_client().get_secret(get_settings().secret_store, key).secret
    except Exception as exc:  # grpc errors carry the reason in their text
        text = str(exc)
        if "not found" in text.lower() or "NotFound" in text:
            raise Forbidden(unknown) from exc
        raise SecretStoreUnavailable(f"secret store unavailable: {text[:200]}") from exc
    value = secret.get(key, "")
    if not value:
        raise Forbidden(unknown)
    return value
