"""The operators' commands on ports, in milliseconds: `rekey plan`, `rekey report`, `rekey
rotate-now` and `rekey rollback` played through the CLI's own entry (rekey_cli.cli.main) on
tests/fakes.py. plan and report read FakePorts (rekey_cli.ports.OperatorPorts); rotate-now and
rollback go through FakeHub to the hub's side, the operator function's handler and
rekey.use_cases.operator.carry_out on FakePorts. What is asserted is what an operator notices:
what is shown (stdout), what is refused (one line on stderr, the exit status), what the topic
is told, and what changed in the account."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rekey_cli import cli, compliance
from rekey_cli.hub_endpoint import SignedEndpoint

from rekey.domain import errors
from rekey.domain.entities import Account
from rekey.domain.models import KeyStatus
from rekey.messages import OperatorCommand
from tests.fakes import ACCOUNT, HUB, OPERATOR, FakeHub, FakePorts

TAG = {"rekey:rotate": "true"}
EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ANALYTICS = "444455556666"  # listed by the organization; its reader role cannot be assumed
MALLORY = f"arn:aws:sts::{HUB}:assumed-role/developers/mallory"
KEYS = 5  # the fixture's
# What plan and report may call: reads only.
READS = {
    "caller_arn",
    "users_with_tag",
    "all_users",
    "credential_report",
    "access_keys",
    "last_use",
    "read",
    "hub_status",
}


@pytest.fixture
def ports() -> FakePorts:
    """One member account: a user due in 5 days, one whose old key is 95 days old (its
    replacement 3), a privileged one tagged in, a person nobody tagged with a 200-day key."""
    ports = FakePorts({"REKEY_OPERATORS": f"arn:aws:iam::{HUB}:role/secops=*"})
    ports.iam.add_user("svc-deploy", TAG, key_ages=(85,))
    ports.iam.add_user("svc-etl", TAG, key_ages=(95, 3))
    ports.iam.add_user("admin", TAG, key_ages=(10,), policies=(EVERYTHING,))
    ports.iam.add_user("alice", {}, key_ages=(200,))
    return ports


@pytest.fixture
def hub(ports: FakePorts) -> FakeHub:
    """The hub, asked by OPERATOR (a session of a role REKEY_OPERATORS names)."""
    return FakeHub(ports)


def rekey(capsys: pytest.CaptureFixture[str], *argv: str, **ports: Any) -> tuple[int, str, str]:
    """`rekey ARGV` with the composition root's ports replaced: exit status, stdout, stderr."""
    capsys.readouterr()
    code = cli.main(list(argv), **ports)
    out, err = capsys.readouterr()
    return code, out, err


def keys(ports: FakePorts, user: str) -> dict[str, str]:
    return ports.iam.status(user)


# --------------------------------------------------------------------------- plan


