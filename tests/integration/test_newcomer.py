"""What a new user tripped over, with the README only (issue 29, part 5): each friction played
as they met it, through the CLI's `main`, on the emulator."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.conftest import Org
from tests.operators import TAG, run_cli


@pytest.mark.parametrize("command", [["plan"], ["report"], ["sweep", "--dry-run"]])
def test_commands_that_write_nothing_need_neither_the_queue_nor_the_topic(
    org: Org, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    org.create_user("payments", "svc", TAG)
    org.age(91)
    for variable in ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN", "REKEY_SCAN_QUEUE_URL"):
        monkeypatch.delenv(variable, raising=False)

    code, out, err = run_cli(capsys, *command)

    assert (code, err) == (0, ""), err
    assert "svc" in out
    assert org.queue_depth(org.hub.work_queue_url) == 0 and org.events() == []


def test_the_aws_profiles_region_is_the_region(
    org: Org, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As the AWS CLI does: no AWS_REGION, AWS_DEFAULT_REGION unset, the profile names one."""
    org.create_user("payments", "svc", TAG)
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "ops")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    code, _, err = run_cli(capsys, "plan")
    assert (code, err) == (0, ""), err

    config.write_text("[profile ops]\n")  # nowhere a region: one line, the setting named
    code, _, err = run_cli(capsys, "plan")
    assert code == 2
    assert err.strip() == (
        "rekey: no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION), or a region in the AWS profile"
    )


def test_no_credentials_is_one_line_and_the_configuration_exit_code(
    org: Org, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`rekey run` on a machine with no AWS credentials at all: it said five things (one about
    `.../None`) and exited 1, where the same cause exits 2 in other commands."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    for variable in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(variable, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    for command in (["run"], ["plan"], ["work", "--drain"]):
        code, out, err = run_cli(capsys, *command)
        assert (code, out) == (2, ""), command
        assert err.splitlines() == ["rekey: no usable AWS credentials: Unable to locate credentials"], command
