"""Work queue (FIFO) -> each work item carried out (rekey.use_cases.work_queue), partial batch
failures reported: a failed item stops the rest of its group (account/user), which comes back
in order. The classic manual event, invoked straight on this function, is handlers.classic's."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import ExceptionInfo, FailureResponse, SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.batch import process_partial_response as partial
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..messages import Notification, WorkItem
from ..metrics import WORKER_METRICS, Recorder
from ..ports import Ports
from ..use_cases.classic import is_classic
from ..use_cases.work import WorkOutcome
from ..use_cases.work_queue import announce_failure, carry_out_message
from . import classic
from .common import invocation_metrics, logger, metrics, runtime


class WorkBatch(SqsFifoPartialProcessor):
    """One invocation's batch: carried out with `rt`, what was announced counted in `recorder`."""

    def __init__(self, rt: Ports, recorder: Recorder, outcomes: list[WorkOutcome]) -> None:
        super().__init__(skip_group_on_error=True)
        self.rt, self.recorder, self.outcomes = rt, recorder, outcomes

    def _process_record(self, record: dict[str, Any]) -> Any:
        """A failed item skips the rest of the batch's items of its *user* only: a FIFO group
        holds several users of an account (REKEY_ACCOUNT_CONCURRENCY), who must not be held
        back (nor, failing with it, dead-lettered) for another's failure."""
        attributes = {**record.get("attributes", {}), "MessageGroupId": _user_of(record.get("body", ""))}
        return super()._process_record({**record, "attributes": attributes})

    def record_handler(self, record: SQSRecord) -> None:
        announced: list[Notification] = []
        try:  # what was done is counted also when it failed (published already)
            self.outcomes.append(carry_out_message(self.rt, record.body, _attempt(record), announced))
        finally:
            self.recorder.announced(announced)

    def failure_handler(self, record: SQSRecord, exception: ExceptionInfo) -> FailureResponse:
        said = announce_failure(self.rt, record.message_id, record.body, _attempt(record), exception[1])
        self.recorder.announced([said] if said else [])
        return super().failure_handler(record, exception)


def _user_of(body: str) -> str:
    """The item's account/user, or its body when it is malformed (it fails alone)."""
    try:
        return WorkItem.model_validate_json(body).user_key
    except ValueError:
        return body


def _attempt(record: SQSRecord) -> int:
    return int(record.attributes.approximate_receive_count or 1)


def process(
    event: dict, rt: Ports, recorder: Recorder | None = None, outcomes: list[WorkOutcome] | None = None
) -> dict:
    """A batch of work items, or the classic manual event; `outcomes` receives each item's."""
    counted = recorder if recorder is not None else Recorder()
    if is_classic(event):
        return classic.process(event, rt, counted)
    batch = WorkBatch(rt, counted, outcomes if outcomes is not None else [])
    return partial(event=event, record_handler=batch.record_handler, processor=batch)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation_metrics(WORKER_METRICS) as recorder:
        return process(event, runtime(("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")), recorder)
