"""Amazon SQS: the scan and work queues."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from ..domain.entities import Received
from ..domain.errors import Unavailable
from ..messages import ScanRequest, WorkItem
from .errors import aws_call

log = logging.getLogger(__name__)

PERMISSIONS = {
    "hub": (
        "sqs:SendMessage",
        # The worker reads its queue's maxReceiveCount once, to know an item's last attempt.
        "sqs:GetQueueAttributes",
    ),
    # The digest function empties the digest queue once a day.
    "digest": ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"),
}

BATCH = 10  # SendMessageBatch's maximum


class _Queue:
    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self.url = url

    def _send(self, entries: list[dict[str, Any]]) -> None:
        for start in range(0, len(entries), BATCH):
            batch = entries[start : start + BATCH]
            with aws_call("sqs:SendMessageBatch"):
                response = self._client.send_message_batch(QueueUrl=self.url, Entries=batch)
            failed = response.get("Failed", [])
            if failed:
                codes = sorted({f.get("Code", "?") for f in failed})
                raise Unavailable(f"sqs:SendMessageBatch: {len(failed)} of {len(batch)} failed ({', '.join(codes)})")

    def max_receive_count(self) -> int | None:
        """The redrive policy's maxReceiveCount: the attempt after which a failed message goes
        to the dead-letter queue (None: the queue has no redrive policy)."""
        with aws_call("sqs:GetQueueAttributes"):
            attributes = self._client.get_queue_attributes(QueueUrl=self.url, AttributeNames=["RedrivePolicy"])
        policy = attributes.get("Attributes", {}).get("RedrivePolicy")
        if not policy:
            return None
        try:
            return int(json.loads(policy)["maxReceiveCount"])
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable RedrivePolicy on %s", self.url)
            return None


class WorkQueue(_Queue):
    """The FIFO work queue: `groups_per_account` groups per account (a user always in the same
    one), deterministic deduplication."""

    def __init__(self, client: Any, url: str, groups_per_account: int = 1) -> None:
        super().__init__(client, url)
        self.groups_per_account = groups_per_account

    def send(self, items: Sequence[WorkItem]) -> None:
        self._send(
            [
                {
                    "Id": str(i),
                    "MessageBody": item.model_dump_json(),
                    "MessageGroupId": item.group_id(self.groups_per_account),
                    "MessageDeduplicationId": item.deduplication_id,
                }
                for i, item in enumerate(items)
            ]
        )


class ScanQueue(_Queue):
    """The standard scan queue: one message per account."""

    def send(self, requests: Sequence[ScanRequest]) -> None:
        self._send([{"Id": str(i), "MessageBody": r.model_dump_json()} for i, r in enumerate(requests)])


class DigestQueue(_Queue):
    """The standard digest queue: what the sweep and scans record, and (through the topic's
    subscription) every announcement; emptied by the daily digest."""

    def record(self, body: str) -> None:
        with aws_call("sqs:SendMessage"):
            self._client.send_message(QueueUrl=self.url, MessageBody=body)

    def receive_all(self, *, wait_seconds: int = 2, limit: int = 100_000) -> list[Received]:
        """Every message on the queue, each received once (they stay invisible for the queue's
        visibility timeout, until deleted). Long polling asks every SQS server, so an empty
        answer means the queue is empty."""
        received: dict[str, Received] = {}
        while len(received) < limit:
            with aws_call("sqs:ReceiveMessage"):
                batch = self._client.receive_message(
                    QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
                ).get("Messages", [])
            if not batch:
                break
            for m in batch:
                received[m["MessageId"]] = Received(m["MessageId"], m["ReceiptHandle"], m["Body"])
        return list(received.values())

    def delete(self, messages: Sequence[Received]) -> None:
        for start in range(0, len(messages), BATCH):
            batch = messages[start : start + BATCH]
            with aws_call("sqs:DeleteMessageBatch"):
                response = self._client.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(batch)],
                )
            if response.get("Failed"):
                # Left on the queue, they come back into tomorrow's digest: say so, go on.
                log.warning("could not delete %d digest record(s)", len(response["Failed"]))
