"""Throttling storms, accounts that cannot be entered, accounts that are closed: the sweep
completes, no account is missed (each is rotated or announced), one account's trouble never
stops the others."""

from __future__ import annotations

from collections import Counter

import pytest

from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.sweep import sweep
from tests.conftest import Org, drain_work
from tests.faults import Faults
from tests.invariants import SafetyChecker
from tests.reliability import summary

TAG = {"rekey:rotate": "true"}
# The error code each service answers a throttled call with.
THROTTLED = {
    "iam": ("Throttling", 400),
    "sts": ("Throttling", 400),
    "secretsmanager": ("ThrottlingException", 400),
    "organizations": ("TooManyRequestsException", 400),
    "sqs": ("RequestThrottled", 403),
    "sns": ("Throttling", 400),
    "dynamodb": ("ThrottlingException", 400),
    "securityhub": ("TooManyRequestsException", 429),
}


def storm(faults: Faults, throttles_per_call: int) -> None:
    """Every call of every service is throttled `throttles_per_call` times before it is served."""
    for service, (code, status) in THROTTLED.items():
        faults.fail(service, "*", code=code, status=status, times=0, first_attempts=throttles_per_call)


def users_everywhere(org: Org, per_account: int = 2) -> dict[tuple[str, str], SafetyChecker]:
    checkers = {}
    for account in org.accounts:
        for n in range(per_account):
            keys = org.create_user(account, f"svc-{n}", TAG)
            checkers[(account, f"svc-{n}")] = SafetyChecker(org, org.accounts[account], f"svc-{n}", set(keys))
    org.age(91)
    return checkers


def rt_with(faults: Faults) -> Runtime:
    rt = Runtime.build(Settings.from_env(), make_client=faults.make_client)
    rt.sleep = lambda _s: None
    return rt


def test_a_throttling_storm_is_ridden_out_with_backoff_and_nothing_is_missed(org: Org, faults: Faults) -> None:
    checkers = users_everywhere(org)
    rt = rt_with(faults)
    storm(faults, throttles_per_call=2)

    result = sweep(rt, "storm")
    drained, outcomes = drain_work(rt)

    assert not result.failed and len(result.accounts) == 3
    assert drained.failed == 0 and sorted(o.status for o in outcomes) == ["done"] * 6
    for (account, user), checker in checkers.items():
        assert len(org.keys(account, user)) == 2, (account, user)
        assert checker.violations() == [] and checker.unsettled() == []
    # Every call was retried twice, after a backoff botocore computed (recorded, not slept):
    # truncated exponential with full jitter, 1 s base for throttling.
    calls = sum(faults.calls.values())
    assert len(faults.backoffs) == 2 * calls
    per_call: Counter = Counter()
    for service, operation, delay in faults.backoffs:
        per_call[(service, operation)] += 1
        assert 0 <= delay <= 2, (service, operation, delay)
    assert {s for s, _ in per_call} == set(THROTTLED)
    summary.record_cases("throttling storm: calls throttled twice", calls)


def test_throttled_past_the_retries_in_one_account_announces_it_and_the_others_finish(org: Org, faults: Faults) -> None:
    checkers = users_everywhere(org, per_account=1)
    rt = rt_with(faults)
    storm(faults, throttles_per_call=1)
    analytics = org.accounts["analytics"]
    # Entering analytics is throttled past every retry; everything else once per call.
    faults.fail("sts", "AssumeRole", code="Throttling", status=400, times=0, match=lambda p: analytics in p["RoleArn"])

    result = sweep(rt, "storm")
    drained, _ = drain_work(rt)

    assert [a.account_id for a in result.failed] == [analytics]
    assert "throttled" in (result.failed[0].error or "")
    (event,) = org.events("account-unreachable")
    assert event["account_id"] == analytics and event["severity"] == "error"
    assert drained.failed == 0
    for (account, user), checker in checkers.items():
        assert len(org.keys(account, user)) == (1 if account == "analytics" else 2)
        assert checker.violations() == []


def test_an_account_that_loses_its_spoke_role_after_the_scan_fails_alone_then_dead_letters(
    org: Org, faults: Faults
) -> None:
    checkers = users_everywhere(org, per_account=1)
    rt = rt_with(faults)
    assert not sweep(rt, "day").failed
    sandbox = org.accounts["sandbox"]
    # The StackSet instance was removed from sandbox between the scan and the worker.
    faults.fail("sts", "AssumeRole", code="AccessDenied", status=403, times=0, match=lambda p: sandbox in p["RoleArn"])
    worker_rt = rt_with(faults)  # the worker's own container: it assumes roles itself

    drained, outcomes = drain_work(worker_rt, retry_failed_now=True)

    assert sorted(o.item.account_id for o in outcomes if o.status == "done") == sorted(
        a for n, a in org.accounts.items() if n != "sandbox"
    )
    assert drained.failed == 3  # the sandbox item, three deliveries, then the DLQ
    dead = org.emulator.client("sqs").receive_message(QueueUrl=org.hub.work_dlq_url).get("Messages", [])
    assert len(dead) == 1 and sandbox in dead[0]["Body"]
    failed = org.events("failed")
    assert {f["account_id"] for f in failed} == {sandbox} and "AccessDenied" in failed[0]["message"]
    for (account, user), checker in checkers.items():
        assert len(org.keys(account, user)) == (1 if account == "sandbox" else 2)
        assert checker.violations() == []


@pytest.mark.parametrize("closing", ["payments", "sandbox"])
def test_a_closed_account_is_skipped_without_a_word(org: Org, runtime: Runtime, closing: str) -> None:
    users_everywhere(org, per_account=1)
    org.emulator.client("organizations").close_account(AccountId=org.accounts[closing])  # SUSPENDED

    result = sweep(runtime, "day")
    drain_work(runtime)

    assert sorted(a.account_id for a in result.accounts) == sorted(a for n, a in org.accounts.items() if n != closing)
    assert not result.failed and org.events("account-unreachable") == []
    assert len(org.keys(closing, "svc-0")) == 1  # untouched
    assert all(len(org.keys(n, "svc-0")) == 2 for n in org.accounts if n != closing)
