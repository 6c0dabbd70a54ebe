"""Scan queue -> scan one account -> work items on the work queue, findings on the topic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..domain.entities import Account
from ..domain.errors import RekeyError
from ..messages import ScanRequest
from ..metrics import SCAN_METRICS, Recorder, seconds_since_sweep
from ..ports import Ports
from ..use_cases.digest import account_scanned, record_for_digest
from ..use_cases.scan import dispatch, scan_account
from .common import invocation_metrics, logger, metrics, runtime

REQUIRES = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")

# A failed account is reported for redelivery (then the scan DLQ); the others go on.
processor = BatchProcessor(event_type=EventType.SQS)


class ScanFailed(RekeyError):
    """The account could not be scanned; the message is retried, then dead-lettered."""


def process(event: dict[str, Any], rt: Ports, recorder: Recorder | None = None) -> dict[str, Any]:
    """Scan each requested account: its work items queued, its findings announced, its result
    counted in `recorder` and recorded for the digest."""
    counted = recorder if recorder is not None else Recorder()

    def record_handler(record: SQSRecord) -> None:
        request = ScanRequest.model_validate_json(record.body)
        result = scan_account(rt, Account(request.account_id, request.account_name), request.sweep_id)
        dispatch(rt, result)
        counted.scanned(result)
        now = rt.now()
        elapsed = seconds_since_sweep(request.sweep_id, now)
        if elapsed is not None:
            counted.sweep_duration(elapsed)
        record_for_digest(rt, account_scanned(result, request.sweep_id, now))
        logger.info(
            "account scanned",
            extra={"account_id": result.account_id, "items": len(result.items), "error": result.error},
        )
        if result.error:
            raise ScanFailed(result.error)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation_metrics(SCAN_METRICS) as recorder:
        return process(event, runtime(REQUIRES), recorder)
