"""Work queue (FIFO) -> carry out each work item, with partial batch failures.

The same function also takes the classic recipe's manual event, invoked directly
(`{"action": "create"|"deactivate"|"delete", "username": ..., "account_id": ...}`), mapped
onto an operator's request and carried out at once through the same re-checks."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from ..domain.errors import RekeyError
from ..messages import ClassicManualEvent, Event, Notification, Severity, WorkItem
from ..metrics import WORKER_METRICS, PowertoolsSink, Recorder
from ..runtime import Runtime
from ..service import OperatorRequest, WorkOutcome, notice, publish, run_work_item
from .common import logger, max_receive_count, metrics, runtime

REQUIRES = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")
UNKNOWN_ACCOUNT = "000000000000"
# The classic manual event names no requester: its authority is lambda:InvokeFunction on the
# worker function, and it is announced as such (never with text its sender chose).
CLASSIC_EVENT = OperatorRequest(requested_by="the classic manual event (lambda:InvokeFunction on the worker)")


class RejectedMessage(RekeyError):
    code = "rejected"


def process(
    event: dict[str, Any],
    rt: Runtime,
    outcomes: list[WorkOutcome] | None = None,
    recorder: Recorder | None = None,
) -> dict[str, Any]:
    """Run a batch of work items; failed ones are reported for redelivery (then the DLQ).
    A failure on the queue's last attempt (ApproximateReceiveCount = maxReceiveCount) is
    announced as `dead-lettered` instead of `failed`: SQS moves the item to the DLQ next."""
    recorder = recorder if recorder is not None else Recorder()

    def announce(notifications: list[Notification]) -> None:
        publish(rt, notifications)
        recorder.announced(notifications)

    def last_attempt(attempt: str) -> str | None:
        """`n of n` when this is the item's last attempt, else None."""
        limit = max_receive_count(rt)
        return f"{attempt} of {limit}" if limit is not None and attempt.isdigit() and int(attempt) >= limit else None

    def _run(item: WorkItem, attempt: str) -> WorkOutcome:
        announced: list[Notification] = []
        try:
            outcome = run_work_item(rt, item, announced=announced)
        except RekeyError as exc:
            recorder.announced(announced)  # what was done before the failure (published already)
            last = last_attempt(attempt)
            if last:
                event, message = (
                    Event.DEAD_LETTERED,
                    f"{item.action.value} failed on its last attempt ({last}); moved to the dead-letter queue, "
                    f"needs a human: {exc.code}: {exc}",
                )
            else:
                event, message = (
                    Event.FAILED,
                    f"{item.action.value} failed (attempt {attempt}), will be retried: {exc.code}: {exc}",
                )
            failure = notice(
                event,
                Severity.ERROR,
                item.account_id,
                message,
                rt.now(),
                user_name=item.user_name,
                key_id=item.key_id,
                sweep_id=item.sweep_id,
            )
            announce([failure])
            logger.warning("work item failed", extra={"error": str(exc), "code": exc.code, "last_attempt": bool(last)})
            raise
        recorder.announced(outcome.notifications)
        return outcome

    def record_handler(record: SQSRecord) -> None:
        attempt = str(record.attributes.approximate_receive_count)
        try:
            item = WorkItem.model_validate_json(record.body)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['type']}" for e in exc.errors()[:5])
            last = last_attempt(attempt)
            if attempt == "1" or last:
                event, severity = (Event.DEAD_LETTERED, Severity.ERROR) if last else (Event.REJECTED, Severity.ERROR)
                what = "moved to the dead-letter queue" if last else "kept for the dead-letter queue"
                announce(
                    [
                        notice(
                            event,
                            severity,
                            UNKNOWN_ACCOUNT,
                            f"malformed work item {record.message_id} ({problems}); never acted upon, {what}",
                            rt.now(),
                        )
                    ]
                )
            raise RejectedMessage(f"malformed work item: {problems}") from None
        with logger.append_context_keys(account_id=item.account_id, user_name=item.user_name, action=item.action.value):
            outcome = _run(item, attempt)
        if outcomes is not None:
            outcomes.append(outcome)

    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor)


def process_manual(event: dict[str, Any], rt: Runtime, recorder: Recorder | None = None) -> dict[str, Any]:
    """A classic manual event: validated, mapped, run. A malformed one is announced and
    answered (retrying it cannot help); a failure raises, so Lambda retries the invocation."""
    recorder = recorder if recorder is not None else Recorder()
    try:
        request = ClassicManualEvent.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['type']}" for e in exc.errors()[:5])
        account = event.get("account_id") if isinstance(event.get("account_id"), str) else None
        message = f"malformed manual event ({problems}); never acted upon"
        known = account if account and account.isdigit() and len(account) == 12 else UNKNOWN_ACCOUNT
        rejected = [notice(Event.REJECTED, Severity.ERROR, known, message, rt.now())]
        publish(rt, rejected)
        recorder.announced(rejected)
        return {"status": "rejected", "detail": message}
    item = request.work_item(rt.now())
    announced: list[Notification] = []
    with logger.append_context_keys(account_id=item.account_id, user_name=item.user_name, action=item.action.value):
        try:
            outcome = run_work_item(rt, item, request=CLASSIC_EVENT, announced=announced)
        except RekeyError as exc:
            message = f"manual {request.action} failed: {exc.code}: {exc}"
            failure = notice(Event.FAILED, Severity.ERROR, item.account_id, message, rt.now(), user_name=item.user_name)
            publish(rt, [failure])
            recorder.announced([*announced, failure])
            raise
    recorder.announced(outcome.notifications)
    return {"status": outcome.status, "detail": outcome.detail}


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: Any,
    rt: Runtime | None = None,
    outcomes: list[WorkOutcome] | None = None,
    recorder: Recorder | None = None,
) -> dict[str, Any]:
    """`recorder`: the caller's (the CLI's), which then publishes nothing; otherwise the
    invocation's metrics go out as EMF when it ends."""
    rt = rt or runtime(REQUIRES)
    own = recorder is None
    recorder = recorder if recorder is not None else Recorder()
    try:
        if "Records" not in event and "action" in event:
            return process_manual(event, rt, recorder)
        return process(event, rt, outcomes, recorder)
    finally:
        if own:
            recorder.publish(PowertoolsSink(metrics), always=WORKER_METRICS)
