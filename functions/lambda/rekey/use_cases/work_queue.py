"""The work queue's messages: each carried out (rekey.use_cases.work), each failure announced —
`failed` while SQS will redeliver it, `dead-lettered` on its last attempt (the queue's
maxReceiveCount: SQS moves it to the DLQ next), a malformed one when first and last seen. The
worker Lambda's batches and the CLI's drain of the queue both come through here."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from ..domain.errors import RekeyError
from ..messages import Event, Notification, Severity, WorkItem, problems
from ..ports import Ports
from .announce import notice, publish
from .rollout import broke, failure_breaks
from .work import WorkOutcome, failure_notice, run_work_item

log = logging.getLogger(__name__)

# What a message that names no account is announced under.
UNKNOWN_ACCOUNT = "000000000000"


def carry_out_message(ports: Ports, body: str, attempt: int, announced: list[Notification]) -> WorkOutcome:
    """One message of the work queue, on its `attempt`-th delivery. Raises pydantic's
    ValidationError for a malformed one, a RekeyError for one to retry; `announced` receives
    what was announced either way."""
    item = WorkItem.model_validate_json(body)
    return run_work_item(ports, item, announced=announced, redelivered=attempt > 1)


def announce_failure(ports: Ports, message_id: str, body: str, attempt: int, error: Exception) -> Notification | None:
    """Announce why a message failed, if it needs saying; what was published, or None."""
    last = _last_attempt(ports, attempt)
    if isinstance(error, ValidationError):
        if attempt != 1 and not last:  # said when first and last seen, not between
            return None
        event = Event.DEAD_LETTERED if last else Event.REJECTED
        where = "moved to the dead-letter queue" if last else "kept for the dead-letter queue"
        message = f"malformed work item {message_id} ({problems(error, 'body')}); never acted upon, {where}"
        said = notice(event, Severity.ERROR, UNKNOWN_ACCOUNT, message, ports.now())
    elif isinstance(error, RekeyError):
        item = WorkItem.model_validate_json(body)
        said = failure_notice(item, error, str(attempt), last, ports.now())
        breakage = failure_breaks(item, error, bool(last))
        if breakage is not None:
            broke(ports, item.account_id, item.user_name, breakage, ports.now())
        fields = {"account_id": item.account_id, "user_name": item.user_name, "action": item.action.value}
        log.warning("work item failed: %s: %s", error.code, error, extra={**fields, "last_attempt": bool(last)})
    else:
        return None
    publish(ports, [said])
    return said


def _last_attempt(ports: Ports, attempt: int) -> str | None:
    """`n of n` when this is the message's last attempt, else None. The queue's maxReceiveCount
    unknown (its redrive policy unreadable), no attempt is known to be the last: the DLQ's alarm
    is what tells."""
    try:
        limit = ports.work_max_receive_count()
    except RekeyError as exc:
        log.warning("cannot read the work queue's redrive policy: %s", exc)
        return None
    return f"{attempt} of {limit}" if limit is not None and attempt >= limit else None
