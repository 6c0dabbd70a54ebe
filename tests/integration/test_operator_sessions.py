"""The operators' commands enter member accounts as the person who runs them: plan and report
through the reader role, rotate-now and rollback through the writer, every session named after
the caller STS reports and carrying it as SourceIdentity. The Lambdas' sessions carry none."""

from __future__ import annotations

from typing import Any

import pytest

import rekey.runtime as runtime_module
from tests.conftest import Org
from tests.operators import TAG, run_cli, run_day, runtime_from_env

READER, WRITER = "rekey-spoke-reader", "rekey-spoke"


@pytest.fixture
def assumed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str | None]]:
    """Every role assumed: (role name, session name, source identity)."""
    calls: list[tuple[str, str, str | None]] = []
    real = runtime_module.StsAdapter.assume

    def assume(self: Any, role_arn: str, *, session_name: str = "rekey", source_identity: str | None = None) -> Any:
        calls.append((role_arn.rsplit("/", 1)[1], session_name, source_identity))
        return real(self, role_arn, session_name=session_name, source_identity=source_identity)

    monkeypatch.setattr(runtime_module.StsAdapter, "assume", assume)
    return calls


def test_plan_and_report_read_as_the_person(org: Org, capsys: pytest.CaptureFixture, assumed: list) -> None:
    org.create_user("payments", "svc", TAG)
    caller = org.emulator.client("sts").get_caller_identity()["Arn"]  # the emulator's default identity
    person = caller.rsplit("/", 1)[1]
    for command in (["plan", "--days", "30"], ["report"]):
        assumed.clear()
        code, _, err = run_cli(capsys, *command)
        assert code == 0, err
        assert assumed and set(assumed) == {(READER, f"rekey-op-{person}", person)}, command


def test_rotate_now_and_rollback_write_as_the_person(org: Org, capsys: pytest.CaptureFixture, assumed: list) -> None:
    org.create_user("payments", "svc", TAG)
    person = org.emulator.client("sts").get_caller_identity()["Arn"].rsplit("/", 1)[1]
    account = org.accounts["payments"]
    code, _, err = run_cli(capsys, "rotate-now", "--account", account, "--user", "svc")
    assert code == 0, err
    assert set(assumed) == {(WRITER, f"rekey-op-{person}", person)}
    assumed.clear()
    code, _, err = run_cli(capsys, "rollback", "--account", account, "--user", "svc")
    assert code == 0, err
    assert set(assumed) == {(WRITER, f"rekey-op-{person}", person)}


def test_the_functions_scan_as_the_reader_and_work_as_the_writer_under_their_own_names(org: Org, assumed: list) -> None:
    org.create_user("payments", "svc", TAG)
    org.age(91)
    rt = runtime_from_env()
    outcomes = run_day(rt)
    assert [o.status for o in outcomes] == ["done"]
    assert set(assumed) == {(READER, "rekey-scan", None), (WRITER, "rekey-worker", None)}
