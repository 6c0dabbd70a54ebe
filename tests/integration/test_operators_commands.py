"""The operators' commands on the emulator, through the CLI: plan, report, rotate-now and
rollback (asked of the hub's operator endpoint, signed with the operator's credentials), and
the classic manual event on the worker function."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from rekey.handlers import worker
from rekey.runtime import Runtime
from tests.conftest import Operator, Org
from tests.operators import (
    TAG,
    current_key,
    items_for,
    later,
    run_cli,
    run_day,
    run_json,
    runtime_from_env,
    secret_tags,
    today,
)

EXEMPT = {"rekey:exempt-until": "", "rekey:exempt-reason": "vendor migration CHG-1234"}


def exempt_until(days: int) -> dict[str, str]:
    return {**TAG, **EXEMPT, "rekey:exempt-until": (today() + timedelta(days=days)).isoformat()}


# --------------------------------------------------------------------------- plan


def test_plan_forecasts_each_key_under_the_policy_and_writes_nothing(org: Org, capsys: pytest.CaptureFixture) -> None:
    (deploy,) = org.create_user("payments", "svc-deploy", TAG)
    (vendor,) = org.create_user("analytics", "vendor", exempt_until(10))
    org.create_user("sandbox", "human", {})
    org.age(85)
    code, plan = run_json(capsys, "plan", "--days", "30")
    assert code == 0
    by_user = {}
    for a in plan["actions"]:
        by_user.setdefault(a["user_name"], []).append((a["date"], a["action"], a["key_id"]))
    day = today()
    assert by_user["svc-deploy"] == [
        (str(day + timedelta(days=5)), "rotate", deploy),
        (str(day + timedelta(days=15)), "deactivate", deploy),
        (str(day + timedelta(days=25)), "delete", deploy),
    ]
    # Exempt for 10 more days, then due at once (96 days old).
    assert by_user["vendor"][0] == (str(day + timedelta(days=11)), "rotate", vendor)
    assert "human" not in by_user
    assert plan["exempt"][0]["user_name"] == "vendor"
    # A forecast writes nothing: no key, no message, no announcement.
    assert org.keys("payments", "svc-deploy") == {deploy: "Active"}
    assert org.queue_depth(org.hub.work_queue_url) == 0
    assert org.events() == []

    code, out, _ = run_cli(capsys, "plan", "--days", "30", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == len(plan["actions"])
    assert {"date", "account_id", "user_name", "key_id", "action", "detail"} <= set(rows[0])

    code, out, _ = run_cli(capsys, "plan", "--days", "30")
    assert code == 0
    assert f"{day + timedelta(days=5)}" in out and deploy in out and "rotate" in out
    assert "exempt: " in out and "vendor migration CHG-1234" in out


def test_plan_shows_in_use_warnings_before_a_deactivation(org: Org, runtime: Runtime, capsys) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    run_day(runtime)
    org.age(5)  # old key 96 days, its replacement 5
    org.emulator.use_key(org.accounts["payments"], old, "ec2", "eu-west-1")
    _, plan = run_json(capsys, "plan", "--days", "10")
    (warn,) = [a for a in plan["actions"] if a["action"] == "warn-in-use"]
    (deactivate,) = [a for a in plan["actions"] if a["action"] == "deactivate"]
    day = today()
    # Due when the replacement is 10 days old (in 5 days); warned the 3 days before, daily.
    assert deactivate["date"] == str(day + timedelta(days=5))
    assert (warn["date"], warn["until"]) == (str(day + timedelta(days=2)), str(day + timedelta(days=4)))
    assert "ec2 in eu-west-1" in warn["detail"]


def test_plan_rejects_a_silly_horizon_in_one_line(org: Org, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_cli(capsys, "plan", "--days", "0")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "rekey: plan: argument --days: '0' is not a number of days from 1 to 3660 (see rekey plan --help)"
    ]


# --------------------------------------------------------------------------- report


def test_report_lists_every_key_in_and_out_of_scope(org: Org, capsys: pytest.CaptureFixture, tmp_path) -> None:
    (managed,) = org.create_user("payments", "svc-deploy", TAG)
    org.create_user("payments", "legacy", {})  # not tagged: from the credential report
    (vendor,) = org.create_user("analytics", "vendor", exempt_until(10))
    org.create_user("analytics", "break-glass", {"rekey:rotate": "false", "rekey:exempt-reason": "emergency access"})
    org.create_user("sandbox", "typo", {**TAG, "rekey:exempt-until": "2026-02-30"})
    org.age(10, ("payments", "sandbox"))
    org.age(95, ("analytics",))
    csv_path = tmp_path / "keys.csv"
    code, rep = run_json(capsys, "report", "--csv", str(csv_path))
    assert code == 0
    keys = {k["user_name"]: k for k in rep["keys"]}
    assert set(keys) == {"svc-deploy", "legacy", "vendor", "break-glass", "typo"}

    k = keys["svc-deploy"]
    assert (k["key_id"], k["status"], k["age_days"], k["scope"], k["policy"]) == (
        managed,
        "Active",
        10,
        "in scope",
        "90/100/110",
    )
    assert (k["next_action"], k["days_to_next_action"]) == ("rotate", 80)
    assert (k["cis_2_12"], k["securityhub_iam_3"], k["org_policy"]) == ("pass", "pass", "pass")

    legacy = keys["legacy"]
    assert (legacy["key_id"], legacy["key_slot"], legacy["scope"], legacy["age_days"]) == (None, 1, "out of scope", 10)
    assert legacy["next_action"] is None

    v = keys["vendor"]
    assert (v["key_id"], v["scope"], v["cis_2_12"], v["securityhub_iam_3"]) == (vendor, "exempt", "fail", "fail")
    assert v["exempt_until"] == str(today() + timedelta(days=10))
    assert v["exempt_reason"] == "vendor migration CHG-1234"
    assert (v["next_action"], v["days_to_next_action"]) == ("rotate", 11)  # the day it lapses
    assert keys["break-glass"]["scope"] == "out of scope" and keys["break-glass"]["cis_2_12"] == "fail"
    assert keys["break-glass"]["org_policy"] == "n/a"  # not managed by rekey
    assert keys["typo"]["scope"] == "misconfigured" and "not a valid date" in keys["typo"]["scope_reason"]

    accounts = {a["account_name"]: a for a in rep["accounts"]}
    assert accounts["analytics"]["failing"]["cis_2_12"] == 2
    assert accounts["payments"]["failing"]["cis_2_12"] == 0
    assert (accounts["payments"]["users_in_scope"], accounts["payments"]["users_out_of_scope"]) == (1, 1)
    assert rep["totals"]["failing"]["cis_2_12"] == 2
    exemptions = {e["user_name"]: e for e in rep["exemptions"]}
    assert exemptions["vendor"]["until"] == str(today() + timedelta(days=10)) and exemptions["vendor"]["active"]
    assert exemptions["break-glass"] == {
        "account_id": org.accounts["analytics"],
        "user_name": "break-glass",
        "until": None,
        "reason": "emergency access",
        "active": True,
    }
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 5 and {r["cis_2_12"] for r in rows} == {"pass", "fail"}

    code, out, _ = run_cli(capsys, "report")
    assert code == 0
    assert "2 fail CIS AWS Foundations 2.12, 2 fail Security Hub IAM.3" in out
    assert "vendor: until" in out and "vendor migration CHG-1234" in out
    assert "break-glass: no expiry" in out


# --------------------------------------------------------------------------- rotate-now


def test_rotate_now_replaces_a_fresh_key_at_once(org: Org, operator: Operator, capsys: pytest.CaptureFixture) -> None:
    (old,) = org.create_user("payments", "svc", {**TAG, "rekey:owner": "team-payments"})
    org.age(5)
    code, out, err = run_cli(capsys, "rotate-now", "--account", org.accounts["payments"], "--user", "svc")
    assert code == 0, err
    assert out.startswith(f"rotate-now {org.accounts['payments']}/svc: done")
    new = current_key(org, "payments", "svc")
    assert new != old and org.keys("payments", "svc") == {old: "Active", new: "Active"}
    (event,) = org.events("rotated")
    assert event["key_id"] == old and event["new_key_id"] == new and event["owner"] == "team-payments"
    assert "rekey rotate-now" in event["message"] and f"requested by {operator.arn}" in event["message"]
    assert event["requested_by"] == operator.arn  # the caller AWS authenticated
    # The old key now follows the normal lifecycle: deactivated once the new one is 10 days old.
    assert secret_tags(org, "payments", "rekey/svc")["rekey:replaced-key"] == old


def test_rotate_now_with_revoke_old_deactivates_the_old_key_once_stored(org: Org, operator: Operator, capsys) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    code, _, err = run_cli(capsys, "rotate-now", "--account", org.accounts["payments"], "--user", "svc", "--revoke-old")
    assert code == 0, err
    new = current_key(org, "payments", "svc")
    assert org.keys("payments", "svc") == {old: "Inactive", new: "Active"}
    assert [e["event"] for e in org.events()] == ["rotated", "deactivated"]


def test_rotate_now_refuses_a_user_with_two_active_keys(
    org: Org, operator: Operator, capsys: pytest.CaptureFixture
) -> None:
    k1, k2 = org.create_user("payments", "svc", TAG, keys=2)
    code, out, err = run_cli(capsys, "rotate-now", "--account", org.accounts["payments"], "--user", "svc")
    assert (code, err) == (1, "rekey: rotate-now: not done (see its output)\n")
    assert "rejected" in out and "both keys are active" in out and f"deactivate {k1} first" in out
    assert org.keys("payments", "svc") == {k1: "Active", k2: "Active"}
    (event,) = org.events("rejected")
    assert "refused" in event["message"]


def test_rotate_now_acts_on_an_exempt_user(org: Org, operator: Operator, capsys: pytest.CaptureFixture) -> None:
    (old,) = org.create_user("payments", "vendor", exempt_until(30))
    code, _, err = run_cli(capsys, "rotate-now", "--account", org.accounts["payments"], "--user", "vendor")
    assert code == 0, err
    assert current_key(org, "payments", "vendor") != old


@pytest.mark.parametrize(
    ("account", "user", "code", "message"),
    [
        ("999999999999", "svc", 2, "rekey: account 999999999999 is not an ACTIVE account of the organization"),
        ("12345", "svc", 2, "rekey: '12345' is not a 12-digit account id"),
        ("payments", "nobody", 2, "rekey: no IAM user 'nobody' in account {payments} (payments)"),
        (
            "payments",
            "human",
            1,
            "rekey: refused: human is not opted in (not tagged): rekey only touches users tagged rekey:rotate=true",
        ),
        ("management", "svc", 2, "rekey: account 123456789012 is excluded (REKEY_EXCLUDED_ACCOUNTS)"),
    ],
)
def test_commands_fail_in_one_clear_line(
    org: Org, operator: Operator, capsys, account: str, user: str, code: int, message: str
) -> None:
    org.create_user("payments", "svc", TAG)
    (human,) = org.create_user("payments", "human", {})
    account_id = {"payments": org.accounts["payments"], "management": "123456789012"}.get(account, account)
    for command in ("rotate-now", "rollback"):
        got, out, err = run_cli(capsys, command, "--account", account_id, "--user", user)
        assert (got, out) == (code, "")
        assert err.splitlines() == [message.format(payments=org.accounts["payments"])]
    assert org.keys("payments", "human") == {human: "Active"}


# --------------------------------------------------------------------------- the classic manual event


def invoke(rt: Runtime, event: dict) -> dict:
    return worker.process(event, rt)


@pytest.fixture
def classic(org: Org, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """The production runtime with the classic manual event switched on (REKEY_CLASSIC_EVENT)."""
    monkeypatch.setenv("REKEY_CLASSIC_EVENT", "true")
    return runtime_from_env()


def test_the_classic_manual_event_is_off_by_default(org: Org, runtime: Runtime) -> None:
    """Its only authority is lambda:InvokeFunction on the worker: nothing is done unless the hub
    asked for it."""
    (k1,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    answer = invoke(runtime, {"action": "create", "username": "svc", "account_id": org.accounts["payments"]})
    assert answer["status"] == "rejected" and "REKEY_CLASSIC_EVENT" in answer["detail"]
    assert org.keys("payments", "svc") == {k1: "Active"}
    (rejected,) = org.events()
    assert rejected["event"] == "rejected" and "REKEY_CLASSIC_EVENT" in rejected["message"]


def test_classic_manual_events_take_the_safe_paths(org: Org, classic: Runtime) -> None:
    (k1,) = org.create_user("payments", "svc", TAG)
    org.age(3)
    event = {"username": "svc", "account_id": org.accounts["payments"]}

    assert invoke(classic, {**event, "action": "create"})["status"] == "done"
    k2 = current_key(org, "payments", "svc")
    assert org.keys("payments", "svc") == {k1: "Active", k2: "Active"}
    (rotated,) = org.events("rotated")
    assert "the classic manual event" in rotated["message"]
    # A retried or repeated event does not rotate twice.
    repeat = invoke(classic, {**event, "action": "create"})
    assert repeat["status"] == "noop" and "less than an hour ago" in repeat["detail"]
    assert len(org.keys("payments", "svc")) == 2

    # Deleting an active key is refused, and announced.
    refused = invoke(classic, {**event, "action": "delete"})
    assert refused["status"] == "rejected" and "never deletes an active key" in refused["detail"]
    # Deactivating the old key before consumers had REKEY_MIN_OVERLAP_DAYS to move is refused.
    early = invoke(classic, {**event, "action": "deactivate"})
    assert early["status"] == "rejected" and "REKEY_MIN_OVERLAP_DAYS" in early["detail"]
    assert org.keys("payments", "svc") == {k1: "Active", k2: "Active"}
    assert len(org.events("rejected")) == 2

    # Past the floor: the old key, never the current one; then delete removes it.
    org.age(7)
    assert invoke(classic, {**event, "action": "deactivate"})["status"] == "done"
    assert org.keys("payments", "svc") == {k1: "Inactive", k2: "Active"}
    assert invoke(classic, {**event, "action": "delete"})["status"] == "done"
    assert org.keys("payments", "svc") == {k2: "Active"}
    # Nothing old is left: the current key is never deactivated or deleted on request.
    assert invoke(classic, {**event, "action": "deactivate"})["status"] == "noop"
    assert invoke(classic, {**event, "action": "delete"})["status"] == "noop"
    assert org.keys("payments", "svc") == {k2: "Active"}
    assert [e["event"] for e in org.events()] == ["rotated", "rejected", "rejected", "deactivated", "deleted"]


def test_the_classic_event_never_deactivates_a_key_still_in_use(org: Org, classic: Runtime) -> None:
    """The attack: `{"action": "deactivate"}` one day into the overlap, and again past the floor
    while a consumer still signs with the old key."""
    (old,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    run_day(classic)
    new = current_key(org, "payments", "svc")
    event = {"action": "deactivate", "username": "svc", "account_id": org.accounts["payments"]}
    org.age(1)
    org.emulator.use_key(org.accounts["payments"], old)
    assert invoke(classic, event)["status"] == "rejected"
    org.age(7)
    org.emulator.use_key(org.accounts["payments"], old)
    answer = invoke(classic, event)
    assert answer["status"] == "rejected" and "used after its replacement" in answer["detail"]
    assert org.keys("payments", "svc") == {old: "Active", new: "Active"}


def test_the_classic_event_leaves_exempt_and_misconfigured_users_alone(org: Org, classic: Runtime) -> None:
    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    (exempt,) = org.create_user("payments", "exempt", {**TAG, "rekey:exempt-until": until})
    (odd,) = org.create_user("payments", "odd", {**TAG, "rekey:rotate-after-days": "3"})
    for user in ("exempt", "odd"):
        answer = invoke(classic, {"action": "create", "username": user, "account_id": org.accounts["payments"]})
        assert answer["status"] == "rejected", user
    assert org.keys("payments", "exempt") == {exempt: "Active"} and org.keys("payments", "odd") == {odd: "Active"}
    assert {(e["event"], e["user_name"]) for e in org.events()} == {("rejected", "exempt"), ("misconfigured", "odd")}


def test_classic_manual_event_for_an_untagged_user_or_malformed_is_not_acted_upon(org: Org, classic: Runtime) -> None:
    (key,) = org.create_user("payments", "human", {})
    rejected = invoke(classic, {"action": "create", "username": "human", "account_id": org.accounts["payments"]})
    assert rejected["status"] == "rejected"
    malformed = invoke(classic, {"action": "explode", "username": "human", "account_id": org.accounts["payments"]})
    assert malformed["status"] == "rejected" and "action" in malformed["detail"]
    assert org.keys("payments", "human") == {key: "Active"}
    assert [e["event"] for e in org.events()] == ["rejected", "rejected"]


# --------------------------------------------------------------------------- rollback


def test_rollback_reactivates_the_deactivated_key_and_pauses_the_lifecycle(
    org: Org, runtime: Runtime, operator: Operator, capsys: pytest.CaptureFixture
) -> None:
    (k1,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    run_day(runtime)
    k2 = current_key(org, "payments", "svc")
    org.age(10)
    run_day(runtime)
    assert org.keys("payments", "svc") == {k1: "Inactive", k2: "Active"}
    org.notifications()
    org.received.clear()

    until = today() + timedelta(days=5)
    code, out, err = run_cli(
        capsys, "rollback", "--account", org.accounts["payments"], "--user", "svc", "--until", str(until)
    )
    assert code == 0, err
    assert f"reactivated {k1}" in out and f"paused until {until}" in out
    assert org.keys("payments", "svc") == {k1: "Active", k2: "Active"}
    assert current_key(org, "payments", "svc") == k2  # consumers of the secret are not moved back
    (event,) = org.events("rolled-back")
    assert (event["key_id"], event["paused_until"], event["severity"]) == (k1, str(until), "warning")
    assert event["requested_by"] == operator.arn and f"at the request of {operator.arn}" in event["message"]
    assert secret_tags(org, "payments", "rekey/svc")["rekey:paused-until"] == str(until)

    # While paused, the sweep plans nothing for the user, and a stale deactivation is a no-op.
    for days in (0, 3, 5):
        assert items_for(later(runtime, days), "svc") == []
    from rekey.messages import WorkItem
    from rekey.use_cases.work import run_work_item

    stale = WorkItem(
        account_id=org.accounts["payments"], user_name="svc", key_id=k1, action="deactivate", sweep_id="old"
    )
    assert run_work_item(runtime, stale).status == "noop"
    assert org.keys("payments", "svc")[k1] == "Active"

    # The day after the pause, the lifecycle resumes: deactivated again.
    run_day(later(runtime, 6))
    assert org.keys("payments", "svc") == {k1: "Inactive", k2: "Active"}


def test_rollback_before_deactivation_keeps_the_key_active(org: Org, runtime, operator: Operator, capsys) -> None:
    (k1,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    run_day(runtime)
    org.age(10)  # due for deactivation today
    code, out, _ = run_cli(capsys, "rollback", "--account", org.accounts["payments"], "--user", "svc")
    assert code == 0 and "still active, nothing to reactivate: the pause keeps it active" in out
    default_until = today() + timedelta(days=7)
    assert f"paused until {default_until}" in out
    run_day(runtime)
    assert org.keys("payments", "svc")[k1] == "Active"


def test_rollback_refuses_what_it_cannot_undo(org: Org, runtime: Runtime, operator: Operator, capsys) -> None:
    account = org.accounts["payments"]
    org.create_user("payments", "fresh", TAG)
    code, out, err = run_cli(capsys, "rollback", "--account", account, "--user", "fresh")
    assert (code, out) == (1, "")
    assert err.strip() == "rekey: refused: rekey has never rotated this user's key (no secret): nothing to roll back"

    (k1,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    run_day(runtime)
    org.age(10)
    run_day(runtime)
    org.age(10)
    run_day(runtime)  # deleted at 111 days
    assert k1 not in org.keys("payments", "svc")
    code, _, err = run_cli(capsys, "rollback", "--account", account, "--user", "svc")
    assert code == 1 and f"{k1}, the key rekey replaced, was already deleted and cannot be restored" in err

    yesterday, far = today() - timedelta(days=1), today() + timedelta(days=31)
    code, _, err = run_cli(capsys, "rollback", "--account", account, "--user", "svc", "--until", str(yesterday))
    assert code == 2 and err.strip() == f"rekey: --until {yesterday} is in the past (today is {today()} UTC)"
    code, _, err = run_cli(capsys, "rollback", "--account", account, "--user", "svc", "--until", str(far))
    assert code == 2 and "more than 30 days away (REKEY_MAX_PAUSE_DAYS)" in err
    code, _, err = run_cli(capsys, "rollback", "--account", account, "--user", "svc", "--until", "next week")
    assert code == 2 and len(err.splitlines()) == 1 and "'next week' is not a date YYYY-MM-DD" in err
    assert org.events("rolled-back") == []
