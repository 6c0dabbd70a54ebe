"""The lifecycle options operators configure, on the emulator through the daily sweep and the
worker: in-use warnings (enforce / defer), exemptions with expiry, the first key, OU scoping."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rekey.messages import WorkItem
from rekey.runtime import Runtime
from rekey.use_cases.sweep import accounts_to_sweep
from rekey.use_cases.work import run_work_item
from tests.conftest import Operator, Org
from tests.operators import (
    TAG,
    current_key,
    items_for,
    later,
    run_cli,
    run_day,
    runtime_from_env,
    secret_tags,
    today,
)


def rotated_user(org: Org, rt: Runtime, account: str = "analytics", user: str = "svc") -> tuple[str, str]:
    """A user whose key rekey replaced today: (old key, new key)."""
    (old,) = org.create_user(account, user, TAG)
    org.age(91)
    run_day(rt)
    return old, current_key(org, account, user)


# --------------------------------------------------------------------------- in-use warnings


def test_in_use_warnings_come_days_ahead_at_most_once_a_day_then_enforce(org: Org, runtime: Runtime) -> None:
    old, new = rotated_user(org, runtime)
    org.age(7)  # old 98 days, replacement 7: deactivation due in 3 days
    org.emulator.use_key(org.accounts["analytics"], old, "s3", "eu-west-1")
    org.notifications()
    org.received.clear()

    run_day(runtime)
    (warning,) = org.events("in-use")
    assert warning["key_id"] == old and warning["severity"] == "warning"
    assert (warning["last_used_service"], warning["last_used_region"]) == ("s3", "eu-west-1")
    assert warning["last_used_at"].startswith(str(today()))
    assert f"deactivated in 3 day(s), on {today() + timedelta(days=3)}" in warning["message"]
    assert secret_tags(org, "analytics", "rekey/svc")["rekey:in-use-warned"] == f"{old} {today()}"

    # Another sweep the same day (a manual run, a retried scan): no second warning.
    run_day(runtime)
    assert len(org.events("in-use")) == 1
    # A stale warning item delivered again is a no-op too.
    item = WorkItem(
        account_id=org.accounts["analytics"], user_name="svc", key_id=old, action="warn-in-use", sweep_id="x"
    )
    assert run_work_item(runtime, item).status == "noop"

    # The next day: warned again, still active.
    run_day(later(runtime, 1))
    assert len(org.events("in-use")) == 2
    assert f"deactivated in 2 day(s), on {today() + timedelta(days=3)}" in org.events("in-use")[-1]["message"]
    assert org.keys("analytics", "svc")[old] == "Active"

    # On the day: enforced (the default), with a last in-use notice.
    org.received.clear()
    run_day(later(runtime, 3))
    assert org.keys("analytics", "svc") == {old: "Inactive", new: "Active"}
    assert [e["event"] for e in org.events()] == ["in-use", "deactivated"]


def test_no_in_use_warning_for_an_old_key_nobody_uses(org: Org, runtime: Runtime) -> None:
    old, _ = rotated_user(org, runtime)
    org.age(7)
    org.emulator.use_key(org.accounts["analytics"], old, "s3", "eu-west-1", days_ago=8)  # before its replacement
    run_day(runtime)
    assert org.events("in-use") == []


def test_defer_policy_waits_while_the_key_is_used_up_to_the_bound(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REKEY_IN_USE_POLICY", "defer")
    monkeypatch.setenv("REKEY_IN_USE_MAX_DEFER_DAYS", "3")
    rt = runtime_from_env()
    old, new = rotated_user(org, rt)
    org.age(10)  # due today
    org.emulator.use_key(org.accounts["analytics"], old, "lambda", "us-east-1")
    org.notifications()
    org.received.clear()

    for day in (0, 1, 2):
        run_day(later(rt, day))
        assert org.keys("analytics", "svc")[old] == "Active"
    deferrals = org.events("in-use")
    assert len(deferrals) == 3
    assert "deactivation is deferred (day 1 of at most 3)" in deferrals[0]["message"]
    assert f"deactivated on {today() + timedelta(days=3)} at the latest" in deferrals[0]["message"]

    run_day(later(rt, 3))  # the bound: enforced although still in use
    assert org.keys("analytics", "svc") == {old: "Inactive", new: "Active"}
    (deactivated,) = org.events("deactivated")
    assert "deferred 3 day(s) while in use, the most allowed" in deactivated["message"]


def test_defer_policy_deactivates_a_key_that_fell_silent(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REKEY_IN_USE_POLICY", "defer")
    rt = runtime_from_env()
    old, _ = rotated_user(org, rt)
    org.emulator.use_key(org.accounts["analytics"], old, "s3", "eu-west-1")  # after the replacement
    org.age(10)  # ...but 10 days ago: not used for a week
    run_day(rt)
    assert org.keys("analytics", "svc")[old] == "Inactive"


# --------------------------------------------------------------------------- exemptions


def test_exemptions_hold_until_their_date_then_lapse_by_themselves(org: Org, runtime: Runtime) -> None:
    reason = {"rekey:exempt-reason": "vendor migration"}
    (held,) = org.create_user("payments", "held", {**TAG, **reason, "rekey:exempt-until": str(today())})
    (lapsed,) = org.create_user(
        "payments", "lapsed", {**TAG, **reason, "rekey:exempt-until": str(today() - timedelta(days=1))}
    )
    org.create_user("payments", "typo", {**TAG, "rekey:exempt-until": "2026-02-30"})
    org.age(95)

    assert items_for(runtime, "held") == []
    assert items_for(runtime, "lapsed") == [("rotate", lapsed)]
    assert items_for(later(runtime, 1), "held") == [("rotate", held)]  # the exemption's last day is over
    run_day(runtime)
    (misconfigured,) = org.events("misconfigured")
    assert (
        misconfigured["user_name"] == "typo"
        and "rekey:exempt-until: '2026-02-30' is not a valid date" in (misconfigured["message"])
    )
    # A work item for an exempt user (queued before the tag was set) is a no-op.
    item = WorkItem(account_id=org.accounts["payments"], user_name="held", key_id=held, action="rotate", sweep_id="x")
    outcome = run_work_item(runtime, item)
    assert outcome.status == "noop" and "exempt until" in outcome.detail
    assert org.keys("payments", "held") == {held: "Active"}


# --------------------------------------------------------------------------- first key


def test_first_key_for_a_tagged_user_without_keys_only_when_configured(org: Org, monkeypatch) -> None:
    org.create_user("payments", "newcomer", TAG, keys=0)
    run_day(runtime_from_env())
    assert org.keys("payments", "newcomer") == {}

    monkeypatch.setenv("REKEY_CREATE_FIRST_KEY", "true")
    rt = runtime_from_env()
    run_day(rt)
    (key,) = org.keys("payments", "newcomer")
    assert current_key(org, "payments", "newcomer") == key
    (event,) = org.events("rotated")
    assert "as the user's first key" in event["message"]
    run_day(rt)
    assert list(org.keys("payments", "newcomer")) == [key]


# --------------------------------------------------------------------------- OU scoping


def test_target_ous_limit_the_sweep_and_the_commands(org: Org, operator: Operator, monkeypatch, capsys) -> None:
    organizations = org.emulator.client("organizations")
    root = organizations.list_roots()["Roots"][0]["Id"]
    prod = organizations.create_organizational_unit(ParentId=root, Name="prod")["OrganizationalUnit"]["Id"]
    team = organizations.create_organizational_unit(ParentId=prod, Name="payments")["OrganizationalUnit"]["Id"]
    organizations.move_account(AccountId=org.accounts["payments"], SourceParentId=root, DestinationParentId=team)
    org.create_user("analytics", "svc", TAG)
    monkeypatch.setenv("REKEY_TARGET_OUS", prod)

    assert [a.account_id for a in accounts_to_sweep(runtime_from_env())] == [org.accounts["payments"]]
    code, _, err = run_cli(capsys, "rotate-now", "--account", org.accounts["analytics"], "--user", "svc")
    assert code == 2
    assert (
        err.strip() == f"rekey: account {org.accounts['analytics']} is outside the OUs rekey covers (REKEY_TARGET_OUS)"
    )
