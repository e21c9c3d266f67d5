"""The console's session: a signed, expiring cookie naming the signed-in approver, and the
CSRF token every form carries.

The cookie holds ``{sid, approver, fp}`` signed with itsdangerous (HMAC-SHA1 over the value
and a timestamp; ``max_age`` refuses it after ``CONSOLE_SESSION_TTL_S``). ``fp`` is an HMAC
of the approver's token: each request checks it against the token the secret store holds
now, so rotating an approver's token ends that approver's sessions at once. The CSRF token
is an HMAC of the session id: a form from another session, or another site, does not match.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import lru_cache

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from snacktopus_core.errors import Forbidden, NotAuthenticated, SecretStoreUnavailable

from workflow_host import auth
from workflow_host.settings import get_settings

COOKIE = "snacktopus_console"
SALT = "snacktopus.console.session"


@dataclass(frozen=True)
class Session:
    sid: str
    approver: str | None = None
    fp: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.approver is not None


@lru_cache(maxsize=1)
def _key() -> str:
    """The signing key: CONSOLE_SESSION_KEY, else the secret store's secret. Cached for the
    process (a failed read is not cached: the next request tries again)."""
    s = get_settings()
    if s.console_session_key is not None:
        return s.console_session_key.get_secret_value()
    try:
        return auth.read_secret(s.console_session_key_secret, "no key")
    except Forbidden as exc:
        raise SecretStoreUnavailable(
            f"the console has no signing key: set CONSOLE_SESSION_KEY or the secret "
            f"'{s.console_session_key_secret}' in '{s.secret_store}'"
        ) from exc


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_key(), salt=SALT)


def _mac(purpose: str, value: str) -> str:
    return hmac.new(_key().encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def anonymous() -> Session:
    return Session(sid=secrets.token_urlsafe(16))


def encode(session: Session) -> str:
    return _serializer().dumps({"sid": session.sid, "approver": session.approver, "fp": session.fp})


def decode(cookie: str | None) -> Session | None:
    """The session a cookie carries; None without a cookie. A forged or expired one is
    :class:`NotAuthenticated`, never a guest session."""
    if not cookie:
        return None
    try:
        data = _serializer().loads(cookie, max_age=get_settings().console_session_ttl_s)
    except SignatureExpired as exc:
        raise NotAuthenticated("your console session expired: sign in again") from exc
    except BadSignature as exc:
        raise NotAuthenticated("this console session is not valid: sign in again") from exc
    return Session(sid=str(data["sid"]), approver=data.get("approver"), fp=data.get("fp"))


def sign_in(approver: str, token: str) -> Session:
    """A new session (a new id: no fixation) for ``approver`` once the secret store says
    ``token`` is theirs (the runs API's check: 403 otherwise)."""
    name = approver.strip().lower()
    auth.authenticate(name, token)
    return Session(sid=secrets.token_urlsafe(16), approver=name, fp=_mac("token", token))


def verify(session: Session | None) -> Session:
    """The signed-in session, still valid against the approver's current token."""
    if session is None or not session.signed_in:
        raise NotAuthenticated("sign in with your approver token first")
    gone = f"approver '{session.approver}' is no longer known: sign in again"
    current = auth.read_secret(f"approver-{session.approver}", gone)
    if not hmac.compare_digest(session.fp or "", _mac("token", current)):
        raise Forbidden(
            f"approver '{session.approver}''s token changed since this session began: sign in again"
        )
    return session


def csrf_token(session: Session) -> str:
    return _mac("csrf", session.sid)


def check_csrf(session: Session | None, given: str | None) -> None:
    if session is None or not hmac.compare_digest(given or "", csrf_token(session)):
        raise Forbidden("this form does not belong to your session (CSRF check): reload the page")


def cookie_args() -> dict:
    s = get_settings()
    return {
        "key": COOKIE,
        "httponly": True,
        "samesite": "strict",
        "secure": s.console_cookie_secure,
        "max_age": s.console_session_ttl_s,
        "path": "/console",
    }
