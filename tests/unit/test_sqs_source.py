"""The CLI's stand-in for Lambda's SQS event source (rekey_cli.sqs_source), on a fake queue."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from rekey_cli.sqs_source import drain

QUEUE = "https://sqs.us-east-1.amazonaws.com/111122223333/rekey-work.fifo"


class FakeQueue:
    """One batch of three messages; DeleteMessageBatch fails for the second entry."""

    def __init__(self) -> None:
        self.batches = [[{"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": "{}"} for i in range(3)]]
        self.deleted: list[str] = []

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:111122223333:rekey-work.fifo"}}

    def receive_message(self, **_: Any) -> dict[str, Any]:
        return {"Messages": self.batches.pop(0)} if self.batches else {}

    def delete_message_batch(self, Entries: list[dict[str, str]], **_: Any) -> dict[str, Any]:
        self.deleted += [e["ReceiptHandle"] for e in Entries if e["Id"] != "1"]
        failed = [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]
        return {"Successful": [{"Id": e["Id"]} for e in Entries if e["Id"] != "1"], "Failed": failed}


def test_a_message_sqs_did_not_delete_is_counted_and_said(caplog: pytest.LogCaptureFixture) -> None:
    queue = FakeQueue()
    caplog.set_level(logging.WARNING)

    result = drain(queue, QUEUE, lambda event: {"batchItemFailures": []})

    assert (result.received, result.succeeded, result.failed, result.undeleted) == (3, 3, 0, 1)
    assert queue.deleted == ["r0", "r2"]
    assert "1 handled message(s) not deleted (InternalError)" in caplog.text
