"""Who enters member accounts, as which role, under which session name. plan and report read
through the reader as the person who runs them (sessions named after the caller STS reports);
rotate-now and rollback are the hub's: its worker role, never the operator, assumes the writer,
naming the session after the caller the hub authenticated. No session carries a SourceIdentity.
The Lambdas' sessions are named after the function."""

from __future__ import annotations

import pytest

from tests.conftest import Operator, Org
from tests.operators import HUB_WORKER, TAG, run_cli, run_day, runtime_from_env

READER, WRITER = "rekey-spoke-reader", "rekey-spoke"


def test_plan_and_report_read_as_the_person(
    org: Org, operator: Operator, capsys: pytest.CaptureFixture, assumed: list
) -> None:
    org.create_user("payments", "svc", TAG)
    for command in (["plan", "--days", "30"], ["report"]):
        assumed.clear()
        code, _, err = run_cli(capsys, *command)
        assert code == 0, err
        assert assumed and set(assumed) == {(READER, "rekey-op-alice", operator.arn)}, command


def test_rotate_now_and_rollback_are_carried_out_by_the_hub_never_by_the_operator(
    org: Org, operator: Operator, capsys: pytest.CaptureFixture, assumed: list
) -> None:
    org.create_user("payments", "svc", TAG)
    account = org.accounts["payments"]
    for command in ("rotate-now", "rollback"):
        assumed.clear()
        code, _, err = run_cli(capsys, command, "--account", account, "--user", "svc")
        assert code == 0, err
        # The hub's worker role enters as the writer, in a session named after the operator.
        assert set(assumed) == {(WRITER, "rekey-op-alice", HUB_WORKER)}, command


def test_the_functions_scan_as_the_reader_and_work_as_the_writer_under_their_own_names(org: Org, assumed: list) -> None:
    org.create_user("payments", "svc", TAG)
    org.age(91)
    rt = runtime_from_env()
    outcomes = run_day(rt)
    assert [o.status for o in outcomes] == ["done"]
    assert {(role, session) for role, session, _ in assumed} == {(READER, "rekey-scan"), (WRITER, "rekey-worker")}
