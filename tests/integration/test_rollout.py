"""Change at the pace people can follow (issue 31), played on the emulator with a clock: no key
changed outside the rotation window; wave 2 follows wave 1 only after its quiet days; two failing
accounts of ten with a 10% threshold halt the rest the same day, and `rekey resume` restarts
exactly where it stopped; at most N users of an account worked on at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rekey_cli.plan import plan
from rekey_dev.emulator import MANAGEMENT_ACCOUNT as HUB

from rekey.domain import errors
from rekey.domain.models import ActionKind
from rekey.messages import OperatorCommand, WorkItem
from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases import operator
from rekey.use_cases.sweep import sweep
from tests.conftest import Org, drain_work
from tests.faults import Faults

TAG = {"rekey:rotate": "true"}
SATURDAY = datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 12, 14, 8, 30, tzinfo=UTC)  # 09:30 in Berlin
WEEKDAYS_IN_BERLIN = "Mon-Fri 09:00-17:00 Europe/Berlin"


def at(moment: datetime, monkeypatch: pytest.MonkeyPatch, faults: Faults | None = None, **env: str) -> Runtime:
    """A runtime whose clock says `moment`, with `env` set (REKEY_...)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rt = Runtime.build(Settings.from_env(), make_client=faults.make_client if faults else None)
    rt.sleep = lambda _s: None
    rt.now = lambda: moment
    return rt


def day(rt: Runtime) -> list[Any]:
    """A sweep (in-process, as the CLI runs it), then the workers over what it queued."""
    sweep(rt, rt.now().strftime("%Y%m%dT%H%M%SZ"))
    return drain_work(rt)[1]


def denied_keys(user: str) -> tuple[Faults, Any]:
    """Faults that refuse every CreateAccessKey for `user` (a release that broke its own writes)."""
    faults = Faults(instant_backoff=True)
    rule = faults.fail(
        "iam", "CreateAccessKey", code="AccessDenied", status=403, times=0, match=lambda p: p["UserName"] == user
    )
    return faults, rule


def keys_of(org: Org, account: str, user: str) -> set[str]:
    return set(org.keys(account, user))


# --------------------------------------------------------------------------- windows


