"""The CLI's edge, without AWS: what ends a command becomes one line and an exit status, mapped
by exception class and AWS error code, a usage error and a Ctrl-C at start-up included; progress
shows on a terminal only; `rekey --version`."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from typing import NoReturn

import pytest
from botocore import exceptions as aws
from rekey_cli import cli
from rekey_cli.progress import Progress

from rekey.domain.entities import Account
from rekey.domain.errors import AccessDenied, ConfigurationError
from rekey.runtime import Runtime
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


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        ([], "rekey: the following arguments are required: COMMAND (see rekey --help)"),
        (
            ["plan", "--days", "x"],
            "rekey: plan: argument --days: 'x' is not a number of days from 1 to 3660 (see rekey plan --help)",
        ),
        (
            ["rotate-now", "--account", "111122223333"],
            "rekey: rotate-now: the following arguments are required: --user (see rekey rotate-now --help)",
        ),
        (
            ["rollback", "--account", "111122223333", "--user", "svc", "--until", "2026-02-30"],
            "rekey: rollback: argument --until: '2026-02-30' is not a valid date (see rekey rollback --help)",
        ),
        (["report", "--pdf", "r.pdf"], "rekey: unrecognized arguments: --pdf r.pdf (see rekey --help)"),
        (["rotate"], "rekey: argument COMMAND: invalid choice: 'rotate' (choose from "),
    ],
    ids=["no-command", "bad-value", "missing-option", "bad-date", "unknown-option", "unknown-command"],
)
def test_a_usage_error_is_one_line_and_exit_2(argv: list[str], line: str, capsys: pytest.CaptureFixture[str]) -> None:
    """argparse's own would be the usage, then the error: two lines or more."""
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith(line), err


def test_help_is_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["plan", "--help"])
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("usage: rekey plan")


def interrupt(*_args: object, **_kwargs: object) -> NoReturn:
    raise KeyboardInterrupt


def test_ctrl_c_while_the_runtime_is_built_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(Runtime, "build", classmethod(interrupt))
    assert cli.main(["report"]) == 130
    assert capsys.readouterr() == ("", "rekey: interrupted\n")


def test_ctrl_c_while_the_commands_are_registered_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_parser", interrupt)  # where the plugins (the demo) are imported
    assert cli.main(["plan"]) == 130
    assert capsys.readouterr() == ("", "rekey: interrupted\n")


# `rekey plan`, stalled inside its first import of boto3 (about half a second of imports in
# `rekey_cli.cli`, before `main` runs) until it is interrupted.
STALLED_START = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever the parent ignores

class Stall:
    def find_spec(self, name, path=None, target=None):
        if name == "boto3":
            print("importing boto3", flush=True)
            time.sleep(60)
        return None

sys.meta_path.insert(0, Stall())
from rekey_cli.entry import main
sys.exit(main(["plan"]))
"""


def test_ctrl_c_during_start_up_is_one_line_and_exit_130() -> None:
    """A Ctrl-C while the `rekey` script is still importing the CLI (a real SIGINT)."""
    child = subprocess.Popen(
        [sys.executable, "-c", STALLED_START], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "importing boto3\n"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert (child.returncode, err) == (130, "rekey: interrupted\n")


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
