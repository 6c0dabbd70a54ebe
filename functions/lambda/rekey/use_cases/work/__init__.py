"""Carry out one work item, or an operator's request, or a step of Secrets Manager's rotation,
if it still holds. Read top to bottom: admission (the account, the user's tag and standing,
its secret and keys, re-read: admission.py) gives a frozen Subject; what is carried out
depends on who asked (acts.py), through one function per kind of action (actions.py) and
rekey's rotation protocol (protocol.py, secrets_manager.py); every step is announced as soon
as it is done (voice.py)."""

from __future__ import annotations

from datetime import datetime

from ...domain import errors
from ...messages import Event, Notification, Severity, WorkItem
from ...ports import Ports
from ..announce import notice
from .acts import act
from .admission import admit
from .context import Work
from .values import OperatorRequest, RotationStep, Stop, WorkOutcome
from .voice import Voice

__all__ = ["OperatorRequest", "RotationStep", "WorkOutcome", "failure_notice", "run_work_item"]


def run_work_item(
    ports: Ports,
    item: WorkItem,
    *,
    request: OperatorRequest | None = None,
    announced: list[Notification] | None = None,
    redelivered: bool = False,
    step: RotationStep | None = None,
) -> WorkOutcome:
    """Carry out one work item if it still holds: re-check the account, the tag and the user's
    privileges, re-read keys and secret, re-decide, then perform the fresh plan up to and
    including the item's action (what must come first, such as making room, is done first).
    Stale or duplicate items are no-ops. With `request`, the item is an operator's request.
    Raises a domain error when the item should be retried. `announced` receives what was
    announced, also when it raises (what was done before the failure); each announcement is
    published as soon as its action is done. `redelivered`: an earlier attempt at this item
    stopped (failed, or died) — if it did the item's action and not announce it, this one does,
    marked late. With `step`, the item is a step of Secrets Manager's rotation of the user's
    secret: `rejected` then means the step fails (Secrets Manager records a failed rotation)."""
    voice = Voice(ports, item, request, announced)
    try:
        subject = admit(ports, item, voice, request, step)
        return act(Work(ports, item, subject, voice, request=request, step=step, redelivered=redelivered))
    except Stop as stopped:  # announced if it needed saying; retrying cannot help
        return voice.outcome(stopped.status, stopped.detail)


def failure_notice(
    item: WorkItem, error: errors.RekeyError, attempt: str, last: str | None, at: datetime
) -> Notification:
    """What a failed attempt at `item` announces: `failed` while it will be retried, or on the
    queue's last attempt (`last`: `n of n`) `dead-lettered`, as SQS moves it to the DLQ next."""
    if last:
        event, message = (
            Event.DEAD_LETTERED,
            f"{item.action.value} failed on its last attempt ({last}); moved to the dead-letter queue, "
            f"needs a human: {error.code}: {error}",
        )
    else:
        event, message = (
            Event.FAILED,
            f"{item.action.value} failed (attempt {attempt}), will be retried: {error.code}: {error}",
        )
    return notice(
        event,
        Severity.ERROR,
        item.account_id,
        message,
        at,
        user_name=item.user_name,
        key_id=item.key_id,
        sweep_id=item.sweep_id,
    )
