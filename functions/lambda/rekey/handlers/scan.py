"""Scan queue -> one account (or part of one) scanned by rekey.use_cases.sweep.scan_requested,
as the CLI's sweep does; a failed account is reported for redelivery (then the scan DLQ)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..domain.errors import RekeyError
from ..messages import ScanRequest
from ..metrics import SCAN_METRICS, Recorder
from ..ports import Ports
from ..use_cases.sweep import scan_requested
from .common import invocation_metrics, logger, metrics, runtime

REQUIRES = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")
processor = BatchProcessor(event_type=EventType.SQS)


class ScanFailed(RekeyError):
    """The account could not be scanned; the message is retried, then dead-lettered."""


def process(event: dict, rt: Ports, recorder: Recorder | None = None, time_left: Callable[[], float] | None = None):
    """Scan each requested account, counted in `recorder`; `time_left`: the invocation's seconds."""
    counted = recorder if recorder is not None else Recorder()

    def record_handler(record: SQSRecord) -> None:
        request = ScanRequest.model_validate_json(record.body)
        result = scan_requested(rt, request, time_left=time_left)
        if result.refused is not None:  # outside rekey's scope: announced, consumed, not retried
            counted.announced(result.notifications)
            logger.warning("scan request refused", extra={"account_id": result.account_id, "why": result.refused})
            return
        counted.scanned_for(result, request.sweep_id, rt.now())
        done = "account scanned" if result.finished else "account scanned in part"
        extra = {"part": result.part, "stopped_after": result.stopped_after, "items": len(result.items)}
        logger.info(done, extra={"account_id": result.account_id, **extra, "error": result.error})
        if result.error:
            raise ScanFailed(result.error)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation_metrics(SCAN_METRICS) as recorder:
        return process(event, runtime(REQUIRES), recorder, lambda: context.get_remaining_time_in_millis() / 1000)
