"""Delivery of the user's new current key to the destinations its tag selects and the hub
approves (rekey.domain.delivery): each push recorded on the user's secret and announced. A
destination that fails never stops the others, nor the rotation: it is announced with what to
do, and the next scan queues it again until it holds the current key."""

from __future__ import annotations

import logging

from ...domain import errors
from ...domain.delivery import DeliveryStatus, Destination
from ...domain.entities import NewKey
from ...messages import Event, Severity
from .context import Work

log = logging.getLogger(__name__)

# The status of a push under way, or interrupted before its outcome was recorded (`failed:pending`).
PENDING = "pending"
REMEDY = {
    errors.Conflict.code: "the value there was not written by rekey: rename or remove it (rekey never overwrites it)",
    errors.AccessDenied.code: "grant what the message names to rekey's role for this destination",
    errors.NotFound.code: "check the destination's configuration (REKEY_DESTINATIONS) and that it exists",
}


def deliver(work: Work, version_id: str | None, key: NewKey | None = None, only: list[str] | None = None) -> int:
    """Push the current key (`key`, or read from the secret's `version_id`) to each destination
    the user's policy names (admission approved them), or those of them named in `only`; the
    number that failed."""
    declared = {d.name: d for d in work.settings.destinations}
    chosen = [declared[n] for n in work.policy.deliver_to if n in declared and (only is None or n in only)]
    if not chosen:
        return 0
    try:
        key = key or (work.secrets.staged_key(work.name, version_id) if version_id else None)
    except errors.RekeyError as exc:  # the next scan finds the destinations behind, and retries
        log.warning("could not read %s's current key to deliver it: %s", work.name, exc)
        return len(chosen)
    if key is None:
        log.warning("%s's current version holds no key to deliver", work.name)
        return len(chosen)
    return sum(0 if _push(work, destination, key) else 1 for destination in chosen)


def _push(work: Work, destination: Destination, key: NewKey) -> bool:
    last = work.record.state.delivered().get(destination.name)
    written = last.record if last is not None and last.record else None
    now = work.voice.now

    def remember(intent: str) -> None:
        """The push's intent, kept before it writes (a destination that needs it: GitHub's):
        should it not finish, the next push recognises what it wrote by it."""
        work.secrets.mark_delivery(work.name, destination.name, DeliveryStatus(key.key_id, now, intent, PENDING))

    try:
        push = work.ports.destination(destination, work.item.account_id, work.user).push
        record = push(key, written, remember)
    except errors.RekeyError as exc:
        # What the push leaves to account for rekey's writes (its intent, with what it wrote
        # before the failure): else the next push would take rekey's own write for someone else's.
        kept = getattr(exc, "written", None) or written or ""
        _record(work, destination, DeliveryStatus(key.key_id, now, kept, exc.code))
        remedy = REMEDY.get(exc.code, "rekey tries again at its next scan")
        message = (
            f"{destination.name}: {key.key_id} could not be delivered to {destination.describe()}: {exc.code}: "
            f"{exc}; {remedy}. The rotation stands; its consumers there still have the previous key"
        )
        work.notice(Event.DELIVERY_FAILED, Severity.ERROR, message, key_id=key.key_id, secret_name=work.name)
        return False
    _record(work, destination, DeliveryStatus(key.key_id, now, record))
    message = f"{destination.name}: delivered {key.key_id} to {destination.describe()}"
    work.notice(Event.DELIVERED, Severity.INFO, message, key_id=key.key_id, secret_name=work.name)
    return True


def _record(work: Work, destination: Destination, status: DeliveryStatus) -> None:
    """What the destination was sent, on the secret. Not recorded, the next scan finds the
    destination behind and pushes again (announced): the destination tells rekey's value by
    itself (an SSM parameter's tag), or by the intent kept before writing (GitHub's)."""
    try:
        work.secrets.mark_delivery(work.name, destination.name, status)
    except errors.RekeyError as exc:
        message = (
            f"{destination.name}: what {destination.describe()} was sent ({status.key_id}) could not be recorded on "
            f"{work.name}: {exc.code}: {exc}; the next scan sends it again"
        )
        work.notice(Event.DELIVERY_FAILED, Severity.ERROR, message, key_id=status.key_id, secret_name=work.name)
