"""Metrics and the digest, derived from the use cases' results: no AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from rekey.digest.builder import MAX_PAYLOAD, DigestBuilder
from rekey.digest.records import AccountScanned, SweepStarted
from rekey.digest.text import render
from rekey.domain.entities import Received
from rekey.messages import Event, Notification, Severity, WorkAction, WorkItem, publish_arguments
from rekey.metrics import SCAN_METRICS, Metric, Recorder, seconds_since_sweep, sweep_started_at
from rekey.use_cases.scan import ScanResult
from rekey.use_cases.sweep import new_sweep_id

AT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
HUB = "999999999999"
A, B, C = "111111111111", "222222222222", "333333333333"


def note(event: Event, account: str = A, user: str | None = "svc", **fields: object) -> Notification:
    severity = Severity.ERROR if event in (Event.FAILED, Event.DEAD_LETTERED) else Severity.INFO
    return Notification(event=event, severity=severity, account_id=account, user_name=user, message=f"{event}",
                        at=AT, **fields)  # fmt: skip


class Sink:
    def __init__(self) -> None:
        self.added: list[tuple[str, str, float]] = []

    def add(self, metric: Metric, value: float) -> None:
        self.added.append((metric.value, metric.unit, value))


# --------------------------------------------------------------------------- metrics


def test_the_recorder_counts_what_the_results_say() -> None:
    item = WorkItem(account_id=A, user_name="svc", action=WorkAction.ROTATE, sweep_id="s")
    reached = ScanResult(A, "payments", users_in_scope=4, items=[item], notifications=[note(Event.BLOCKED, user="x")])
    unreachable = ScanResult(
        B, "sandbox", error="access-denied: no", notifications=[note(Event.ACCOUNT_UNREACHABLE, B)]
    )
    recorder = Recorder()
    recorder.scanned(reached)
    recorder.scanned(unreachable)
    recorder.announced(
        [note(Event.ROTATED), note(Event.DELETED), note(Event.DELETED), note(Event.FAILED), note(Event.DEAD_LETTERED)]
    )
    assert dict(recorder.counts) == {
        Metric.ACCOUNTS_SCANNED: 1,
        Metric.ACCOUNTS_UNREACHABLE: 1,  # from the result, not again from its announcement
        Metric.USERS_IN_SCOPE: 4,
        Metric.WORK_ITEMS_QUEUED: 1,
        Metric.BLOCKED: 1,
        Metric.KEYS_ROTATED: 1,
        Metric.KEYS_DELETED: 2,
        Metric.WORK_ITEMS_FAILED: 2,  # a dead-lettered item failed too: on its last attempt
        Metric.WORK_ITEMS_DEAD_LETTERED: 1,
    }
    assert recorder.accounts == {A, B}


def test_publish_sends_totals_once_and_the_always_metrics_even_at_zero() -> None:
    recorder = Recorder()
    recorder.scanned(ScanResult(A, users_in_scope=2))
    recorder.sweep_duration(12.5)
    recorder.sweep_duration(30.0)
    sink = Sink()
    recorder.publish(sink, always=SCAN_METRICS)
    names = [name for name, _, _ in sink.added]
    assert len(names) == len(set(names))  # one value per metric and invocation
    added = {name: (unit, value) for name, unit, value in sink.added}
    assert added["AccountsScanned"] == ("Count", 1) and added["AccountsUnreachable"] == ("Count", 0)
    assert added["Blocked"] == ("Count", 0) and added["UsersInScope"] == ("Count", 2)
    assert added["SweepDuration"] == ("Seconds", 30.0)  # the longest: the sweep's span so far
    assert "KeysRotated" not in added  # a scan rotates nothing: left to the worker's metrics


def test_the_sweep_start_is_read_back_from_the_sweep_id() -> None:
    assert sweep_started_at(new_sweep_id(AT)) == AT
    assert sweep_started_at(new_sweep_id(AT) + "-day007") == AT  # the demo's ids
    assert sweep_started_at("manual-x") is None
    assert seconds_since_sweep(new_sweep_id(AT), AT + timedelta(minutes=3)) == 180
    assert seconds_since_sweep(new_sweep_id(AT), AT - timedelta(minutes=3)) is None  # another clock
    assert seconds_since_sweep(new_sweep_id(AT), AT + timedelta(days=30)) is None


# --------------------------------------------------------------------------- the digest


def scanned(account: str, *, users: int = 1, items: int = 0, error: str | None = None, **kw: object) -> AccountScanned:
    return AccountScanned(sweep_id=kw.pop("sweep_id", "s1"), at=kw.pop("at", AT), account_id=account,  # type: ignore[arg-type]
                          users_in_scope=users, items_queued=items, error=error)  # fmt: skip


def started(*accounts: str, sweep_id: str = "s1") -> SweepStarted:
    return SweepStarted(sweep_id=sweep_id, at=AT, accounts=[{"account_id": a, "name": f"n{a[0]}"} for a in accounts])  # type: ignore[misc]


@pytest.mark.parametrize("event", [Event.SECRET_UNWRITABLE, Event.SECRET_BROKEN])
def test_a_secret_that_cannot_serve_or_take_a_key_needs_a_human_once_a_digest(event: Event) -> None:
    b = DigestBuilder()
    for sweep_id in ("s1", "s2"):  # announced by each sweep's scan (and maybe a worker) of the day
        b.add_sweep(started(A, sweep_id=sweep_id))
        b.add_scan(scanned(A, sweep_id=sweep_id))
        b.add_notification(note(event, sweep_id=sweep_id))

    d = b.summary()
    assert [(h.event, h.account_id, h.user_name) for h in d.needs_human] == [(event.value, A, "svc")]


def test_the_digest_counts_per_account_and_lists_what_needs_a_human() -> None:
    b = DigestBuilder()
    b.add_sweep(started(A, B, C))
    b.add_scan(scanned(A, users=3, items=2))
    b.add_scan(scanned(B, users=0, error="access-denied: sts:AssumeRole"))
    # C was listed, never scanned.
    b.add_notification(note(Event.ROTATED, key_id="AKIAOLD0000000000001", new_key_id="AKIANEW0000000000001"))
    b.add_notification(note(Event.BLOCKED, user="deploy-bot"))
    b.add_notification(note(Event.MISCONFIGURED, user="bad-tags"))
    b.add_notification(note(Event.DEAD_LETTERED, user="svc", key_id="AKIAOLD0000000000002"))
    b.add_notification(note(Event.ACCOUNT_UNREACHABLE, B, user=None))

    d = b.summary()
    assert (d.accounts_listed, d.accounts_scanned, d.accounts_unreachable, d.accounts_not_scanned) == (3, 1, 1, 1)
    assert d.totals["rotated"] == 1 and d.totals["users_in_scope"] == 3 and d.totals["items_queued"] == 2
    rows = {r.account_id: r for r in d.accounts}
    assert rows[A].rotated == 1 and rows[A].blocked == 1 and rows[A].dead_lettered == 1 and rows[A].failed == 1
    assert rows[B].error and not rows[B].scanned
    assert rows[C].not_scanned
    assert [(h.event, h.account_id, h.user_name) for h in d.needs_human] == [
        ("account-unreachable", B, None),
        ("not-scanned", C, None),
        ("dead-lettered", A, "svc"),
        ("blocked", A, "deploy-bot"),
        ("misconfigured", A, "bad-tags"),
    ]
    assert d.needs_human_total == 5

    n = b.notification(HUB, AT)
    assert n.event is Event.DIGEST and n.severity is Severity.WARNING and n.account_id == HUB
    attributes = {k: v["StringValue"] for k, v in n.attributes().items()}
    assert attributes == {"account_id": HUB, "user_name": "-", "event": "digest", "severity": "warning", "owner": "-"}
    assert n.subject() == "rekey digest: 1 of 3 accounts swept, 5 need a human"
    for needle in ("deploy-bot", "bad-tags", "access-denied: sts:AssumeRole", "NOT SCANNED", "UNREACHABLE"):
        assert needle in n.message


def test_duplicates_and_retries_are_counted_once_and_the_last_scan_attempt_wins() -> None:
    b = DigestBuilder()
    b.add_sweep(started(A))
    b.add_scan(scanned(A, error="throttled: x", at=AT))
    b.add_scan(scanned(A, users=5, at=AT + timedelta(minutes=30)))  # the retry got through
    b.add_scan(scanned(A, error="throttled: x", at=AT + timedelta(minutes=1)))  # arrives late, is older
    rotated = note(Event.ROTATED, key_id="AKIAOLD0000000000001", new_key_id="AKIANEW0000000000001")
    for message_id in ("m1", "m1", "m2"):  # SNS delivered twice; m2: the same fact announced again
        b.add_notification(rotated, message_id)
    for _ in range(3):  # announced by each day's scan, and again by a worker
        b.add_notification(note(Event.BLOCKED, user="deploy-bot"))
    b.add_notification(note(Event.FAILED), "f1")
    b.add_notification(note(Event.FAILED), "f2")  # two failed attempts

    d = b.summary()
    (row,) = d.accounts
    assert row.scanned and row.error is None and row.users_in_scope == 5
    assert (row.rotated, row.blocked, row.failed) == (1, 1, 2)
    assert [h.event for h in d.needs_human] == ["blocked"]  # a failed attempt that will be retried is not


def test_a_failure_no_queue_retries_needs_a_human() -> None:
    """A failure without a user (the work queue's drain, the sweep) is no work item: nothing
    retries it, so the digest lists it; a user's failed attempt is retried, and is not."""
    b = DigestBuilder()
    b.add_sweep(started(A))
    b.add_scan(scanned(A))
    drain = "the work queue's drain: not-found: x"
    failed = Notification(event=Event.FAILED, severity=Severity.ERROR, account_id=A, message=drain, at=AT)
    b.add_notification(failed, "f1")
    b.add_notification(note(Event.FAILED), "f2")

    d = b.summary()
    assert [(h.event, h.user_name) for h in d.needs_human] == [("failed", None)]
    assert "the work queue's drain" in d.needs_human[0].message


def test_a_quiet_day_is_one_short_info_digest_and_no_record_at_all_is_a_warning() -> None:
    b = DigestBuilder()
    b.add_sweep(started(A, B))
    b.add_scan(scanned(A, users=2))
    b.add_scan(scanned(B, users=0))
    n = b.notification(HUB, AT)
    assert n.severity is Severity.INFO and n.digest is not None
    assert n.digest.quiet_accounts == 2 and n.digest.accounts == [] and n.digest.needs_human == []
    assert "Nothing needs a human." in n.message and "2 account(s) scanned with nothing to do." in n.message

    empty = DigestBuilder().notification(HUB, AT)
    assert empty.severity is Severity.WARNING and empty.digest is not None
    assert [h.event for h in empty.digest.needs_human] == ["no-sweep"]
    assert "no sweep was recorded" in empty.message


def test_queue_messages_are_read_as_records_envelopes_or_skipped() -> None:
    b = DigestBuilder()
    deleted = note(Event.DELETED, key_id="AKIAOLD0000000000003").model_dump_json()
    envelope = {"Type": "Notification", "MessageId": "sns-1", "Message": deleted}
    b.add_received(Received("q1", "h1", started(A).model_dump_json()))
    b.add_received(Received("q2", "h2", scanned(A).model_dump_json()))
    b.add_received(Received("q3", "h3", json.dumps(envelope)))
    b.add_received(Received("q4", "h4", json.dumps(envelope)))  # the same SNS message twice
    b.add_received(Received("q5", "h5", "not json"))
    b.add_received(Received("q6", "h6", json.dumps({"record": "account-scanned", "account_id": "x"})))
    d = b.summary()
    assert d.accounts[0].deleted == 1 and d.accounts_scanned == 1
    assert b.unreadable == 2


def test_the_digest_of_a_thousand_troubled_accounts_fits_in_one_sns_message() -> None:
    accounts = [f"{100000000000 + i}" for i in range(1000)]
    b = DigestBuilder()
    b.add_sweep(started(*accounts))
    for i, account in enumerate(accounts):
        b.add_scan(scanned(account, users=3, items=1, error="access-denied: " + "x" * 200 if i % 3 == 0 else None))
        b.add_notification(note(Event.BLOCKED, account, user=f"user-{i}", key_id=None))
        b.add_notification(note(Event.MISCONFIGURED, account, user=f"other-{i}"))
    n = b.notification(HUB, AT)
    assert len(json.dumps(publish_arguments(n)).encode()) <= MAX_PAYLOAD
    d = n.digest
    assert d is not None
    assert d.needs_human_total == 334 + 2000  # every problem counted, even where not listed
    assert len(d.needs_human) < d.needs_human_total and d.accounts_omitted > 0
    assert f"and {d.needs_human_total - len(d.needs_human)} more" in n.message
    assert d.needs_human[0].event == "account-unreachable"  # the worst first


def test_email_subscribers_get_the_digest_as_text_everyone_else_json() -> None:
    b = DigestBuilder()
    b.add_sweep(started(A))
    b.add_scan(scanned(A))
    digest = b.notification(HUB, AT)
    arguments = publish_arguments(digest)
    assert arguments["MessageStructure"] == "json"
    body = json.loads(arguments["Message"])
    assert body["email"] == render(digest.digest) == digest.message  # type: ignore[arg-type]
    assert json.loads(body["default"])["digest"]["accounts_scanned"] == 1
    plain = publish_arguments(note(Event.ROTATED))
    assert "MessageStructure" not in plain and json.loads(plain["Message"])["event"] == "rotated"


@pytest.mark.parametrize("event", [Event.DIGEST, Event.DEAD_LETTERED])
def test_the_new_events_are_part_of_the_message_format(event: Event) -> None:
    n = note(event)
    assert Notification.model_validate_json(n.model_dump_json()) == n
