"""Every message delivered twice, out of order, or a day late: the same end state as one
delivery in order, and nothing done or announced twice.

Each day's work items come from the production sweep; they are then handed to the worker's
Lambda handler in the order a variant asks for, as SQS's at-least-once delivery (or a DLQ
redrive) may."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from rekey_cli.sqs_source import to_lambda_record

from rekey.handlers import worker
from rekey.messages import WorkItem
from rekey.use_cases.work import WorkOutcome
from tests.conftest import Org
from tests.faults import SimulatedCrash
from tests.reliability import summary
from tests.reliability.lab import Lab

Deliveries = Callable[[list[WorkItem], list[WorkItem]], list[list[WorkItem]]]  # (today's, yesterday's) -> batches

VARIANTS: dict[str, Deliveries] = {
    "once, in order": lambda today, _: [today],
    "twice": lambda today, _: [today, today],
    "reversed, then again in order": lambda today, _: [today[::-1], today],
    "each twice in a row, reversed": lambda today, _: [[i, i] for i in today[::-1]],
    "yesterday's again after today's": lambda today, yesterday: [today, yesterday, today],
}


def take_queued(lab: Lab) -> list[WorkItem]:
    """Today's items, as the sweep queued them (and off the queue)."""
    items, url = [], lab.settings.work_queue_url
    while True:
        batch = lab.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return items
        items += [WorkItem.model_validate_json(m["Body"]) for m in batch]
        lab.sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


def deliver(lab: Lab, items: list[WorkItem], outcomes: list[WorkOutcome]) -> None:
    """One Lambda invocation of the worker with these records (FIFO attributes included)."""
    if not items:
        return
    messages = [
        {
            "MessageId": f"m-{n}-{item.deduplication_id[:8]}",
            "ReceiptHandle": f"r-{n}",
            "Body": item.model_dump_json(),
            "Attributes": {
                "ApproximateReceiveCount": "1",
                "MessageGroupId": item.group_id(4),
                "MessageDeduplicationId": item.deduplication_id,
                "SequenceNumber": str(n),
                "SentTimestamp": "0",
                "SenderId": "rekey",
                "ApproximateFirstReceiveTimestamp": "0",
            },
        }
        for n, item in enumerate(items)
    ]
    arn = f"arn:aws:sqs:{lab.settings.region}:123456789012:rekey-work.fifo"
    event = {"Records": [to_lambda_record(m, arn, lab.settings.region) for m in messages]}
    response = worker.process(event, lab.worker_rt, outcomes=outcomes)
    assert response.get("batchItemFailures") == [], response
    lab._check(f"after delivering {[i.action.value for i in items]}")


# Scenarios: a user's days, from a fresh lab. Each returns the days to sweep (ages to add).


def lifecycle(lab: Lab) -> list[float]:
    lab.create_user()
    return [91, 10, 10]  # rotate, deactivate, delete


def making_room(lab: Lab) -> list[float]:
    retired, _ = lab.create_user(keys=2)
    lab.iam.update_access_key(UserName=lab.user, AccessKeyId=retired, Status="Inactive")
    return [91]  # delete the inactive key, then rotate: two items the same day


def interrupted(lab: Lab) -> list[float]:
    (human,) = lab.create_user()
    lab.age(91)
    crash = lab.faults.crash_after("iam", "CreateAccessKey")
    with pytest.raises(SimulatedCrash):
        lab.work("rotate", human, rt=lab.runtime())
    lab.faults.rules.remove(crash)
    return [1]  # delete the orphan, clear the intent, rotate: three items the same day


SCENARIOS = {"lifecycle": lifecycle, "making room": making_room, "interrupted rotation": interrupted}


def signature(lab: Lab, outcomes: list[WorkOutcome]) -> tuple[Any, ...]:
    """The end state with the key ids taken out: what a reader of the account would see."""
    assert lab.checker is not None
    snap = lab.checker.snapshot()
    current = snap.secret.key_in("AWSCURRENT")
    keys = sorted((k.status, k.key_id == current, k.key_id in lab.checker.human_keys) for k in snap.keys.values())
    labels = sorted(tuple(sorted(stages)) for stages in snap.secret.stages.values() if stages)
    events = Counter(e["event"] for e in lab.events())
    done = sorted(a.kind.value for o in outcomes for a in o.performed)
    return tuple(keys), tuple(labels), tuple(sorted(events.items())), tuple(done)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_duplicated_reordered_and_late_deliveries_end_like_one_in_order(org: Org, scenario: str) -> None:
    ends = {}
    for variant, batches in VARIANTS.items():
        lab = Lab(org)
        days = SCENARIOS[scenario](lab)
        outcomes: list[WorkOutcome] = []
        yesterday: list[WorkItem] = []
        for n, age in enumerate(days):
            lab.age(age)
            lab.sweep(f"day {n}")
            today = take_queued(lab)
            assert today, f"{scenario}: nothing queued on day {n}"
            for batch in batches(today, yesterday):
                deliver(lab, batch, outcomes)
            yesterday = today
        assert lab.violations == [], (scenario, variant, lab.violations)
        assert lab.checker is not None and lab.checker.unsettled() == [], (scenario, variant)
        ends[variant] = signature(lab, outcomes)
    reference = ends.pop("once, in order")
    for variant, end in ends.items():
        assert end == reference, f"{scenario}: {variant} ended as {end}, once in order as {reference}"
    summary.record_cases("duplicate, reordered and late deliveries", len(VARIANTS))
