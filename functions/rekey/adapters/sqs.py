"""Amazon SQS: the scan and work queues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..domain.errors import Unavailable
from ..messages import ScanRequest, WorkItem
from .errors import aws_call

PERMISSIONS = {"hub": ("sqs:SendMessage",)}

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


class WorkQueue(_Queue):
    """The FIFO work queue: one group per account/user, deterministic deduplication."""

    def send(self, items: Sequence[WorkItem]) -> None:
        self._send(
            [
                {
                    "Id": str(i),
                    "MessageBody": item.model_dump_json(),
                    "MessageGroupId": item.group_id,
                    "MessageDeduplicationId": item.deduplication_id,
                }
                for i, item in enumerate(items)
            ]
        )


class ScanQueue(_Queue):
    """The standard scan queue: one message per account."""

    def send(self, requests: Sequence[ScanRequest]) -> None:
        self._send([{"Id": str(i), "MessageBody": r.model_dump_json()} for i, r in enumerate(requests)])
