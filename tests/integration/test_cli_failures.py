"""The CLI as people meet it: every failure is one line on stderr and a non-zero exit, never a
traceback, whether the AWS profile, the operator's credentials or the work queue is wrong, AWS
cannot be reached, or the person presses Ctrl-C; long commands show progress on a terminal."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.config import Config
from rekey_cli.cli import main

import rekey.runtime
from tests.conftest import Org

CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def run_rekey(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`rekey ARGV` in a process of its own, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "rekey_cli", *argv],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line(stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.splitlines() == [expected]


def operator_profile(tmp_path: Path, script: str) -> dict[str, str]:
    """The environment of an operator whose only credentials come from the profile `ops`, whose
    credential_process is `script`."""
    process = tmp_path / "credentials.sh"
    process.write_text("#!/bin/sh\n" + script)
    process.chmod(0o755)
    config = tmp_path / "config"
    config.write_text(f"[profile ops]\ncredential_process = {process}\n")
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    return env | {
        "AWS_PROFILE": "ops",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.mark.parametrize("argv", [["sweep", "--dry-run"], ["report"], ["run"]])
def test_an_unknown_aws_profile(org: Org, tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "config").write_text("[default]\n")
    env = dict(os.environ, AWS_PROFILE="no-such-profile", AWS_CONFIG_FILE=str(tmp_path / "config"))
    done = run_rekey(*argv, env=env)
    assert done.returncode == 2
    assert_one_line(done.stderr, "rekey: no AWS profile 'no-such-profile' in the AWS config (AWS_PROFILE)")


@pytest.mark.parametrize("argv", [["report"], ["work", "--drain"]])
def test_a_failing_credential_process(org: Org, tmp_path: Path, argv: list[str]) -> None:
    env = operator_profile(tmp_path, "echo 'the SSO session has expired' >&2\necho 'run aws sso login' >&2\nexit 1\n")
    done = run_rekey(*argv, env=env)
    assert done.returncode == 2
    assert_one_line(
        done.stderr,
        "rekey: no usable AWS credentials: Error when retrieving credentials from custom-process: "
        "the SSO session has expired run aws sso login",
    )


@pytest.mark.parametrize("argv", [["report"], ["work", "--drain"], ["run"]])
def test_no_credentials_at_all(org: Org, tmp_path: Path, argv: list[str]) -> None:
    """One cause, one line, one exit code, whichever command meets it (issue 29)."""
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS} | {
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    done = run_rekey(*argv, env=env)
    assert done.returncode == 2
    assert_one_line(done.stderr, "rekey: no usable AWS credentials: Unable to locate credentials")


@pytest.mark.parametrize("argv", [["run"], ["work", "--drain"]])
def test_a_wrong_work_queue_url(org: Org, argv: list[str]) -> None:
    """The setting at fault named, with the configuration's exit code, and nothing printed as if
    the drain had run (issue 29)."""
    wrong = org.hub.work_queue_url + "-typo"
    done = run_rekey(*argv, env=dict(os.environ, REKEY_WORK_QUEUE_URL=wrong))
    assert done.returncode == 2
    assert "0 handled" not in done.stdout
    assert_one_line(
        done.stderr, f"rekey: REKEY_WORK_QUEUE_URL names no queue: {wrong} (AWS.SimpleQueueService.NonExistentQueue)"
    )


def test_an_unreachable_endpoint(org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing listens on the discard port; one attempt spares the test botocore's backoff.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    one_attempt = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1)
    monkeypatch.setattr(rekey.runtime, "CLIENT_CONFIG", rekey.runtime.CLIENT_CONFIG.merge(one_attempt))
    assert main(["work", "--drain"]) == 1
    assert_one_line(
        capsys.readouterr().err, 'rekey: cannot reach AWS: Could not connect to the endpoint URL: "http://127.0.0.1:9/"'
    )


def test_ctrl_c(org: Org, tmp_path: Path) -> None:
    started = tmp_path / "started"
    # The credential process tells its pid, then hangs: rekey waits for it when Ctrl-C comes.
    env = operator_profile(tmp_path, f"echo $$ > {started}.tmp && mv {started}.tmp {started}\nexec sleep 60\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "rekey_cli", "report"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As a terminal delivers it, even when the tests run where SIGINT is ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
        if started.exists():
            os.kill(int(started.read_text()), signal.SIGKILL)
    assert process.returncode == 130
    assert_one_line(err, "rekey: interrupted")
    assert out == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("argv", "label"), [(["sweep", "--dry-run"], "accounts scanned"), (["report"], "accounts read")]
)
def test_progress_on_a_terminal(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], label: str
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == 0
    accounts = len(org.accounts)
    steps = "".join(f"\r\x1b[K{label} {n}/{accounts}" for n in range(1, accounts + 1))
    assert terminal.getvalue() == steps + "\r\x1b[K"  # the line is erased before the output
    assert capsys.readouterr().out  # stdout carries the output, free of progress


@pytest.mark.parametrize("argv", [["sweep", "--dry-run"], ["report"], ["plan"]])
def test_no_progress_when_stderr_is_not_a_terminal(
    org: Org, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 0
    assert capsys.readouterr().err == ""
