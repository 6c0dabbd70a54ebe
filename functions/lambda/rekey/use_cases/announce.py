"""What the use cases announce on the topic, and how."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..domain import errors
from ..domain.entities import IamUser, SecretRecord
from ..domain.policy import owner
from ..domain.secret_state import USER_ID_TAG
from ..messages import Event, Notification, Severity
from ..ports import Ports

log = logging.getLogger(__name__)


def notice(
    event: Event,
    severity: Severity,
    account_id: str,
    message: str,
    at: datetime,
    *,
    user: IamUser | None = None,
    user_name: str | None = None,
    **fields: Any,
) -> Notification:
    """A notification about `user` (or only `user_name`, for a user that could not be read)."""
    return Notification(
        event=event,
        severity=severity,
        account_id=account_id,
        user_name=user.name if user else user_name,
        owner=owner(user.tags) if user else None,
        message=message,
        at=at,
        **fields,
    )


def publish(ports: Ports, notifications: Iterable[Notification], *, strict: bool = False) -> int:
    """Publish, logging a failed announcement; returns how many could not be published. With
    `strict`, a failure raises after it is logged (the worker's: its item is retried, and the
    retry announces what was done, late)."""
    failed = 0
    notifier = ports.notifier()
    for n in notifications:
        log.info("event %s account=%s user=%s: %s", n.event.value, n.account_id, n.user_name, n.message)
        try:
            notifier.publish(n)
        except errors.RekeyError as exc:
            failed += 1
            who = f"{n.account_id}/{n.user_name}" if n.user_name else n.account_id
            log.error("could not announce %s for %s: %s", n.event.value, who, exc)
            if strict:
                raise
    return failed


def foreign_secret(name: str, user: IamUser) -> str:
    """The conflict announcement: what is wrong and how an operator hands the secret over."""
    return (
        f"{name} exists but rekey did not create it; it is left as it is and {user.name} is not rotated. "
        f"Move or delete it so rekey creates its own, or hand it over by tagging it {USER_ID_TAG}={user.user_id} "
        "(see README, Security model)"
    )


def unwritable_secret(name: str, record: SecretRecord, user: IamUser) -> str | None:
    """Why no new key can be stored in the user's secret, and what an operator does about it; or
    None. Read from DescribeSecret, which every rotation reads anyway: known before a key exists."""
    if record.scheduled_deletion is None:
        return None
    return (
        f"{name} is scheduled for deletion (DeletedDate {record.scheduled_deletion:%Y-%m-%dT%H:%M:%SZ}): nothing can "
        f"be stored in it or read from it, so no key is created and {user.name} is not rotated until it is fixed. "
        f"Restore it (aws secretsmanager restore-secret --secret-id {name}), or delete it for good "
        f"(aws secretsmanager delete-secret --secret-id {name} --force-delete-without-recovery) and rekey creates "
        "a new one at the next rotation"
    )
