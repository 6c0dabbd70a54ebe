"""Work queue (FIFO) -> carry out each work item, with partial batch failures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from ..domain.errors import RekeyError
from ..messages import Event, Severity, WorkItem
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


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: Any, rt: Runtime | None = None, outcomes: list[WorkOutcome] | None = None
) -> dict[str, Any]:
    return process(event, rt or runtime(REQUIRES), outcomes)
