"""Work queue (FIFO) -> carry out each work item, with partial batch failures.

The same function also takes the classic recipe's manual event, invoked directly
(`{"action": "create"|"deactivate"|"delete", "username": ..., "account_id": ...}`), when
REKEY_CLASSIC_EVENT is on: carried out at once through the same re-checks, bound by the
lifecycle's rules (rekey.domain.manual)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    ExceptionInfo,
    FailureResponse,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from ..domain.errors import RekeyError
from ..messages import ClassicManualEvent, Event, Notification, Severity, WorkItem
from ..metrics import WORKER_METRICS, Recorder
from ..ports import Ports
from ..use_cases.announce import notice, publish
from ..use_cases.work import OperatorRequest, WorkOutcome, failure_notice, run_work_item
from .common import invocation_metrics, logger, max_receive_count, metrics, runtime

REQUIRES = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")
UNKNOWN_ACCOUNT = "000000000000"
# The classic manual event names no requester: its authority is lambda:InvokeFunction on the
# worker function, and it is announced as such (never with text its sender chose).
CLASSIC_EVENT = OperatorRequest(
    requested_by="the classic manual event (lambda:InvokeFunction on the worker)", classic=True
)


@dataclass
class _Invocation:
    rt: Ports
    recorder: Recorder
    outcomes: list[WorkOutcome] | None


class WorkBatch(SqsFifoPartialProcessor):
    """A batch of the work queue. An item that fails stops the rest of its group (account/user),
    which comes back in order; each failure is announced here: `failed` while it will be retried,
    `dead-lettered` on the queue's last attempt (ApproximateReceiveCount = maxReceiveCount: SQS
    moves it to the DLQ next). A malformed item is announced when first and last seen."""

    def __init__(self) -> None:
        super().__init__(skip_group_on_error=True)
        self._invocation: _Invocation | None = None

    @contextmanager
    def serving(self, rt: Ports, recorder: Recorder, outcomes: list[WorkOutcome] | None) -> Iterator[None]:
        """Carry out this invocation's records with `rt`, counted in `recorder`."""
        self._invocation = _Invocation(rt, recorder, outcomes)
        try:
            yield
        finally:
            self._invocation = None

    @property
    def invocation(self) -> _Invocation:
        assert self._invocation is not None, "records are handled only while serving an invocation"
        return self._invocation

    def record_handler(self, record: SQSRecord) -> None:
        item = WorkItem.model_validate_json(record.body)
        run = self.invocation
        announced: list[Notification] = []
        with logger.append_context_keys(account_id=item.account_id, user_name=item.user_name, action=item.action.value):
            try:
                redelivered = int(record.attributes.approximate_receive_count or 1) > 1
                outcome = run_work_item(run.rt, item, announced=announced, redelivered=redelivered)
            finally:  # what was done, also before a failure (published already)
                run.recorder.announced(announced)
        if run.outcomes is not None:
            run.outcomes.append(outcome)

    def failure_handler(self, record: SQSRecord, exception: ExceptionInfo) -> FailureResponse:
        error = exception[1]
        if isinstance(error, ValidationError):
            self._announce_malformed(record, error)
        elif isinstance(error, RekeyError):
            self._announce_failed(WorkItem.model_validate_json(record.body), record, error)
        return super().failure_handler(record, exception)

    def _last_attempt(self, attempt: str) -> str | None:
        """`n of n` when this is the item's last attempt, else None."""
        limit = max_receive_count(self.invocation.rt)
        return f"{attempt} of {limit}" if limit is not None and attempt.isdigit() and int(attempt) >= limit else None

    def _announce(self, notification: Notification) -> None:
        publish(self.invocation.rt, [notification])
        self.invocation.recorder.announced([notification])

    def _announce_failed(self, item: WorkItem, record: SQSRecord, error: RekeyError) -> None:
        attempt = str(record.attributes.approximate_receive_count)
        last = self._last_attempt(attempt)
        self._announce(failure_notice(item, error, attempt, last, self.invocation.rt.now()))
        logger.warning(
            "work item failed",
            extra={
                "account_id": item.account_id,
                "user_name": item.user_name,
                "action": item.action.value,
                "error": str(error),
                "code": error.code,
                "last_attempt": bool(last),
            },
        )

    def _announce_malformed(self, record: SQSRecord, error: ValidationError) -> None:
        """Never acted upon; kept for the dead-letter queue. Announced on its first attempt and
        on its last, not on those between."""
        attempt = str(record.attributes.approximate_receive_count)
        last = self._last_attempt(attempt)
        if attempt != "1" and not last:
            return
        event = Event.DEAD_LETTERED if last else Event.REJECTED
        what = "moved to the dead-letter queue" if last else "kept for the dead-letter queue"
        message = f"malformed work item {record.message_id} ({_problems(error, 'body')}); never acted upon, {what}"
        self._announce(notice(event, Severity.ERROR, UNKNOWN_ACCOUNT, message, self.invocation.rt.now()))


processor = WorkBatch()


def _problems(error: ValidationError, whole: str) -> str:
    """What is wrong with a message, by field and error type: never its values."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or whole}: {e['type']}" for e in error.errors()[:5])


def process(
    event: dict[str, Any],
    rt: Ports,
    recorder: Recorder | None = None,
    outcomes: list[WorkOutcome] | None = None,
) -> dict[str, Any]:
    """A batch of work items (failed ones are reported for redelivery, then the DLQ), or the
    classic manual event. `outcomes` receives each item's outcome."""
    counted = recorder if recorder is not None else Recorder()
    if "Records" not in event and "action" in event:
        return _manual(event, rt, counted)
    with processor.serving(rt, counted, outcomes):
        return process_partial_response(event=event, record_handler=processor.record_handler, processor=processor)


def _manual(event: dict[str, Any], rt: Ports, recorder: Recorder) -> dict[str, Any]:
    """A classic manual event: validated, mapped, run. A malformed one, or any while
    REKEY_CLASSIC_EVENT is off, is announced and answered (retrying it cannot help); a failure
    raises, so Lambda retries the invocation."""
    account = event.get("account_id") if isinstance(event.get("account_id"), str) else None
    known = account if account and account.isdigit() and len(account) == 12 else UNKNOWN_ACCOUNT
    try:
        request = ClassicManualEvent.model_validate(event)
        problem = None
    except ValidationError as exc:
        problem = f"malformed manual event ({_problems(exc, 'event')}); never acted upon"
    if problem is None and not rt.settings.classic_event:
        problem = (
            "the classic manual event is off (REKEY_CLASSIC_EVENT, hub parameter ClassicManualEvent); "
            "never acted upon. Operators use `rekey rotate-now`"
        )
    if problem is not None:
        rejected = [notice(Event.REJECTED, Severity.ERROR, known, problem, rt.now())]
        publish(rt, rejected)
        recorder.announced(rejected)
        return {"status": "rejected", "detail": problem}
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
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation_metrics(WORKER_METRICS) as recorder:
        return process(event, runtime(REQUIRES), recorder)