def test_plan_shows_what_happens_to_each_key_on_which_day_and_writes_nothing(
    ports: FakePorts, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy, etl_old, etl_new = (k.key_id for user in ("svc-deploy", "svc-etl") for k in ports.iam.keys[user])
    code, out, err = rekey(capsys, "plan", operators=ports)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        "plan 2026-12-01 .. 2026-12-30 (30 days): rotate at 90, deactivate at 100, delete at 110 days "
        "(in-use: enforce, warned 3 day(s) ahead)"
    )
    assert lines[1] == "  2 user(s) in scope with 3 key(s), 0 exempt, 0 misconfigured, 1 refused; 5 planned action(s)"
    rows = [line.split()[:6] for line in lines if line.startswith("  2026-")]  # date, account, user, key, action
    assert rows == [
        ["2026-12-06", ACCOUNT, "payments", "svc-deploy", deploy, "rotate"],
        ["2026-12-08", ACCOUNT, "payments", "svc-etl", etl_old, "deactivate"],
        ["2026-12-16", ACCOUNT, "payments", "svc-deploy", deploy, "deactivate"],
        ["2026-12-16", ACCOUNT, "payments", "svc-etl", etl_old, "delete"],
        ["2026-12-26", ACCOUNT, "payments", "svc-deploy", deploy, "delete"],
    ]
    # Each active key's first day failing the 90-day controls if the plan holds.
    assert f"    {ACCOUNT} payments    svc-etl              {etl_old}   FAILS from 2026-12-01 until 2026-12-08" in lines
    # The forecast looks past the plan's 30 days; what fails after them is said so, and counted apart.
    assert "2 of 3 active key(s) would fail by 2026-12-30 (1 more after it)" in out
    assert [line for line in lines if "after this plan's last day" in line] == [
        f"    {ACCOUNT} payments    svc-etl              {etl_new}   FAILS from 2027-02-26 until 2027-03-08 "
        "(after this plan's last day, 2026-12-30)"
    ]
    assert any(line.startswith(f"  refused (never touched): {ACCOUNT} admin: it is privileged") for line in lines)
    assert "alice" not in out  # nobody tagged her: the plan is about rekey's users
    # Read as the operator STS names, and nothing written, announced or queued.
    assert ports.acting_for == OPERATOR
    assert set(ports.failures.calls) <= READS
    assert ports.outbox.notifications == [] and ports.outbox.items == [] and ports.iam.created == KEYS


