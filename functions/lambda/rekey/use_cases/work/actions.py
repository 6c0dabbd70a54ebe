"""The actions a work item carries out, one function per kind of action decide() plans, and the
table that says which is which."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...domain import errors
from ...domain.lifecycle import STILL_IN_USE, describe_use
from ...domain.models import Action, ActionKind, KeyStatus
from ...domain.secret_policy import is_rekeys
from ...messages import Event, Severity
from ..rollout import broke
from .context import Work, key_of
from .protocol import clear_intent, finish_rotation, rotate

log = logging.getLogger(__name__)


def perform(work: Work, action: Action) -> None:
    ACTIONS[action.kind](work, action)


def warn_in_use(work: Work, action: Action) -> None:
    work.notice(Event.IN_USE, Severity.WARNING, action.reason, **_use_fields(work, action))
    _remember_warning(work, key_of(action))


def warn_not_adopted(work: Work, action: Action) -> None:
    work.notice(Event.NOT_ADOPTED, Severity.WARNING, action.reason, key_id=key_of(action), secret_name=work.name)
    _remember_warning(work, key_of(action))


def _remember_warning(work: Work, key_id: str) -> None:
    if work.record.state.exists:  # at most once a key a day: decide() reads this back
        work.secrets.mark_in_use_warned(work.name, key_id, work.voice.now.date())


def deactivate(work: Work, action: Action) -> None:
    key_id = key_of(action)
    if action.in_use is not None:
        message = (
            f"{key_id} was used after its replacement was created ({describe_use(action.in_use)}); deactivating it now"
        )
        work.notice(Event.IN_USE, Severity.WARNING, message, **_use_fields(work, action))
        if work.voice.now - action.in_use.at <= STILL_IN_USE:
            broke(
                work.ports,
                work.item.account_id,
                work.user.name,
                f"deactivated {key_id} while still in use",
                work.voice.now,
            )
    if action.unconfirmed is not None:
        message = (
            f"deactivating {key_id} at its deadline though its replacement's pickup is unconfirmed: "
            f"{action.unconfirmed}; consumers still on {key_id} stop working (a rollback reactivates it)"
        )
        work.notice(Event.PICKUP_UNCONFIRMED, Severity.ERROR, message, key_id=key_id, secret_name=work.name)
    work.iam.set_status(work.user.name, key_id, KeyStatus.INACTIVE)
    message = f"deactivated {key_id}: {action.reason}"
    work.notice(Event.DEACTIVATED, Severity.INFO, message, key_id=key_id, secret_name=work.name)


def delete(work: Work, action: Action) -> None:
    """Delete an inactive key, or an orphan (retired first: never delete an active key)."""
    key_id = key_of(action)
    orphan = action.kind is ActionKind.DELETE_ORPHAN
    if orphan and not is_rekeys(work.secrets.resource_policy(work.name), work.secret_policy()):
        # The intent that makes the key look orphaned is a tag. rekey creates a key only once
        # its policy is on the secret, after which nobody else can tag it: without that
        # policy, the intent is anyone's word, and the key may be a person's.
        work.conflict(
            f"{work.name} records a rotation that would make {key_id} its orphan, but the secret does not carry "
            "rekey's resource policy, so rekey cannot have written that record; the key is left alone"
        )
    try:
        if orphan:
            work.iam.set_status(work.user.name, key_id, KeyStatus.INACTIVE)
        work.iam.delete_key(work.user.name, key_id)
    except errors.NotFound:
        # Gone already: a retry whose first answer was lost, or another worker.
        log.info("%s of %s was already deleted", key_id, work.user.name)
    work.keys.pop(key_id, None)
    work.notice(
        Event.DELETED, Severity.INFO, f"deleted {key_id}: {action.reason}", key_id=key_id, secret_name=work.name
    )


def announce_if_done(work: Work) -> None:
    """A redelivered item whose action is done: its first attempt may have died between the
    action and its announcement, so it is announced (late; the same notification id as the
    first announcement, if there was one, so subscribers see it once)."""
    kind, key_id, reason = work.item.action.kind, work.item.key_id, work.item.reason or "due"
    if not key_id:
        return
    key = work.keys.get(key_id)
    fields: dict[str, Any] = {"key_id": key_id, "secret_name": work.name, "late": True}
    if kind is ActionKind.DEACTIVATE and key is not None and not key.active:
        work.notice(Event.DEACTIVATED, Severity.INFO, f"deactivated {key_id}: {reason}", **fields)
    elif kind in (ActionKind.DELETE, ActionKind.DELETE_ORPHAN) and key is None and work.iam.key_owner(key_id) is None:
        work.notice(Event.DELETED, Severity.INFO, f"deleted {key_id}: {reason}", **fields)


def _use_fields(work: Work, action: Action) -> dict[str, Any]:
    use = action.in_use
    assert use is not None
    return {
        "key_id": action.key_id,
        "secret_name": work.name,
        "last_used_at": use.at,
        "last_used_service": use.service,
        "last_used_region": use.region,
    }


# Which function carries out which kind of action (decide() plans no other kinds for the worker).
ACTIONS: dict[ActionKind, Callable[[Work, Action], None]] = {
    ActionKind.ROTATE: rotate,
    ActionKind.FINISH_ROTATION: finish_rotation,
    ActionKind.CLEAR_INTENT: clear_intent,
    ActionKind.WARN_IN_USE: warn_in_use,
    ActionKind.WARN_NOT_ADOPTED: warn_not_adopted,
    ActionKind.DEACTIVATE: deactivate,
    ActionKind.DELETE: delete,
    ActionKind.DELETE_ORPHAN: delete,
}
