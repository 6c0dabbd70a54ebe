"""decide(): what a user's keys need today. A pure function of keys, secret, policy and `now`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from .models import AccessKey, Action, ActionKind, Policy, SecretState

MAX_KEYS = 2
# A key created by an attempt appears after its intent was recorded, within the longest a
# worker runs (a Lambda's 15 minutes); the slack absorbs clock skew between IAM and the worker.
INTENT_SLACK = timedelta(minutes=5)
INTENT_WINDOW = timedelta(minutes=15)


def decide(keys: Sequence[AccessKey], secret: SecretState, policy: Policy, now: datetime) -> list[Action]:
    """The actions a user's keys need at `now`, in the order they must be carried out.

    First settle an interrupted rotation (finish it, or remove the orphan key nobody can
    have used), then apply the lifecycle to the settled state: deactivate and delete old
    keys, rotate the newest active key when it is due. Never deactivates or deletes an
    active key to make room, never deletes the secret's current key, never plans a third key.
    """
    keys = sorted(keys, key=lambda k: (k.created, k.key_id))  # the plan must not depend on order
    actions, keys, secret = _settle_interrupted_rotation(keys, secret)
    actions += _retire(keys, secret, policy, now)
    retired = {a.key_id for a in actions if a.kind is ActionKind.DELETE}
    deactivated = {a.key_id for a in actions if a.kind is ActionKind.DEACTIVATE}
    actions += _rotate([k for k in keys if k.key_id not in retired], deactivated, secret, policy, now)
    return actions


def _settle_interrupted_rotation(
    keys: Sequence[AccessKey], secret: SecretState
) -> tuple[list[Action], list[AccessKey], SecretState]:
    intent = secret.intent
    if intent is None:
        return [], list(keys), secret
    actions: list[Action] = []
    kept: list[AccessKey] = []
    settled = secret
    for key in keys:
        if not _created_by_attempt(key, secret):
            kept.append(key)
        elif key.key_id == secret.pending_key_id:
            kept.append(key)
            if key.active:  # stored and usable: finish the job
                actions.append(
                    Action(ActionKind.FINISH_ROTATION, key.key_id, "an interrupted rotation staged this key")
                )
                settled = replace(secret, current_key_id=key.key_id, pending_key_id=None)
        elif key.last_used is None:
            actions.append(
                Action(
                    ActionKind.DELETE_ORPHAN,
                    key.key_id,
                    "an interrupted rotation created this key but never stored it; nobody can use it",
                )
            )
        else:
            kept.append(key)  # someone used it, so someone holds its secret: not ours to remove
    actions.append(Action(ActionKind.CLEAR_INTENT, None, "the interrupted rotation is settled"))
    return actions, kept, settled


def _created_by_attempt(key: AccessKey, secret: SecretState) -> bool:
    intent = secret.intent
    assert intent is not None
    return (
        key.key_id not in intent.known_key_ids
        and key.key_id != secret.current_key_id
        and intent.started_at - INTENT_SLACK <= key.created <= intent.started_at + INTENT_WINDOW
    )


def _newest_active(keys: Sequence[AccessKey]) -> AccessKey | None:
    active = [k for k in keys if k.active]
    return max(active, key=lambda k: (k.created, k.key_id)) if active else None


def _retire(keys: Sequence[AccessKey], secret: SecretState, policy: Policy, now: datetime) -> list[Action]:
    newest = _newest_active(keys)
    actions: list[Action] = []
    for key in keys:
        age = key.age_days(now)
        if key.key_id == secret.current_key_id:
            continue  # consumers read this key from the secret: only a rotation replaces it
        if key.active:
            if (
                newest is not None
                and key is not newest
                and age >= policy.deactivate_after_days
                and newest.age_days(now) >= policy.overlap_days
            ):
                in_use = key.last_used if _used_since(key, newest.created) else None
                reason = (
                    f"{age} days old (deactivate at {policy.deactivate_after_days}); "
                    f"its replacement {newest.key_id} is {newest.age_days(now)} days old"
                )
                actions.append(Action(ActionKind.DEACTIVATE, key.key_id, reason, in_use))
        elif age >= policy.delete_after_days:
            reason = f"inactive and {age} days old (delete at {policy.delete_after_days})"
            actions.append(Action(ActionKind.DELETE, key.key_id, reason))
    return actions


def _used_since(key: AccessKey, moment: datetime) -> bool:
    return key.last_used is not None and key.last_used.at > moment


def _rotate(
    keys: Sequence[AccessKey],
    deactivating: set[str | None],
    secret: SecretState,
    policy: Policy,
    now: datetime,
) -> list[Action]:
    newest = _newest_active(keys)
    if newest is None:
        return []
    age = newest.age_days(now)
    if age < policy.rotate_after_days:
        return []
    rotate = Action(
        ActionKind.ROTATE,
        newest.key_id,
        f"{age} days old (rotate at {policy.rotate_after_days})",
    )
    others = [k for k in keys if k is not newest]
    if len(others) < MAX_KEYS - 1:
        return [rotate]
    (other,) = others
    if other.key_id in deactivating:
        return []  # retired today; its slot frees up once it is inactive
    if other.active:
        return [
            Action(
                ActionKind.BLOCKED,
                newest.key_id,
                f"due for rotation ({age} days old) but both keys are active and neither can be "
                f"retired yet; deactivate or delete {other.key_id} to let rekey rotate",
            )
        ]
    if other.key_id == secret.current_key_id:
        return [
            Action(
                ActionKind.BLOCKED,
                newest.key_id,
                f"due for rotation ({age} days old) but the only other key, {other.key_id}, is "
                "inactive and still the secret's current key",
            )
        ]
    make_room = Action(
        ActionKind.DELETE,
        other.key_id,
        "inactive; deleted early to make room for the rotation",
    )
    return [make_room, rotate]
