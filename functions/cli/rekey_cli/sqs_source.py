"""A small stand-in for Lambda's SQS event source mapping: batches of up to 10, partial batch
failures honoured (failed messages stay on the queue, so its redrive policy applies)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import BotoCoreError, ClientError

Handler = Callable[[dict[str, Any]], dict[str, Any]]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LambdaContext:
    """Enough of Lambda's context object for Powertools."""

    function_name: str = "rekey-local"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:rekey-local"
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    log_group_name: str = "local"
    log_stream_name: str = "local"

    @classmethod
    def new(cls, name: str) -> LambdaContext:
        return cls(function_name=name, aws_request_id=str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@dataclass
class DrainResult:
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    batches: int = 0
    # Handled, but SQS did not delete them (DeleteMessageBatch's `Failed` entries): they come back
    # after the visibility timeout, and the worker's re-checks find nothing left to do.
    undeleted: int = 0


class DrainStopped(Exception):
    """An SQS call of the drain failed (past botocore's retries). `result` is what was delivered
    and handled before it; `cause` is botocore's error, mapped by the CLI's edge (by class or
    AWS error code). Handled messages whose deletion failed come back after their visibility
    timeout, and the worker's re-checks find nothing left to do."""

    def __init__(self, cause: ClientError | BotoCoreError, result: DrainResult) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.result = result


def to_lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def drain(
    sqs: Any,
    queue_url: str,
    handler: Handler,
    *,
    retry_failed_now: bool = False,
    max_batches: int = 10_000,
    batch_size: int = 10,
) -> DrainResult:
    """Deliver batches of up to `batch_size` to `handler` until no message is visible. Successful
    messages are deleted. Failed ones stay: invisible until their visibility timeout ends (as with Lambda),
    or, with `retry_failed_now`, visible again at once, so redelivery and the queue's
    maxReceiveCount -> DLQ play out within one drain. An SQS failure raises DrainStopped."""
    result = DrainResult()
    try:
        _deliver(sqs, queue_url, handler, result, retry_failed_now, max_batches, batch_size)
    except (ClientError, BotoCoreError) as exc:
        raise DrainStopped(exc, result) from exc
    return result


def _deliver(
    sqs: Any,
    queue_url: str,
    handler: Handler,
    result: DrainResult,
    retry_failed_now: bool,
    max_batches: int,
    batch_size: int,
) -> None:
    """drain()'s loop, counting into `result` as it goes (so a failure leaves what was done)."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attrs["QueueArn"]
    region = queue_arn.split(":")[3]
    for _ in range(max_batches):
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=batch_size,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            break
        result.batches += 1
        result.received += len(messages)
        event = {"Records": [to_lambda_record(m, queue_arn, region) for m in messages]}
        try:
            response = handler(event)
            failed_ids = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except BatchProcessingError:  # every record failed
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        failed = [m for m in messages if m["MessageId"] in failed_ids]
        result.succeeded += len(done)
        result.failed += len(failed)
        if done:
            deleted = sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
            undeleted = deleted.get("Failed", [])
            if undeleted:
                result.undeleted += len(undeleted)
                codes = sorted({f.get("Code", "?") for f in undeleted})
                log.warning(
                    "%d handled message(s) not deleted (%s): they come back after the visibility timeout, "
                    "and their items then find nothing left to do",
                    len(undeleted),
                    ", ".join(codes),
                )
        if failed and retry_failed_now:
            sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(failed)
                ],
            )
