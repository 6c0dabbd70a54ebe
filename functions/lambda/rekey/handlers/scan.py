"""Scan queue -> scan one account (or a part of one) -> work items on the work queue, findings on
the topic, the rest of the account (if it stopped before its deadline) back on the scan queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from ..domain.entities import Account
from ..domain.errors import RekeyError
from ..messages import ScanRequest
from ..metrics import SCAN_METRICS, Recorder, seconds_since_sweep
from ..ports import Ports
from ..use_cases.announce import publish
from ..use_cases.digest import account_scanned, record_for_digest
from ..use_cases.scan import Resume, ScanResult, scan_account
from .common import invocation_metrics, logger, metrics, runtime

REQUIRES = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")

# A failed account is reported for redelivery (then the scan DLQ); the others go on.
processor = BatchProcessor(event_type=EventType.SQS)


class ScanFailed(RekeyError):
    """The account could not be scanned; the message is retried, then dead-lettered."""


def process(
    event: dict[str, Any],
    rt: Ports,
    recorder: Recorder | None = None,
    time_left: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Scan each requested account: its work items queued as they are found, its findings
    announced, its result counted in `recorder` and, once the account is done, recorded for the
    digest. With `time_left` (the invocation's remaining seconds), a scan that stops before its
    deadline queues the rest of the account as a continuation on the scan queue."""
    counted = recorder if recorder is not None else Recorder()

    def record_handler(record: SQSRecord) -> None:
        request = ScanRequest.model_validate_json(record.body)
        account = Account(request.account_id, request.account_name)
        resume, send = Resume.of(request), rt.work_queue().send
        result = scan_account(rt, account, request.sweep_id, resume=resume, send=send, time_left=time_left)
        publish(rt, result.notifications)
        if result.refused is not None:  # outside rekey's scope: announced, consumed, not retried
            counted.announced(result.notifications)
            logger.warning("scan request refused", extra={"account_id": result.account_id, "why": result.refused})
            return
        _continue(rt, request, result)
        counted.scanned(result)
        now = rt.now()
        elapsed = seconds_since_sweep(request.sweep_id, now)
        if elapsed is not None:
            counted.sweep_duration(elapsed)
        if result.finished:
            record_for_digest(rt, account_scanned(result, request.sweep_id, now))
        logger.info(
            "account scanned" if result.finished else "account scanned in part",
            extra={
                "account_id": result.account_id,
                "part": result.part,
                "stopped_after": result.stopped_after,
                "items": len(result.items),
                "error": result.error,
            },
        )
        if result.error:
            raise ScanFailed(result.error)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor)


def _continue(rt: Ports, request: ScanRequest, result: ScanResult) -> None:
    """Queue the rest of the account's scan, if it stopped early; if that fails, this part fails
    (and is retried from where it began)."""
    try:
        rest = result.continuation(request)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        result.error = f"the scan of this account cannot go on after {result.stopped_after}: {where}: {problem['msg']}"
        return
    if rest is None:
        return
    try:
        rt.scan_queue().send([rest])
    except RekeyError as exc:
        result.error = f"{exc.code}: could not queue the rest of the scan (after {rest.after}): {exc}"


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation_metrics(SCAN_METRICS) as recorder:
        return process(event, runtime(REQUIRES), recorder, lambda: context.get_remaining_time_in_millis() / 1000)
