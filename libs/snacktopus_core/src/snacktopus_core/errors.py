"""The domain errors of both apps and the one table that says how each boundary reports
them: the HTTP status (and headers) an API answers with, the exit code of the CLIs
(``snacktopus-approve``, ``snacktopus trace``) and a short title.

A request that is well formed but cannot be served raises one of these; nobody maps it to
a status by hand. Both apps answer every :class:`SnacktopusError` through one exception
handler (``snacktopus_core.web.new_app``) with the body ``HTTPException`` gives,
``{"detail": str(exc)}`` (the OpenAPI ``Problem`` model), and the CLIs exit with
:func:`exit_code`. docs/operations.md ("Errors") lists :data:`ERRORS`; a unit test keeps
the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class SnacktopusError(Exception):
    """A well-formed request that cannot be served: :data:`ERRORS` says how it is reported."""


class NotAuthenticated(SnacktopusError):
    """No usable approver credential was given."""


class Forbidden(SnacktopusError):
    """A credential was given but it does not belong to this approver."""


class PolicyRefused(SnacktopusError):
    """The approver is who they say, but an approval policy does not let them decide this
    order: the requester approving their own order, the escalation group before the order
    escalated."""


class UnknownOrder(SnacktopusError, LookupError):
    """Neither a run record nor a workflow instance has this order id."""


class UnknownProfile(SnacktopusError, LookupError):
    """No profile for this user."""


class NotWaiting(SnacktopusError, RuntimeError):
    """The order is not waiting for a human, or already has a decision."""


class FaultInjectionDisabled(SnacktopusError):
    """An order asked for fault injection where ``ALLOW_FAULT_INJECTION`` is off."""


class Unavailable(SnacktopusError, RuntimeError):
    """Something the request needs cannot answer right now: retrying later may work."""


class StateUnavailable(Unavailable):
    """Dapr could not read the workflow's state right now."""


class SecretStoreUnavailable(Unavailable):
    """The secret store holding the approvers' tokens could not be read."""


class ServiceUnavailable(Unavailable):
    """A sidecar, or the other app through it, could not be reached or answered 5xx."""


# Exit codes that are not a domain error's: 1 any other failure (``watch`` giving up, an
# unexpected error), 2 bad usage (click's own).
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_RETRY = MappingProxyType({"Retry-After": "1"})


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    exit_code: int | None  # None: no command line meets this error
    title: str
    headers: Mapping[str, str] = field(default_factory=dict)


ERRORS: Mapping[type[SnacktopusError], ErrorSpec] = MappingProxyType(
    {
        FaultInjectionDisabled: ErrorSpec(400, None, "fault injection disabled"),
        NotAuthenticated: ErrorSpec(
            401, 6, "not authenticated", MappingProxyType({"WWW-Authenticate": "Bearer"})
        ),
        Forbidden: ErrorSpec(403, 6, "not this approver's token"),
        PolicyRefused: ErrorSpec(403, 7, "refused by an approval policy"),
        UnknownOrder: ErrorSpec(404, 3, "unknown order"),
        UnknownProfile: ErrorSpec(404, None, "unknown profile"),
        NotWaiting: ErrorSpec(409, 4, "not waiting or already decided"),
        StateUnavailable: ErrorSpec(503, 5, "workflow state unreadable", _RETRY),
        SecretStoreUnavailable: ErrorSpec(503, 5, "secret store unavailable", _RETRY),
        ServiceUnavailable: ErrorSpec(503, 5, "sidecar or app unreachable", _RETRY),
    }
)


def spec(error: SnacktopusError | type[SnacktopusError]) -> ErrorSpec:
    """The table's row for an error (an instance or a class), or its nearest ancestor's."""
    cls = error if isinstance(error, type) else type(error)
    for klass in cls.__mro__:
        if klass in ERRORS:
            return ERRORS[klass]
    raise KeyError(f"{cls.__name__} has no row in snacktopus_core.errors.ERRORS")


def exit_code(error: SnacktopusError | type[SnacktopusError]) -> int:
    """The CLI exit code for an error; 1 for one no command line was meant to meet."""
    code = spec(error).exit_code
    return EXIT_FAILURE if code is None else code