def test_no_key_is_changed_outside_the_window_and_the_change_waits_for_it(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = org.create_user("payments", "svc-app", TAG)
    org.age(95)
    saturday = at(SATURDAY, monkeypatch, REKEY_ROTATION_WINDOW=WEEKDAYS_IN_BERLIN)

    outcomes = day(saturday)

    assert outcomes == [] and org.queue_depth(org.hub.work_queue_url) == 0
    assert keys_of(org, "payments", "svc-app") == set(before)
    assert org.events("rotated") == []
    # An item queued inside the window and worked after it closed waits too.
    item = WorkItem(
        account_id=org.accounts["payments"], user_name="svc-app", key_id=before[0], action="rotate", sweep_id="x"
    )
    saturday.work_queue().send([item])
    (waited,) = drain_work(saturday)[1]
    assert waited.status == "waiting" and "opens next 2026-12-14 09:00 CET" in waited.detail
    assert keys_of(org, "payments", "svc-app") == set(before)

    (rotated,) = day(at(MONDAY_MORNING, monkeypatch))
    assert rotated.status == "done" and len(keys_of(org, "payments", "svc-app")) == 2
    assert [e["user_name"] for e in org.events("rotated")] == ["svc-app"]


def test_a_sweep_outside_the_windows_hours_says_the_window_is_never_reached(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    early = at(datetime(2026, 12, 14, 5, 0, tzinfo=UTC), monkeypatch, REKEY_ROTATION_WINDOW=WEEKDAYS_IN_BERLIN)
    sweep(early, "early")
    (said,) = org.events("misconfigured")
    assert "the sweep runs at 06:00 Europe/Berlin, outside the rotation window's hours 09:00-17:00" in said["message"]


def test_a_users_window_outside_the_organizations_is_misconfigured_and_untouched(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = org.create_user("payments", "svc-weekend", {**TAG, "rekey:window": "Sat 10:00-12:00"})
    org.age(95)
    day(at(MONDAY_MORNING, monkeypatch, REKEY_ROTATION_WINDOW=WEEKDAYS_IN_BERLIN))
    (said,) = org.events("misconfigured", user="svc-weekend")
    assert "'Sat 10:00-12:00' is not inside the organization's rotation window Mon-Fri" in said["message"]
    assert keys_of(org, "payments", "svc-weekend") == set(before)


# --------------------------------------------------------------------------- the breaker


def ten_accounts(org: Org) -> list[str]:
    """The three members and seven more, each with its own spoke role (moto trusts any)."""
    organizations = org.emulator.client("organizations")
    for n in range(7):
        created = organizations.create_account(Email=f"extra-{n}@example.com", AccountName=f"extra-{n}")
        org.accounts[f"extra-{n}"] = created["CreateAccountStatus"]["AccountId"]
    return list(org.accounts)


def test_two_failing_accounts_of_ten_halt_the_rest_the_same_day_and_resume_restarts_there(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = ten_accounts(org)
    failing = accounts[:2]  # swept first (one scan at a time, in the organization's order)
    for name in accounts:
        org.create_user(name, "svc-broken" if name in failing else "svc", TAG)
    org.age(95)
    faults, denied = denied_keys("svc-broken")
    env = {
        "REKEY_BREAKER_SIGNS": "2",
        "REKEY_BREAKER_SHARE": "0.1",
        "REKEY_SCAN_CONCURRENCY": "1",
        "REKEY_OPERATORS": f"arn:aws:iam::{HUB}:role/ops=*",
    }
    monday = at(MONDAY_MORNING, monkeypatch, faults, **env)

    sweep(monday, "monday")
    outcomes = drain_work(monday, retry_failed_now=True)[1]  # SQS redelivers the failed items at once

    assert denied.fired == 2  # the two failing accounts' users, once each: their retries are held too
    held = [o for o in outcomes if o.status == "waiting"]
    assert sorted(o.item.user_name for o in held) == ["svc"] * 8 and "done" not in {o.status for o in outcomes}
    assert all("rekey is halted since 2026-12-14 08:30 UTC" in o.detail for o in held)
    assert all(len(org.keys(name, "svc")) == 1 for name in accounts[2:])  # nothing changed
    (halted,) = org.events("halted")
    assert halted["severity"] == "critical"
    for name in failing:
        assert f"{org.accounts[name]}/svc-broken: rotate failed: access-denied" in halted["message"]
    finding = hub_findings(org)
    assert [(f["Severity"]["Label"], f["RecordState"]) for f in finding] == [("CRITICAL", "ACTIVE")]

    # Scanning and reporting go on the next day; nothing is queued, and the halt is said again.
    tuesday = at(MONDAY_MORNING + timedelta(days=1), monkeypatch, faults)
    settled = day(tuesday)  # the failed rotations' records are settled; no key changes
    assert {o.detail for o in settled if o.status == "done"} <= {"clear-intent"}
    assert org.events("rotated") == []
    assert "still halted" in org.events("halted")[-1]["message"]

    # Only an operator of every account resumes, and who did is said.
    with pytest.raises(errors.Forbidden):
        operator.carry_out(tuesday, f"arn:aws:sts::{HUB}:assumed-role/nobody/x", resume())
    resumed = operator.carry_out(tuesday, f"arn:aws:sts::{HUB}:assumed-role/ops/alice", resume())
    assert resumed.halt is not None and len(resumed.halt.evidence) == 2
    (said,) = org.events("resumed")
    assert "resumed by arn:aws:sts::" in said["message"] and said["requested_by"].endswith("ops/alice")
    assert [f["RecordState"] for f in hub_findings(org)] == ["ARCHIVED"]

    faults.clear()
    wednesday = at(MONDAY_MORNING + timedelta(days=2), monkeypatch, faults)
    done = day(wednesday)
    assert sorted(o.item.account_id for o in done if o.status == "done") == sorted(org.accounts.values())
    assert all(len(org.keys(name, "svc-broken" if name in failing else "svc")) == 2 for name in accounts)
    assert len(org.events("rotated")) == 10  # each exactly once


def resume() -> OperatorCommand:
    return OperatorCommand(command="resume")


def hub_findings(org: Org) -> list[dict[str, Any]]:
    found = org.emulator.client("securityhub").get_findings()["Findings"]
    return [f for f in found if f["GeneratorId"] == "rekey-breaker"]


def test_throttling_and_unreachable_accounts_are_not_breakage(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in org.accounts:
        org.create_user(name, "svc", TAG)
    org.age(95)
    faults = Faults(instant_backoff=True)
    faults.fail("iam", "CreateAccessKey", code="Throttling", status=400, times=0)
    rt = at(MONDAY_MORNING, monkeypatch, faults, REKEY_BREAKER_SIGNS="1", REKEY_BREAKER_SHARE="0.01")
    day(rt)
    assert org.events("failed") and org.events("halted") == []


# --------------------------------------------------------------------------- waves


def test_wave_two_follows_wave_one_only_after_its_quiet_days(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in org.accounts:
        org.create_user(name, "svc", TAG)
    org.age(95)
    payments, analytics = org.accounts["payments"], org.accounts["analytics"]
    env = {"REKEY_WAVES": f"{payments};{analytics}", "REKEY_WAVE_QUIET_DAYS": "2"}
    rotated_on: dict[str, int] = {}

    def run(offset: int) -> list[Any]:
        outcomes = day(at(MONDAY_MORNING + timedelta(days=offset), monkeypatch, **env))
        for name in org.accounts:
            if len(org.keys(name, "svc")) == 2:
                rotated_on.setdefault(name, offset)
        return outcomes

    run(0)
    assert rotated_on == {"payments": 0}
    held = scan_reasons(org)
    assert "wave 2 of 3" in held["analytics"] and "on 2026-12-16 at the earliest" in held["analytics"]
    # `rekey plan` puts each held wave's rotation on the day the wave follows: the days below.
    forecast = plan(at(MONDAY_MORNING, monkeypatch, **env), 7)
    rotations = {
        row.account.name: row.entry.first.isoformat()
        for row in forecast.rows
        if row.entry.kind is ActionKind.ROTATE and row.user_name == "svc"
    }
    assert rotations == {"analytics": "2026-12-16", "sandbox": "2026-12-18"}
    assert {a: str(h.until) for a, h in forecast.holds.items()} == {
        analytics: "2026-12-16",
        org.accounts["sandbox"]: "2026-12-18",
    }
    run(1)
    assert rotated_on == {"payments": 0}
    run(2)
    assert rotated_on == {"payments": 0, "analytics": 2}
    run(3)
    assert "sandbox" not in rotated_on
    run(4)
    assert rotated_on == {"payments": 0, "analytics": 2, "sandbox": 4}


def test_a_sign_of_breakage_in_wave_one_keeps_wave_two_waiting(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in org.accounts:
        org.create_user(name, "svc", TAG)
    org.create_user("payments", "svc-broken", TAG)
    org.age(95)
    payments, analytics = org.accounts["payments"], org.accounts["analytics"]
    env = {"REKEY_WAVES": f"{payments};{analytics}", "REKEY_WAVE_QUIET_DAYS": "2", "REKEY_BREAKER_SIGNS": "0"}
    faults, _ = denied_keys("svc-broken")
    for offset in range(3):
        day(at(MONDAY_MORNING + timedelta(days=offset), monkeypatch, faults, **env))
    assert len(org.keys("payments", "svc")) == 2
    assert len(org.keys("analytics", "svc")) == 1  # wave 1 broke every day: wave 2 still waits
    faults.clear()  # the failing user stays; its failures stop
    for offset in range(3, 6):
        day(at(MONDAY_MORNING + timedelta(days=offset), monkeypatch, faults, **env))
    assert len(org.keys("analytics", "svc")) == 2  # two quiet days after the last breakage


def scan_reasons(org: Org) -> dict[str, str]:
    """Each account's held reason, as a dry-run sweep's results say (by account name)."""
    rt = Runtime.build(Settings.from_env())
    rt.now = lambda: MONDAY_MORNING
    result = sweep(rt, "look", dry_run=True)
    names = {v: k for k, v in org.accounts.items()}
    reasons: dict[str, str] = {}
    for account in result.accounts:
        reasons[names.get(account.account_id, account.account_id)] = account.held or ""
    return reasons


# --------------------------------------------------------------------------- bounded blast


def test_at_most_n_users_of_an_account_are_worked_on_at_once(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    users = [f"svc-{n:02d}" for n in range(12)]
    for user in users:
        org.create_user("payments", user, TAG)
    org.age(95)
    faults = Faults(instant_backoff=True)
    sent: list[dict[str, Any]] = []
    faults.watch("sqs", "SendMessageBatch", lambda params: sent.extend(params["Entries"]))
    sweep(at(MONDAY_MORNING, monkeypatch, faults, REKEY_ACCOUNT_CONCURRENCY="3"), "s")
    groups: dict[str, set[str]] = {}
    for entry in sent:
        groups.setdefault(entry["MessageGroupId"], set()).add(
            WorkItem.model_validate_json(entry["MessageBody"]).user_name
        )
    # SQS hands out one message of a FIFO group at a time: three groups, three users at once.
    assert len(groups) == 3 and sorted(u for g in groups.values() for u in g) == users
    assert all(g.startswith(org.accounts["payments"] + "/") for g in groups)


def test_a_failing_user_holds_back_only_itself_not_the_others_of_its_group(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [f"svc-{n:02d}" for n in range(6)]
    for user in users:
        org.create_user("payments", user, TAG)
    org.age(95)
    faults, _ = denied_keys("svc-00")
    rt = at(MONDAY_MORNING, monkeypatch, faults, REKEY_ACCOUNT_CONCURRENCY="1", REKEY_BREAKER_SIGNS="0")
    outcomes = day(rt)
    assert sorted(o.item.user_name for o in outcomes if o.status == "done") == users[1:]
    assert len(org.keys("payments", "svc-00")) == 1


def test_a_hub_state_that_cannot_be_read_changes_no_key_and_says_so(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    before = org.create_user("payments", "svc", TAG)
    org.age(95)
    faults = Faults(instant_backoff=True)
    faults.fail("dynamodb", "BatchGetItem", code="AccessDeniedException", status=400, times=0)
    day(at(MONDAY_MORNING, monkeypatch, faults))
    assert keys_of(org, "payments", "svc") == set(before)
    # Said by the sweep (the waves cannot be moved on) and by the account's scan (nothing changes).
    said = {e["account_id"]: e["message"] for e in org.events("failed")}
    assert set(said) == {HUB, org.accounts["payments"]}
    assert all("the hub's state" in m and "dynamodb:BatchGetItem" in m for m in said.values())
    assert "no key is changed until it can" in said[org.accounts["payments"]]
