"""The classic recipe's manual event (`{"action": "create"|"deactivate"|"delete", "username":
..., "account_id": ...}`), invoked straight on the worker function when REKEY_CLASSIC_EVENT is
on: carried out at once through the same re-checks, bound by the lifecycle's rules
(rekey.domain.manual). It names no requester: its authority is lambda:InvokeFunction on the
worker function, and it is announced as such, never with text its sender chose."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..domain.errors import RekeyError
from ..messages import ClassicManualEvent, Event, Notification, Severity, problems
from ..ports import Ports
from .announce import notice, publish
from .work import OperatorRequest, run_work_item
from .work_queue import UNKNOWN_ACCOUNT

CLASSIC_EVENT = OperatorRequest(
    requested_by="the classic manual event (lambda:InvokeFunction on the worker)", classic=True
)
OFF = (
    "the classic manual event is off (REKEY_CLASSIC_EVENT, hub parameter ClassicManualEvent); never acted upon. "
    "Operators use `rekey rotate-now`"
)


def is_classic(event: dict[str, Any]) -> bool:
    """Whether an invocation of the worker is the classic event rather than an SQS batch."""
    return "Records" not in event and "action" in event


def carry_out_classic(ports: Ports, event: dict[str, Any], announced: list[Notification]) -> dict[str, Any]:
    """Validate, map, run; the answer (status, detail). A malformed event, or any while
    REKEY_CLASSIC_EVENT is off, is announced and answered (retrying it cannot help); a failure
    is announced and raised, so Lambda retries the invocation. `announced` receives what was."""
    account = event.get("account_id") if isinstance(event.get("account_id"), str) else None
    known = account if account and account.isdigit() and len(account) == 12 else UNKNOWN_ACCOUNT
    try:
        request = ClassicManualEvent.model_validate(event)
        problem = None if ports.settings.classic_event else OFF
    except ValidationError as exc:
        problem = f"malformed manual event ({problems(exc, 'event')}); never acted upon"
    if problem is not None:
        _say(ports, announced, notice(Event.REJECTED, Severity.ERROR, known, problem, ports.now()))
        return {"status": "rejected", "detail": problem}
    item = request.work_item(ports.now())
    try:
        outcome = run_work_item(ports, item, request=CLASSIC_EVENT, announced=announced)
    except RekeyError as exc:
        message = f"manual {request.action} failed: {exc.code}: {exc}"
        failed = notice(Event.FAILED, Severity.ERROR, item.account_id, message, ports.now(), user_name=item.user_name)
        _say(ports, announced, failed)
        raise
    return {"status": outcome.status, "detail": outcome.detail}


def _say(ports: Ports, announced: list[Notification], said: Notification) -> None:
    publish(ports, [said])
    announced.append(said)
