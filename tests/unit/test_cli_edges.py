"""The CLI's edge, without AWS: what ends a command becomes one line and an exit status, mapped
by exception class and AWS error code; progress shows on a terminal only; `rekey --version`."""

from __future__ import annotations

import io
import time
from importlib.metadata import version

import pytest
from botocore import exceptions as aws
from rekey_cli import cli
from rekey_cli.progress import Progress

from rekey.domain.entities import Account
from rekey.domain.errors import AccessDenied, ConfigurationError
from rekey.use_cases.sweep import each_account


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (ConfigurationError("REKEY_TOPIC_ARN is not an SNS topic ARN"), 2, "REKEY_TOPIC_ARN is not an SNS topic ARN"),
        (AccessDenied("sts:AssumeRole: AccessDenied"), 1, "access-denied: sts:AssumeRole: AccessDenied"),
        (aws.ProfileNotFound(profile="ops"), 2, "no AWS profile 'ops' in the AWS config (AWS_PROFILE)"),
        (
            aws.NoRegionError(),
            2,
            "no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION), or a region in the AWS profile",
        ),
        (aws.NoCredentialsError(), 2, "no usable AWS credentials: Unable to locate credentials"),
        (
            aws.TokenRetrievalError(provider="sso", error_msg="the SSO session has expired"),
            2,
            "no usable AWS credentials: Error when retrieving token from sso: the SSO session has expired",
        ),
        (
            aws.ClientError({"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue"}}, "ReceiveMessage"),
            1,
            "not-found: ReceiveMessage: AWS.SimpleQueueService.NonExistentQueue",
        ),
        (
            aws.ReadTimeoutError(endpoint_url="https://sqs.eu-west-1.amazonaws.com/"),
            1,
            'cannot reach AWS: Read timeout on endpoint URL: "https://sqs.eu-west-1.amazonaws.com/"',
        ),
        (ValueError("a bug"), 1, "unexpected ValueError: a bug (-vv shows where)"),
    ],
)
def test_a_failure_maps_to_an_exit_status_and_a_line(exc: Exception, code: int, line: str) -> None:
    assert cli.failure(exc) == (code, line)


def fail_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def command(*_args: object) -> int:
        raise exc

    monkeypatch.setattr(cli, "_command", command)


def test_a_multi_line_message_is_printed_as_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fail_with(monkeypatch, aws.CredentialRetrievalError(provider="custom-process", error_msg="expired\nlog in again\n"))
    assert cli.main(["report"]) == 2
    assert capsys.readouterr().err == (
        "rekey: no usable AWS credentials: Error when retrieving credentials from custom-process: "
        "expired log in again\n"
    )


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fail_with(monkeypatch, KeyboardInterrupt())
    assert cli.main(["run"]) == 130
    assert capsys.readouterr().err == "rekey: interrupted\n"


def test_ctrl_c_during_a_sweep_drops_the_accounts_not_begun() -> None:
    begun: list[str] = []

    def scan(account: Account) -> str:
        begun.append(account.account_id)
        time.sleep(0.02)
        return account.account_id

    def ctrl_c(_done: int, _total: int) -> None:  # the main thread, where Ctrl-C lands
        raise KeyboardInterrupt

    accounts = [Account(f"{n:012d}", f"a{n}") for n in range(50)]
    with pytest.raises(KeyboardInterrupt):
        each_account(accounts, scan, 2, ctrl_c)
    assert len(begun) < 10  # not the 50 a pool's plain shutdown would still have scanned


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"rekey {version(cli.DISTRIBUTION)}\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_rewrites_one_line_on_a_terminal_and_erases_it() -> None:
    terminal = Terminal()
    with Progress("accounts read", terminal) as progress:
        progress(1, 2)
        progress(2, 2)
    assert terminal.getvalue() == "\r\x1b[Kaccounts read 1/2\r\x1b[Kaccounts read 2/2\r\x1b[K"


def test_progress_writes_nothing_to_a_pipe_or_a_file() -> None:
    pipe = io.StringIO()
    with Progress("accounts read", pipe) as progress:
        progress(1, 1)
    assert pipe.getvalue() == ""
