"""Scan queue -> scan one account -> work items on the work queue, findings on the topic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..adapters.organizations import Account
from ..domain.errors import RekeyError
from ..messages import ScanRequest
from ..runtime import Runtime
from ..service import dispatch, scan_account
from .common import logger, runtime

REQUIRES = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")


class ScanFailed(RekeyError):
    """The account could not be scanned; the message is retried, then dead-lettered."""


def process(event: dict[str, Any], rt: Runtime) -> dict[str, Any]:
    def record_handler(record: SQSRecord) -> None:
        request = ScanRequest.model_validate_json(record.body)
        result = scan_account(rt, Account(request.account_id, request.account_name), request.sweep_id)
        dispatch(rt, result)
        logger.info(
            "account scanned",
            extra={"account_id": result.account_id, "items": len(result.items), "error": result.error},
        )
        if result.error:
            raise ScanFailed(result.error)

    return process_partial_response(
        event=event, record_handler=record_handler, processor=BatchProcessor(event_type=EventType.SQS)
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any, rt: Runtime | None = None) -> dict[str, Any]:
    return process(event, rt or runtime(REQUIRES))
