"""Nothing sensitive leaks by configuration (issue 13.5).

- At DEBUG botocore logs every request and response body: CreateAccessKey's answer holds the new
  key's secret, PutSecretValue's request the stored one. The AWS SDK's loggers stay at WARNING
  whatever the CLI's -vv or the Lambda log level says, also when the root logger is at DEBUG (as
  Lambda's runtime sets it for an application log level of DEBUG, or a wrapper's basicConfig).
- CSV exports neutralise cells a spreadsheet would run as a formula (OWASP "CSV injection").

Secrets are never printed: a leak is reported by logger name only."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rekey_cli.cli import main
from rekey_cli.sqs_source import LambdaContext, drain

from rekey.handlers import common, scan, sweep, worker
from rekey.runtime import Runtime
from tests.conftest import Org

TAG = {"rekey:rotate": "true"}
SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, self.format(record)))


@contextmanager
def every_log_record() -> Iterator[_Everything]:
    """The root logger at DEBUG with a handler that keeps every record; loggers that do not
    propagate (the CLI's, Powertools') get it too."""
    handler = _Everything()
    root = logging.getLogger()
    quiet = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    # pytest's own capture would show a leaked secret in its report: it sees nothing meanwhile.
    others, saved = list(root.handlers), root.level
    root.handlers = [handler]
    root.setLevel(logging.DEBUG)
    for logger in quiet:
        logger.addHandler(handler)
    try:
        logging.getLogger("tests.canary").debug("capturing")  # proves a DEBUG record reaches the capture
        yield handler
    finally:
        for logger in quiet:
            logger.removeHandler(handler)
        root.handlers = others
        root.setLevel(saved)


def secret_key(org: Org, account: str, user: str) -> str:
    sm = org.client("secretsmanager", account)
    value = sm.get_secret_value(SecretId=f"rekey/{user}", VersionStage="AWSCURRENT")["SecretString"]
    return str(json.loads(value)["SecretKey"])


def leaks(secret: str, records: list[tuple[str, str]], **streams: str) -> list[str]:
    """Where `secret` appears: logger names and stream names, never the text."""
    where = sorted({name for name, text in records if secret in text})
    return where + [name for name, text in streams.items() if secret in text]


def rotation_due(org: Org) -> str:
    (old_key,) = org.create_user("payments", "svc-app", TAG)
    org.age(91, ("payments",))
    return old_key


def assert_rotated(org: Org, old_key: str) -> None:
    sm = org.client("secretsmanager", org.accounts["payments"])
    value = json.loads(sm.get_secret_value(SecretId="rekey/svc-app", VersionStage="AWSCURRENT")["SecretString"])
    assert value["AccessKey"] != old_key and value["AccessKey"] in org.keys("payments", "svc-app")


# --------------------------------------------------------------------------- logs


def test_the_cli_at_debug_logs_no_secret(org: Org, capfd: pytest.CaptureFixture[str]) -> None:
    old_key = rotation_due(org)
    with every_log_record() as logs:
        assert main(["-vv", "run", "--json"]) == 0
    out, err = capfd.readouterr()
    assert_rotated(org, old_key)
    assert ("tests.canary", "DEBUG tests.canary: capturing") in logs.records
    assert "rekey_cli.cli:" in err  # -vv logged (the CLI's own handler writes to stderr)
    found = leaks(secret_key(org, "payments", "svc-app"), logs.records, stdout=out, stderr=err)
    assert not found, f"the new key's secret is in the output of {found}"
    for name in SDK_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name


def test_the_lambdas_at_debug_log_no_secret(
    org: Org, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The three functions of a rotation, with Lambda's and Powertools' log levels at DEBUG: the
    runtime's root logger at DEBUG and the functions' logger at DEBUG."""
    old_key = rotation_due(org)
    for variable in ("AWS_LAMBDA_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL", "LOG_LEVEL"):
        monkeypatch.setenv(variable, "DEBUG")
    monkeypatch.setattr(common, "_runtime", runtime)  # the functions' process-wide runtime
    saved = common.logger.log_level
    common.logger.setLevel("DEBUG")
    try:
        with every_log_record() as logs:
            sweep.handler({"source": "rekey.schedule"}, LambdaContext.new("rekey-sweep"))
            for name, module, url in [
                ("scan", scan, runtime.settings.scan_queue_url),
                ("worker", worker, runtime.settings.work_queue_url),
            ]:
                result = drain(
                    runtime.clients.hub("sqs"),
                    str(url),
                    lambda event, module=module, name=name: module.handler(event, LambdaContext.new(f"rekey-{name}")),
                )
                assert result.failed == 0, (name, result)
    finally:
        common.logger.setLevel(saved)
    out, err = capfd.readouterr()
    assert_rotated(org, old_key)
    assert ("tests.canary", "DEBUG tests.canary: capturing") in logs.records
    assert any(name == "rekey" for name, _ in logs.records)  # the functions' Powertools logger
    found = leaks(secret_key(org, "payments", "svc-app"), logs.records, stdout=out, stderr=err)
    assert not found, f"the new key's secret is in the output of {found}"


# --------------------------------------------------------------------------- CSV

# IAM user names allow = + @ - (and , .); tag values = + - @ : / and spaces.
FORMULAS = {"=1+2": "team-a", "+cmd": "=HYPERLINK", "@SUM": "-2+3", "-1+1": "@lookup"}


def test_csv_exports_neutralise_formulas(org: Org, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name, owner in FORMULAS.items():
        org.create_user("payments", name, {**TAG, "rekey:owner": owner})
    org.age(85, ("payments",))  # each key's rotation is in the plan's next 30 days
    capsys.readouterr()

    assert main(["report", "--csv", str(tmp_path / "keys.csv")]) == 0
    capsys.readouterr()
    assert main(["plan", "--days", "30", "--csv"]) == 0
    plan = capsys.readouterr().out

    for text in (plan, (tmp_path / "keys.csv").read_text()):
        rows = list(csv.DictReader(io.StringIO(text)))
        names = {row["user_name"] for row in rows}
        assert {f"'{name}" for name in FORMULAS} <= names, names
        for row in rows:
            for column, cell in row.items():
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
