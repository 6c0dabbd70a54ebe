"""decide_request(): what an operator's request (rotate now, or the classic create / deactivate /
delete event) may do to a user's keys. Pure, like decide(), and bound by the same invariants:
never a third key, never zero active keys for a user who had one, never delete an active key,
never deactivate or delete the secret's current key.

An operator's request acts regardless of the keys' ages and of an exemption: someone the hub
authenticated asked. The classic event is not such a request (its only authority is
lambda:InvokeFunction on the worker): it retires a key only past the organization's floors —
its replacement at least REKEY_MIN_OVERLAP_DAYS old — and never one still in use since its
replacement appeared (`Request.floor`). A rollback's pause still stops a requested deactivation
or deletion (the pause exists to keep a key alive); it never stops a rotation, which breaks
nobody."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .errors import Refused
from .lifecycle import MAX_KEYS, describe_use, newest_active, settle_interrupted_rotation, still_in_use
from .models import AccessKey, Action, ActionKind, SecretState, days_old

# A request naming no key (the classic event) does not replace a key younger than this: a
# retried or repeated event must not rotate twice.
REPEAT_GUARD = timedelta(hours=1)

REQUESTABLE = frozenset({ActionKind.ROTATE, ActionKind.DEACTIVATE, ActionKind.DELETE})


@dataclass(frozen=True)
class Request:
    kind: ActionKind
    # The key the request is about: for a rotation, the newest active key when it was asked
    # for (so a repeated delivery finds it replaced and does nothing). None: decide here.
    key_id: str | None = None
    # Deactivate the replaced key as soon as its replacement is stored.
    revoke_old: bool = False
    # A rotation for a leak: this key is revoked (deactivated, never reactivated by a rollback),
    # replaced first if consumers read it from the secret (`rekey rotate-now --key-id`).
    leaked_key_id: str | None = None
    create_first_key: bool = False
    reason: str = "requested"
    # The classic event's: a key is deactivated or deleted only once its replacement is this many
    # days old, and deactivated only if unused since the replacement appeared. None: an operator.
    floor: int | None = None


@dataclass(frozen=True)
class RequestPlan:
    """The actions to carry out, in order. `refused`: the request would break an invariant
    (announced); `skipped`: nothing left to do (e.g. a repeated delivery)."""

    actions: list[Action] = field(default_factory=list)
    refused: str | None = None
    skipped: str | None = None
    # Keys the plan deactivates as leaked: marked so that a rollback never reactivates them.
    revoked: frozenset[str] = frozenset()


def decide_request(request: Request, keys: Sequence[AccessKey], secret: SecretState, now: datetime) -> RequestPlan:
    if request.kind not in REQUESTABLE:
        return RequestPlan(refused=f"{request.kind.value} cannot be requested")
    keys = sorted(keys, key=lambda k: (k.created, k.key_id))
    settle, keys, secret = settle_interrupted_rotation(keys, secret)
    if request.kind is ActionKind.ROTATE:
        plan = _rotate(request, keys, secret, now)
    elif secret.paused(now.date()):
        plan = RequestPlan(refused=f"the user's lifecycle is paused until {secret.paused_until} (a rollback)")
    elif request.kind is ActionKind.DEACTIVATE:
        plan = _deactivate(request, keys, secret)
    else:
        plan = _delete(request, keys, secret)
    if plan.actions and request.floor is not None and request.kind is not ActionKind.ROTATE:
        plan = _within_floors(plan, request.floor, keys, now)
    return RequestPlan([*settle, *plan.actions], plan.refused, plan.skipped, plan.revoked)


def _within_floors(plan: RequestPlan, floor: int, keys: list[AccessKey], now: datetime) -> RequestPlan:
    """The classic event's plan, refused if it would retire a key before the floors allow."""
    newest = newest_active(keys)
    if newest is None:
        return plan
    if days_old(newest.created, now) < floor:
        return RequestPlan(
            refused=f"its replacement {newest.key_id} is {days_old(newest.created, now)} days old, under the "
            f"{floor} days every consumer is given to move (REKEY_MIN_OVERLAP_DAYS)"
        )
    by_id = {k.key_id: k for k in keys}
    for action in plan.actions:
        key = by_id.get(action.key_id or "")
        if key is None or not key.active:
            continue
        use = still_in_use(key, newest)
        if use is not None:
            return RequestPlan(
                refused=f"{key.key_id} was used after its replacement was created ({describe_use(use)}); "
                "the lifecycle retires it by the in-use policy"
            )
    return plan


def _rotate(request: Request, keys: list[AccessKey], secret: SecretState, now: datetime) -> RequestPlan:
    if request.leaked_key_id is not None:
        return _revoke_leaked(request, request.leaked_key_id, keys, secret)
    newest = newest_active(keys)
    if newest is None:
        if not keys and request.create_first_key:
            return RequestPlan([Action(ActionKind.ROTATE, None, f"{request.reason}: first key")])
        if not keys:
            return RequestPlan(refused="the user has no access key to replace (create-first-key is off)")
        return RequestPlan(refused="the user has no active key to replace")
    if request.key_id is not None and request.key_id != newest.key_id:
        return RequestPlan(skipped=f"{request.key_id} is no longer the user's newest active key (already replaced)")
    if request.key_id is None and now - newest.created < REPEAT_GUARD:
        return RequestPlan(skipped=f"{newest.key_id} was created less than an hour ago; a repeated request is ignored")
    actions: list[Action] = []
    others = [k for k in keys if k is not newest]
    if len(others) >= MAX_KEYS - 1:
        (other,) = others
        if other.active:
            return RequestPlan(
                refused=f"both keys are active; deactivate {other.key_id} first (rekey never deactivates an "
                "active key to make room)"
            )
        if other.key_id == secret.current_key_id:
            return RequestPlan(refused=f"the only other key, {other.key_id}, is inactive but the secret's current key")
        actions.append(Action(ActionKind.DELETE, other.key_id, "inactive; deleted to make room for the rotation"))
    actions.append(Action(ActionKind.ROTATE, newest.key_id, request.reason))
    if request.revoke_old:
        actions.append(
            Action(ActionKind.DEACTIVATE, newest.key_id, "revoked on request as soon as its replacement was stored")
        )
        return RequestPlan(actions, revoked=frozenset({newest.key_id}))
    return RequestPlan(actions)


