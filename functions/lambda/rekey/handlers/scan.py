"""Scan queue -> scan one account -> work items on the work queue, findings on the topic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from .. import digest
from ..adapters.organizations import Account
from ..domain.errors import RekeyError
from ..messages import ScanRequest
from ..metrics import SCAN_METRICS, PowertoolsSink, Recorder, seconds_since_sweep
from ..runtime import Runtime
from ..service import dispatch, scan_account
from .common import logger, metrics, runtime

REQUIRES = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")


class ScanFailed(RekeyError):
    """The account could not be scanned; the message is retried, then dead-lettered."""


def process(event: dict[str, Any], rt: Runtime, recorder: Recorder | None = None) -> dict[str, Any]:
    recorder = recorder if recorder is not None else Recorder()

    def record_handler(record: SQSRecord) -> None:
        request = ScanRequest.model_validate_json(record.body)
        result = scan_account(rt, Account(request.account_id, request.account_name), request.sweep_id)
        try:
            dispatch(rt, result)
        except RekeyError as exc:
            result.error = f"{exc.code}: could not queue work items: {exc}"
        recorder.scanned(result)
        now = rt.now()
        elapsed = seconds_since_sweep(request.sweep_id, now)
        if elapsed is not None:
            recorder.sweep_duration(elapsed)
        digest.record(rt, digest.account_scanned(result, request.sweep_id, now))
        logger.info(
            "account scanned",
            extra={"account_id": result.account_id, "items": len(result.items), "error": result.error},
        )
        if result.error:
            raise ScanFailed(result.error)

    return process_partial_response(
        event=event, record_handler=record_handler, processor=BatchProcessor(event_type=EventType.SQS)
    )


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: Any, rt: Runtime | None = None, recorder: Recorder | None = None
) -> dict[str, Any]:
    """`recorder`: the caller's (the CLI's), which then publishes nothing; otherwise the
    invocation's metrics go out as EMF when it ends."""
    if recorder is not None:
        return process(event, rt or runtime(REQUIRES), recorder)
    own = Recorder()
    try:
        return process(event, rt or runtime(REQUIRES), own)
    finally:
        if own.accounts:  # searchable in Logs Insights, not a dimension (see rekey.metrics)
            metrics.add_metadata(key="account_ids", value=sorted(own.accounts))
        own.publish(PowertoolsSink(metrics), always=SCAN_METRICS)
