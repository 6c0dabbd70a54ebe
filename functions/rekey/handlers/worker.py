"""Work queue (FIFO) -> carry out each work item, with partial batch failures.

The same function also takes the classic recipe's manual event, invoked directly
(`{"action": "create"|"deactivate"|"delete", "username": ..., "account_id": ...}`), mapped
onto a manual work item and carried out at once through the same re-checks."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from ..domain.errors import RekeyError
from ..messages import ClassicManualEvent, Event, Severity, WorkItem
from ..runtime import Runtime
from ..service import WorkOutcome, notice, publish, run_work_item
from .common import logger, runtime

REQUIRES = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")
UNKNOWN_ACCOUNT = "000000000000"


class RejectedMessage(RekeyError):
    code = "rejected"


def process(event: dict[str, Any], rt: Runtime, outcomes: list[WorkOutcome] | None = None) -> dict[str, Any]:
    """Run a batch of work items; failed ones are reported for redelivery (then the DLQ)."""

    def _run(item: WorkItem, attempt: object) -> WorkOutcome:
        try:
            return run_work_item(rt, item)
        except RekeyError as exc:
            message = f"{item.action.value} failed (attempt {attempt}), will be retried: {exc.code}: {exc}"
            failure = notice(
                Event.FAILED,
                Severity.ERROR,
                item.account_id,
                message,
                rt.now(),
                user_name=item.user_name,
                key_id=item.key_id,
                sweep_id=item.sweep_id,
            )
            publish(rt, [failure])
            logger.warning("work item failed", extra={"error": str(exc), "code": exc.code})
            raise

    def record_handler(record: SQSRecord) -> None:
        first_delivery = str(record.attributes.approximate_receive_count) == "1"
        try:
            item = WorkItem.model_validate_json(record.body)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['type']}" for e in exc.errors()[:5])
            if first_delivery:
                publish(
                    rt,
                    [
                        notice(
                            Event.REJECTED,
                            Severity.ERROR,
                            UNKNOWN_ACCOUNT,
                            f"malformed work item {record.message_id} ({problems}); "
                            "never acted upon, kept for the dead-letter queue",
                            rt.now(),
                        )
                    ],
                )
            raise RejectedMessage(f"malformed work item: {problems}") from None
        with logger.append_context_keys(account_id=item.account_id, user_name=item.user_name, action=item.action.value):
            outcome = _run(item, record.attributes.approximate_receive_count)
        if outcomes is not None:
            outcomes.append(outcome)

    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor)


def process_manual(event: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    """A classic manual event: validated, mapped, run. A malformed one is announced and
    answered (retrying it cannot help); a failure raises, so Lambda retries the invocation."""
    try:
        request = ClassicManualEvent.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['type']}" for e in exc.errors()[:5])
        account = event.get("account_id") if isinstance(event.get("account_id"), str) else None
        message = f"malformed manual event ({problems}); never acted upon"
        known = account if account and account.isdigit() and len(account) == 12 else UNKNOWN_ACCOUNT
        publish(rt, [notice(Event.REJECTED, Severity.ERROR, known, message, rt.now())])
        return {"status": "rejected", "detail": message}
    item = request.work_item(rt.now())
    with logger.append_context_keys(account_id=item.account_id, user_name=item.user_name, action=item.action.value):
        try:
            outcome = run_work_item(rt, item)
        except RekeyError as exc:
            message = f"manual {request.action} failed: {exc.code}: {exc}"
            failure = notice(Event.FAILED, Severity.ERROR, item.account_id, message, rt.now(), user_name=item.user_name)
            publish(rt, [failure])
            raise
    return {"status": outcome.status, "detail": outcome.detail}


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: Any, rt: Runtime | None = None, outcomes: list[WorkOutcome] | None = None
) -> dict[str, Any]:
    rt = rt or runtime(REQUIRES)
    if "Records" not in event and "action" in event:
        return process_manual(event, rt)
    return process(event, rt, outcomes)