def _revoke_leaked(request: Request, leaked_id: str, keys: list[AccessKey], secret: SecretState) -> RequestPlan:
    """Revoke a leaked key, also during the overlap (two active keys, exactly when a leak is
    often found): replaced first only if consumers read it from the secret (it is the current
    key) or it is the user's only active key. Making room for the replacement retires the
    user's other key (deactivated, then deleted): the leak outranks the overlap, and the user
    keeps an active key throughout."""
    leaked = next((k for k in keys if k.key_id == leaked_id), None)
    if leaked is None:
        return RequestPlan(refused=f"{leaked_id} is not an access key of the user")
    if not leaked.active:
        return RequestPlan(skipped=f"{leaked_id} is inactive already: it signs nothing")
    revoke = Action(ActionKind.DEACTIVATE, leaked_id, f"revoked on request as leaked: {request.reason}")
    others = [k for k in keys if k is not leaked]
    if leaked_id != secret.current_key_id and any(k.active for k in others):
        return RequestPlan([revoke], revoked=frozenset({leaked_id}))  # consumers have the other key
    actions: list[Action] = []
    for other in others:  # at most one: MAX_KEYS
        if other.key_id == secret.current_key_id:
            return RequestPlan(refused=f"{other.key_id}, the user's other key, is the secret's current key")
        if other.active:
            why = f"to make room for the replacement of {leaked_id}, leaked (both keys were active)"
            actions.append(Action(ActionKind.DEACTIVATE, other.key_id, why))
        actions.append(Action(ActionKind.DELETE, other.key_id, f"deleted to make room for {leaked_id}'s replacement"))
    actions += [Action(ActionKind.ROTATE, leaked_id, f"{request.reason}: {leaked_id} leaked"), revoke]
    return RequestPlan(actions, revoked=frozenset({leaked_id}))


def _deactivate(request: Request, keys: list[AccessKey], secret: SecretState) -> RequestPlan:
    newest = newest_active(keys)
    retirable = [k for k in keys if k.active and k is not newest and k.key_id != secret.current_key_id]
    if request.key_id is not None:
        key = next((k for k in keys if k.key_id == request.key_id), None)
        if key is None or not key.active:
            return RequestPlan(skipped=f"{request.key_id} is not an active key of the user")
        if key not in retirable:
            return RequestPlan(
                refused=f"{key.key_id} is the user's newest active key or the secret's current key; "
                "deactivating it could leave consumers without a working key"
            )
        retirable = [key]
    if not retirable:
        return RequestPlan(skipped="no old active key to deactivate")
    return RequestPlan([Action(ActionKind.DEACTIVATE, k.key_id, request.reason) for k in retirable])


def _delete(request: Request, keys: list[AccessKey], secret: SecretState) -> RequestPlan:
    if request.key_id is not None:
        key = next((k for k in keys if k.key_id == request.key_id), None)
        if key is None:
            return RequestPlan(skipped=f"{request.key_id} does not exist (already deleted)")
        targets = [key]
    else:
        newest = newest_active(keys)
        targets = [k for k in keys if k is not newest]
    for key in targets:
        if key.active:
            return RequestPlan(refused=f"{key.key_id} is active; rekey never deletes an active key (deactivate first)")
        if key.key_id == secret.current_key_id:
            return RequestPlan(refused=f"{key.key_id} is the secret's current key; rekey never deletes it")
    if not targets:
        return RequestPlan(skipped="no inactive key to delete")
    return RequestPlan([Action(ActionKind.DELETE, k.key_id, request.reason) for k in targets])


@dataclass(frozen=True)
class RollbackPlan:
    key_id: str
    reactivate: bool  # False: the key is still active, the pause alone keeps it so


def plan_rollback(keys: Sequence[AccessKey], secret: SecretState, previous_key_id: str | None) -> RollbackPlan:
    """Which key a rollback reactivates: the one rekey's last rotation replaced (the secret's
    AWSPREVIOUS version names it), provided it still exists. Raises Refused with a sentence."""
    if not secret.exists:
        raise Refused("rekey has never rotated this user's key (no secret): nothing to roll back")
    if previous_key_id is None:
        raise Refused("the secret has no previous version: rekey has not replaced a key of this user")
    if previous_key_id == secret.current_key_id:
        raise Refused(f"{previous_key_id} is the secret's current key: nothing to roll back")
    if previous_key_id in secret.revoked_key_ids:
        raise Refused(
            f"{previous_key_id} was revoked by `rekey rotate-now --revoke-old` (leaked): rollback never reactivates it"
        )
    key = next((k for k in keys if k.key_id == previous_key_id), None)
    if key is None:
        raise Refused(
            f"{previous_key_id}, the key rekey replaced, was already deleted and cannot be restored "
            "(`rekey rotate-now` issues a new one)"
        )
    return RollbackPlan(key.key_id, reactivate=not key.active)
