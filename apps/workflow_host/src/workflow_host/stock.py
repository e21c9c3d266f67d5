"""The stock ledger: which orders hold or bought the units of each SKU.

Why not one counter per SKU written in one transaction with the reservation: Dapr's Redis
store runs a multi-key transaction as MULTI/EXEC of ETag-checked scripts, without
rollback (components-contrib ``state/redis`` ``Multi``; daprd logs "Redis does not support
transaction rollbacks"). A counter write refused on its ETag leaves the reservation
written, and the retry then finds the order held with its units never counted: the
Redis force-kill drill on kind, and ``test_state``'s racing holders, showed exactly that.

So each SKU's key says itself which orders hold its units, and every change is keyed by
the order: holding twice, releasing twice or selling twice changes nothing the second time.
A multi-SKU change is still one transaction (one round trip), but when Redis applies only
part of it, the retry completes it; the reservation record moves on only afterwards.

``stock:<sku>`` = ``{"holds": {order_id: units}, "sold": units, "legacy_released":
{order_id: units}}``. ``reserved:<sku>``, the integer counter of releases before this one
(units held and sold), is read as a base and never written: a reservation it counted is
released by recording it in ``legacy_released``, sold by doing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snacktopus_core.state import Conflict, StateStore, retry_on_conflict

from workflow_host import store

Ledger = dict[str, Any]
Change = Callable[[Ledger, int], Ledger]


def _key(sku: str) -> str:
    return f"stock:{sku}"


def _legacy_key(sku: str) -> str:
    return f"reserved:{sku}"


def _ledger(value: Any) -> Ledger:
    return {"holds": {}, "sold": 0, "legacy_released": {}, **(value or {})}


def _units(ledger: Ledger, legacy: Any) -> int:
    """Units no longer available: the old counter, plus held and sold, less legacy
    releases."""
    return (
        int(legacy or 0)
        + ledger["sold"]
        + sum(ledger["holds"].values())
        - sum(ledger["legacy_released"].values())
    )


def _read(state: StateStore, skus: list[str]) -> dict[str, tuple[Ledger, str | None, int]]:
    """``{sku: (ledger, its etag, units taken)}`` in one round trip."""
    keys = [k for sku in skus for k in (_key(sku), _legacy_key(sku))]
    values = state.get_many(keys)
    out = {}
    for sku in skus:
        value, etag = values[_key(sku)]
        ledger = _ledger(value)
        out[sku] = (ledger, etag, _units(ledger, values[_legacy_key(sku)][0]))
    return out


def taken(skus: list[str]) -> dict[str, int]:
    """Units of each SKU held or sold, by every order."""
    if not skus:
        return {}
    return {sku: units for sku, (_, _, units) in _read(store.state(), skus).items()}


def _write(state: StateStore, changed: dict[str, tuple[Ledger, str | None]]) -> None:
    """Writes ledgers with the ETags read; a ledger read as absent is created first, so
    that its ETag guards it (a create that loses its race is a conflict: read again)."""
    upserts = {}
    for sku, (ledger, etag) in changed.items():
        if etag is None:
            if not state.create(_key(sku), ledger):
                raise Conflict(f"{_key(sku)}: created by a concurrent hold")
            continue
        upserts[_key(sku)] = (ledger, etag)
    if upserts:
        state.transact(upserts)


def hold(order_id: str, lines: dict[str, int], stock: dict[str, int]) -> str | None:
    """Holds ``lines`` (``{sku: units}``) for the order, all or none: None once held, or
    why not (a SKU short of units, with what it has left). ``stock`` is each SKU's units
    in the catalog."""

    def attempt() -> str | None:
        state = store.state()
        read = _read(state, list(lines))
        for sku, units in lines.items():
            ledger, _, used = read[sku]
            left = stock[sku] - used + ledger["holds"].get(order_id, 0)
            if left < units:
                _release(state, order_id, read)  # a partial earlier attempt
                return f"out of stock: {sku} has {left} available, {units} asked"
        changed = {
            sku: ({**ledger, "holds": {**ledger["holds"], order_id: units}}, etag)
            for sku, units in lines.items()
            for ledger, etag, _ in [read[sku]]
            if ledger["holds"].get(order_id) != units
        }
        _write(state, changed)
        return None

    return retry_on_conflict(attempt, f"hold stock for {order_id}")


def _release(state: StateStore, order_id: str, read: dict) -> None:
    changed = {
        sku: ({**ledger, "holds": _without(ledger["holds"], order_id)}, etag)
        for sku, (ledger, etag, _) in read.items()
        if order_id in ledger["holds"]
    }
    _write(state, changed)


def _without(holds: dict[str, int], order_id: str) -> dict[str, int]:
    return {k: v for k, v in holds.items() if k != order_id}


def release(order_id: str, lines: dict[str, int], *, legacy: bool) -> None:
    """Gives the order's held units back. ``legacy``: held by a release before this one
    (counted in ``reserved:<sku>``), so recorded as released rather than removed."""

    def attempt() -> None:
        state = store.state()
        read = _read(state, list(lines))
        if not legacy:
            _release(state, order_id, read)
            return
        changed = {
            sku: (
                {**ledger, "legacy_released": {**ledger["legacy_released"], order_id: units}},
                etag,
            )
            for sku, units in lines.items()
            for ledger, etag, _ in [read[sku]]
            if order_id not in ledger["legacy_released"]
        }
        _write(state, changed)

    retry_on_conflict(attempt, f"release stock of {order_id}")


def sell(order_id: str, lines: dict[str, int], *, legacy: bool) -> None:
    """Turns the order's held units into sold ones (a legacy hold is already counted as
    both). Moving them inside one key is what makes doing it twice harmless."""
    if legacy:
        return

    def attempt() -> None:
        state = store.state()
        read = _read(state, list(lines))
        changed = {
            sku: (
                {
                    **ledger,
                    "holds": _without(ledger["holds"], order_id),
                    "sold": ledger["sold"] + ledger["holds"][order_id],
                },
                etag,
            )
            for sku, (ledger, etag, _) in read.items()
            if order_id in ledger["holds"]
        }
        _write(state, changed)

    retry_on_conflict(attempt, f"sell stock of {order_id}")