def test_plan_as_json_lists_each_action(ports: FakePorts, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = rekey(capsys, "plan", "--days", "7", "--json", operators=ports)
    plan = json.loads(out)
    assert code == 0 and plan["days"] == 7
    assert [(a["date"], a["user_name"], a["action"]) for a in plan["actions"]] == [
        ("2026-12-06", "svc-deploy", "rotate")
    ]
    assert [r["user_name"] for r in plan["refused"]] == ["admin"]


def test_an_account_plan_cannot_read_is_shown_and_the_plan_goes_on(
    ports: FakePorts, capsys: pytest.CaptureFixture[str]
) -> None:
    ports.org.accounts.append(Account(ANALYTICS, "analytics"))
    code, out, err = rekey(capsys, "plan", operators=ports)
    assert f"  {ANALYTICS} analytics: FAILED access-denied: cannot assume a role in {ANALYTICS}" in out.splitlines()
    assert "5 planned action(s)" in out  # the other account's
    assert code == 1
    assert err.splitlines()[-1] == "rekey: plan: not everything succeeded (see its output)"


def test_an_operator_sts_cannot_name_reads_nothing(ports: FakePorts, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("plan", "report"):
        ports.failures.calls.clear()
        ports.failures.fail("caller_arn", errors.AccessDenied("sts:GetCallerIdentity: ExpiredToken"))
        code, out, err = rekey(capsys, command, operators=ports)
        assert (code, out, err) == (1, "", "rekey: access-denied: sts:GetCallerIdentity: ExpiredToken\n")
        assert ports.failures.calls == ["caller_arn"] and ports.acting_for is None


# --------------------------------------------------------------------------- report


def test_report_shows_every_key_by_control_and_who_ran_it(ports: FakePorts, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = rekey(capsys, "report", operators=ports)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"compliance report 2026-12-01 09:00 UTC, run by {OPERATOR}"
    assert "  policy in force (recipe preset): rotate at 90, deactivate at 100, delete at 110 days" in out
    assert "  5 key(s): 2 fail CIS AWS Foundations 2.12, 2 fail Security Hub IAM.3, 0 fail org policy" in lines
    failing = {line.split()[1]: line.split()[2:9] for line in lines if line.startswith(" !")}
    # The person nobody tagged is evidence too: the credential report's view, no key id.
    assert failing["alice"] == ["(key", "1)", "Active", "200", "FAIL", "FAIL", "n/a"]
    assert failing["svc-etl"][1:6] == ["Active", "95", "FAIL", "FAIL", "pass"]
    assert set(ports.failures.calls) <= READS and ports.outbox.notifications == []


def test_report_names_every_account_it_did_not_check_and_why(
    ports: FakePorts, capsys: pytest.CaptureFixture[str]
) -> None:
    ports.org.accounts += [Account(ANALYTICS, "analytics"), Account("555566667777", "sandbox")]
    ports.settings = ports.settings.model_copy(update={"excluded_accounts": frozenset({"555566667777"})})
    code, out, err = rekey(capsys, "report", "--json", operators=ports)
    rep = json.loads(out)
    assert [(n["account_id"], n["why"], n["reason"]) for n in rep["not_checked"]] == [
        ("555566667777", "excluded", "excluded by REKEY_EXCLUDED_ACCOUNTS"),
        (ANALYTICS, "unreachable", f"access-denied: cannot assume a role in {ANALYTICS}"),
    ]
    assert rep["caller_arn"] == OPERATOR
    # An account it could not read is a failure (exit 1); an excluded one is not.
    assert code == 1 and err.splitlines()[-1] == "rekey: report: not everything succeeded (see its output)"


def test_report_writes_its_files_and_says_so(
    ports: FakePorts, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    html, keys_csv = tmp_path / "r.html", tmp_path / "keys.csv"
    code, out, _ = rekey(capsys, "report", "--html", str(html), "--csv", str(keys_csv), operators=ports)
    assert code == 0
    assert out.splitlines()[-2:] == [f"HTML report written to {html}", f"CSV report written to {keys_csv}"]
    assert len(keys_csv.read_text().splitlines()) == 1 + 5 and "alice" in html.read_text()
    code, out, err = rekey(capsys, "report", "--csv", str(tmp_path / "nowhere" / "k.csv"), operators=ports)
    assert (code, out) == (2, "")
    assert err == f"rekey: cannot write {tmp_path / 'nowhere' / 'k.csv'}: No such file or directory\n"


def test_a_report_still_says_who_it_could_not_name(ports: FakePorts) -> None:
    ports.failures.fail("caller_arn", errors.AccessDenied("sts:GetCallerIdentity: AccessDenied"))
    rep = compliance.report(ports)
    assert rep.caller_arn is None and rep.caller_error == "access-denied: sts:GetCallerIdentity: AccessDenied"
    assert len(rep.keys) == 5


# --------------------------------------------------------------------------- rotate-now


def test_rotate_now_is_carried_out_by_the_hub_for_the_caller_it_authenticated(
    ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    (old,) = keys(ports, "svc-deploy")
    code, out, err = rekey(capsys, "rotate-now", "--account", ACCOUNT, "--user", "svc-deploy", hub=hub)
    assert (code, err) == (0, "")
    new = ports.secrets.secrets["rekey/svc-deploy"].current
    assert keys(ports, "svc-deploy") == {old: "Active", new: "Active"}  # consumers of the old key go on
    assert out.splitlines() == [
        f"rotate-now {ACCOUNT}/svc-deploy: done: rotate",
        f"  rotated      created {new} to replace {old}: requested by {OPERATOR}: rekey rotate-now; "
        "stored as the current version of rekey/svc-deploy",
    ]
    (rotated,) = ports.outbox.notifications
    assert (rotated.event.value, rotated.requested_by, rotated.key_id) == ("rotated", OPERATOR, old)
    # The request says what to do, never who asks: the hub took the caller from the signature.
    assert hub.requests == [OperatorCommand(command="rotate-now", account_id=ACCOUNT, user_name="svc-deploy")]
    assert ports.acting_for == OPERATOR


def test_rotate_now_revoke_old_deactivates_the_leaked_key_once_its_replacement_is_stored(
    ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    (old,) = keys(ports, "svc-deploy")
    code, out, _ = rekey(capsys, "rotate-now", "--account", ACCOUNT, "--user", "svc-deploy", "--revoke-old", hub=hub)
    assert code == 0 and out.startswith(f"rotate-now {ACCOUNT}/svc-deploy: done: rotate; deactivate")
    new = ports.secrets.secrets["rekey/svc-deploy"].current
    assert keys(ports, "svc-deploy") == {old: "Inactive", new: "Active"}
    assert [n.event.value for n in ports.outbox.notifications] == ["rotated", "deactivated"]


@pytest.mark.parametrize(
    ("user", "account", "code", "line", "announced"),
    [
        (
            "alice",
            ACCOUNT,
            1,
            "rekey: refused: alice is not opted in (not tagged): rekey only touches users tagged rekey:rotate=true",
            "rejected",
        ),
        ("admin", ACCOUNT, 1, "rekey: refused: admin is refused: it is privileged: inline policy 0 allows", "rejected"),
        ("nobody", ACCOUNT, 2, f"rekey: no IAM user 'nobody' in account {ACCOUNT} (payments)", None),
        ("svc-deploy", ANALYTICS, 2, f"rekey: account {ANALYTICS} is not an ACTIVE account of the organization", None),
        ("svc-deploy", "12345", 2, "rekey: '12345' is not a 12-digit account id", None),
    ],
    ids=["untagged", "privileged", "no-such-user", "not-in-the-organization", "not-an-account-id"],
)
def test_what_the_hub_refuses_is_one_line_and_touches_nothing(
    ports: FakePorts,
    hub: FakeHub,
    capsys: pytest.CaptureFixture[str],
    user: str,
    account: str,
    code: int,
    line: str,
    announced: str | None,
) -> None:
    for command in ("rotate-now", "rollback"):
        got, out, err = rekey(capsys, command, "--account", account, "--user", user, hub=hub)
        assert (got, out) == (code, "")
        assert len(err.splitlines()) == 1 and err.startswith(line), err
    assert ports.iam.created == KEYS and ports.secrets.secrets == {}
    # A refusal is announced, naming the caller; a typo is nobody's business.
    events = [(n.event.value, n.requested_by) for n in ports.outbox.notifications]
    assert events == ([(announced, OPERATOR)] * 2 if announced else [])
    if account == "12345":
        assert hub.requests == []  # refused here, before anything was sent


def test_a_caller_the_hub_does_not_name_is_refused_and_announced(
    ports: FakePorts, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = rekey(
        capsys, "rotate-now", "--account", ACCOUNT, "--user", "svc-deploy", hub=FakeHub(ports, MALLORY)
    )
    assert (code, out) == (1, "")
    assert err == (
        f"rekey: forbidden: {MALLORY} is not an operator of this hub (REKEY_OPERATORS names the roles that are)\n"
    )
    (rejected,) = ports.outbox.notifications
    assert (rejected.event.value, rejected.severity.value, rejected.requested_by) == ("rejected", "error", MALLORY)
    assert ports.iam.created == KEYS


def test_rotate_now_of_a_user_with_two_active_keys_is_shown_refused(
    ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = keys(ports, "svc-etl")
    code, out, err = rekey(capsys, "rotate-now", "--account", ACCOUNT, "--user", "svc-etl", "--json", hub=hub)
    answer = json.loads(out)
    assert answer["status"] == "rejected" and "both keys are active" in answer["detail"]
    assert code == 1 and err == "rekey: rotate-now: not done (see its output)\n"
    assert keys(ports, "svc-etl") == before
    assert [n.event.value for n in ports.outbox.notifications] == ["rejected"]


def test_rotate_now_key_id_revokes_a_leaked_key_during_the_overlap(
    ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two active keys (a leak found just after a rotation): naming the leaked key revokes it,
    where plain rotate-now is refused; the user keeps its other key, and a second run is a no-op."""
    old, new = keys(ports, "svc-etl")
    argv = ("rotate-now", "--account", ACCOUNT, "--user", "svc-etl", "--key-id", new)
    code, out, err = rekey(capsys, *argv, hub=hub)
    assert err == "" and code == 0, err
    assert out.startswith(f"rotate-now {ACCOUNT}/svc-etl: done: deactivate")
    assert keys(ports, "svc-etl") == {old: "Active", new: "Inactive"}
    (revoked,) = ports.outbox.notifications
    assert revoked.event.value == "deactivated" and "revoked on request as leaked" in revoked.message
    assert hub.requests[-1].key_id == new
    code, out, _ = rekey(capsys, *argv, hub=hub)
    assert (
        code == 1
        and f"noop: {new} is inactive already" in out
        and keys(ports, "svc-etl") == {old: "Active", new: "Inactive"}
    )


def test_a_failure_in_the_hub_is_one_line_and_announced_there(
    ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    ports.failures.fail("create_key", errors.Throttled("iam:CreateAccessKey: Throttling"))
    code, out, err = rekey(capsys, "rotate-now", "--account", ACCOUNT, "--user", "svc-deploy", hub=hub)
    assert (code, out, err) == (1, "", "rekey: throttled: iam:CreateAccessKey: Throttling\n")
    (failed,) = ports.outbox.notifications
    assert failed.event.value == "failed" and failed.requested_by == OPERATOR


def test_without_an_operator_url_the_setting_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REKEY_OPERATOR_URL", raising=False)
    code, out, err = rekey(capsys, "rotate-now", "--account", ACCOUNT, "--user", "svc-deploy")
    assert (code, out) == (2, "")
    assert err.startswith("rekey: REKEY_OPERATOR_URL is not set: rotate-now and rollback are carried out by the hub")
    request = OperatorCommand(command="rotate-now", account_id=ACCOUNT, user_name="svc")
    with pytest.raises(errors.ConfigurationError, match="is not an https:// URL"):
        SignedEndpoint({"REKEY_OPERATOR_URL": "lambda-url.example"}).post(request)


# --------------------------------------------------------------------------- rollback


def rotated_and_deactivated(ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """svc-deploy rotated by an operator, then its old key deactivated by the lifecycle."""
    (old,) = keys(ports, "svc-deploy")
    assert rekey(capsys, "rotate-now", "--account", ACCOUNT, "--user", "svc-deploy", hub=hub)[0] == 0
    ports.iam.set_status("svc-deploy", old, KeyStatus.INACTIVE)
    ports.outbox.notifications.clear()
    return old, str(ports.secrets.secrets["rekey/svc-deploy"].current)


def test_rollback_reactivates_the_replaced_key_and_pauses_the_user(
    ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = rotated_and_deactivated(ports, hub, capsys)
    code, out, err = rekey(capsys, "rollback", "--account", ACCOUNT, "--user", "svc-deploy", hub=hub)
    assert (code, err) == (0, "")
    assert out == (
        f"rollback {ACCOUNT}/svc-deploy: reactivated {old}, which rekey had deactivated; the lifecycle of "
        f"svc-deploy is paused until 2026-12-08 (inclusive), at the request of {OPERATOR}; "
        "rekey/svc-deploy still holds the new key as current\n"
    )
    assert keys(ports, "svc-deploy") == {old: "Active", new: "Active"}
    secret = ports.secrets.secrets["rekey/svc-deploy"]
    assert (secret.current, secret.paused_until) == (new, date(2026, 12, 8))
    (rolled_back,) = ports.outbox.notifications
    assert (rolled_back.event.value, rolled_back.requested_by, rolled_back.paused_until) == (
        "rolled-back",
        OPERATOR,
        date(2026, 12, 8),
    )


def test_a_pause_is_bounded_and_a_wrong_date_is_one_line(
    ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = rotated_and_deactivated(ports, hub, capsys)
    asked = len(hub.requests)
    user = ["rollback", "--account", ACCOUNT, "--user", "svc-deploy"]
    code, out, err = rekey(capsys, *user, "--until", "2027-01-01", hub=hub)
    assert (code, out) == (2, "")
    assert err == (
        "rekey: --until 2027-01-01 is more than 30 days away (REKEY_MAX_PAUSE_DAYS); "
        "an old key must not stay active indefinitely\n"
    )
    code, out, err = rekey(capsys, *user, "--until", "next week", hub=hub)
    assert (code, out) == (2, "")
    assert err == (
        "rekey: rollback: argument --until: 'next week' is not a date YYYY-MM-DD (see rekey rollback --help)\n"
    )
    assert len(hub.requests) == asked + 1  # the hub judged the first; the second never left
    assert ports.iam.status("svc-deploy")[old] == "Inactive" and ports.outbox.notifications == []
    assert ports.secrets.secrets["rekey/svc-deploy"].paused_until is None


def test_rollback_never_reactivates_a_revoked_key(
    ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    (old,) = keys(ports, "svc-deploy")
    rekey(capsys, "rotate-now", "--account", ACCOUNT, "--user", "svc-deploy", "--revoke-old", hub=hub)
    code, out, err = rekey(capsys, "rollback", "--account", ACCOUNT, "--user", "svc-deploy", hub=hub)
    assert (code, out) == (1, "")
    assert err.startswith("rekey: refused: ") and "revoked by `rekey rotate-now --revoke-old`" in err
    assert keys(ports, "svc-deploy")[old] == "Inactive"
    assert ports.outbox.events("rejected")[-1].requested_by == OPERATOR


class BrokenTopic:
    def publish(self, notification: Any) -> None:
        raise errors.Unavailable("sns:Publish: InternalError")


def test_a_rollback_the_hub_could_not_announce_is_done_and_said_so(
    ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, _ = rotated_and_deactivated(ports, hub, capsys)
    monkeypatch.setattr(ports, "notifier", BrokenTopic)
    code, out, err = rekey(capsys, "rollback", "--account", ACCOUNT, "--user", "svc-deploy", hub=hub)
    assert out.startswith(f"rollback {ACCOUNT}/svc-deploy: reactivated {old}")
    assert code == 1
    # (The line before it is the hub's own log, in this process here.)
    assert err.splitlines()[-1] == (
        "rekey: unavailable: rolled back, but the hub could not announce it: unavailable: sns:Publish: InternalError"
    )
    assert keys(ports, "svc-deploy")[old] == "Active"


def test_resume_clears_the_halt_and_says_who_and_what_had_halted_it(
    ports: FakePorts, hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from rekey.domain.rollout import Halt

    code, out, _ = rekey(capsys, "resume", hub=hub)
    assert (code, out) == (0, "rekey was not halted: nothing to resume\n")
    ports.state.halted = Halt(
        datetime(2026, 12, 1, 8, 0, tzinfo=UTC), (f"{ACCOUNT}/svc-etl: rotate failed: access-denied",)
    )
    code, out, err = rekey(capsys, "resume", hub=hub)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "resumed: key changes were halted since 2026-12-01T08:00:00+00:00 for:",
        f"  {ACCOUNT}/svc-etl: rotate failed: access-denied",
    ]
    assert ports.state.halted is None
    (resumed,) = ports.outbox.events("resumed")
    assert resumed.requested_by == OPERATOR and "rotate failed: access-denied" in resumed.message
    (finding,) = ports.hub_finding_list.by_id.values()
    assert finding["RecordState"] == "ARCHIVED"


def test_only_an_operator_of_every_account_resumes(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from rekey.domain.rollout import Halt

    ports = FakePorts({"REKEY_OPERATORS": f"arn:aws:iam::{HUB}:role/secops={ACCOUNT}"})
    ports.state.halted = Halt(datetime(2026, 12, 1, 8, 0, tzinfo=UTC), ("x",))
    code, out, err = rekey(capsys, "resume", hub=FakeHub(ports))
    assert (code, out) == (1, "")
    assert "may not resume rekey: that is for operators of every account" in err
    assert ports.state.halted is not None
