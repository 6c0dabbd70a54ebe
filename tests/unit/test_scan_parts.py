"""A scan that cannot time out an account: items sent in batches as found, a stop before the
deadline, a continuation on the scan queue that finishes the account (the production scan
handler's `process`, on in-memory ports)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from rekey.domain import errors
from rekey.handlers import scan
from rekey.messages import MAX_SCAN_PARTS, ScanRequest, WorkItem
from rekey.metrics import Metric, Recorder
from rekey.use_cases.scan import RESERVE_SHARE, scan_account
from tests.fakes import ACCOUNT, FakePorts

TAG = {"rekey:rotate": "true"}
SWEEP = "20261201T043000Z"


@pytest.fixture
def ports() -> FakePorts:
    return FakePorts()


def due_users(ports: FakePorts, count: int) -> list[str]:
    names = [f"svc-{i:02d}" for i in range(count)]
    for name in reversed(names):  # IAM lists them in any order; the scan takes them by name
        ports.iam.add_user(name, TAG, key_ages=(91,))
    return names


def clock(users_per_part: int) -> Callable[[], Callable[[], float]]:
    """A new time_left for each invocation, where each user takes a second: RESERVE_SHARE of the
    time is reserved, so `users_per_part` users fit in (users_per_part - 1) / (1 - RESERVE_SHARE)
    seconds."""

    def new() -> Callable[[], float]:
        left = [(users_per_part - 1) / (1 - RESERVE_SHARE)]

        def time_left() -> float:
            value = left[0]
            left[0] -= 1.0
            return value

        return time_left

    return new


def invoke(ports: FakePorts, request: ScanRequest, recorder: Recorder, time_left: Callable[[], float]) -> list[str]:
    """One scan invocation of one request; the ids Lambda would redeliver."""
    record = {"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": request.model_dump_json(),
              "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
              "eventSourceARN": "arn:aws:sqs:us-east-1:999988887777:rekey-scan", "awsRegion": "us-east-1"}  # fmt: skip
    response = scan.process({"Records": [record]}, ports, recorder, time_left)
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def scan_to_the_end(
    ports: FakePorts, new_time_left: Callable[[], Callable[[], float]], first: ScanRequest | None = None
) -> tuple[int, Recorder]:
    """The account's first request (or `first`), then each continuation the scan queued: the
    parts it took."""
    recorder, parts = Recorder(), 0
    pending = [first or ScanRequest(account_id=ACCOUNT, account_name="payments", sweep_id=SWEEP)]
    while pending:
        parts += 1
        assert invoke(ports, pending.pop(0), recorder, new_time_left()) == []
        pending += ports.outbox.scans
        ports.outbox.scans.clear()
    return parts, recorder


def test_a_scan_short_of_time_stops_and_its_continuations_finish_the_account(ports: FakePorts) -> None:
    names = due_users(ports, 10)
    ports.iam.add_user("odd", {"rekey:rotate": "sometimes"}, key_ages=(91,))

    first = invoke(ports, ScanRequest(account_id=ACCOUNT, sweep_id=SWEEP), Recorder(), clock(4)())

    assert first == []
    (rest,) = ports.outbox.scans
    assert (rest.after, rest.part, rest.users_checked, rest.items_queued) == ("svc-03", 2, 4, 4)
    assert [i.user_name for i in ports.outbox.items] == names[:4]

    ports.outbox.scans.clear()
    parts, recorder = scan_to_the_end(ports, clock(4), rest)

    assert parts == 2  # svc-04..07, then svc-08..09
    assert sorted(i.user_name for i in ports.outbox.items) == names  # each user's item once
    # The first part announced the misconfigured user; no continuation said it again.
    assert [n.user_name for n in ports.outbox.events("misconfigured")] == ["odd"]
    # The account is counted once, by the part that finished it; its items by every part.
    assert recorder.counts[Metric.ACCOUNTS_SCANNED] == 1 and recorder.counts[Metric.USERS_IN_SCOPE] == 10
    assert recorder.counts[Metric.WORK_ITEMS_QUEUED] == 6


def test_with_time_enough_one_part_does_the_account(ports: FakePorts) -> None:
    names = due_users(ports, 10)

    parts, recorder = scan_to_the_end(ports, clock(100))

    assert parts == 1 and sorted(i.user_name for i in ports.outbox.items) == names
    assert recorder.counts[Metric.ACCOUNTS_SCANNED] == 1


def test_every_part_finishes_a_user_however_late_it_begins(ports: FakePorts) -> None:
    names = due_users(ports, 3)

    parts, _ = scan_to_the_end(ports, clock(1))

    assert parts == 3 and sorted(i.user_name for i in ports.outbox.items) == names


def test_work_items_go_out_in_batches_as_they_are_found(ports: FakePorts) -> None:
    due_users(ports, 25)
    sent: list[tuple[int, int]] = []  # (items in the batch, keys read so far)

    def send(items: Any) -> None:
        sent.append((len(items), ports.iam.failures.calls.count("access_keys")))

    result = scan_account(ports, ports.org.accounts[0], SWEEP, send=send)

    assert len(result.items) == 25 and [n for n, _ in sent] == [10, 10, 5]
    assert [read for _, read in sent] == [10, 20, 25]  # the first batch left before the 11th user was read


def test_items_that_cannot_be_queued_fail_the_scan_and_nothing_is_announced(ports: FakePorts) -> None:
    due_users(ports, 15)
    ports.iam.add_user("odd", {"rekey:rotate": "sometimes"})
    batches: list[int] = []

    def send(items: list[WorkItem]) -> None:
        if batches:
            raise errors.Unavailable("sqs:SendMessageBatch: 1 of 5 failed (InternalError)")
        batches.append(len(items))

    result = scan_account(ports, ports.org.accounts[0], SWEEP, send=send)

    assert result.error is not None and "could not queue work items" in result.error
    assert result.notifications == [] and result.finished


def test_a_continuation_that_cannot_be_queued_fails_the_part_for_redelivery(
    ports: FakePorts, monkeypatch: pytest.MonkeyPatch
) -> None:
    due_users(ports, 10)

    class Refusing:
        def send(self, _requests: Any) -> None:
            raise errors.Unavailable("sqs:SendMessageBatch: 1 of 1 failed (InternalError)")

    monkeypatch.setattr(ports, "scan_queue", Refusing)
    recorder = Recorder()

    with pytest.raises(BatchProcessingError, match="could not queue the rest of the scan"):
        invoke(ports, ScanRequest(account_id=ACCOUNT, sweep_id=SWEEP), recorder, clock(4)())

    # Reported failed, the message is redelivered: the part runs again from where it began.
    assert recorder.counts[Metric.ACCOUNTS_UNREACHABLE] == 1


def test_a_scan_that_would_pass_its_last_part_fails_rather_than_go_on_for_ever(ports: FakePorts) -> None:
    due_users(ports, 10)
    last = ScanRequest(account_id=ACCOUNT, sweep_id=SWEEP, after="svc-01", part=MAX_SCAN_PARTS)
    recorder = Recorder()

    with pytest.raises(BatchProcessingError, match="cannot go on after svc-05: part: Input should be less than"):
        invoke(ports, last, recorder, clock(4)())

    assert ports.outbox.scans == [] and recorder.counts[Metric.ACCOUNTS_UNREACHABLE] == 1
