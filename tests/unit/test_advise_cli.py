"""`rekey advise` through the CLI's main on tests/fakes.py's ports: text, --json, --html, its
usage errors in one line, and that it only reads."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rekey_cli import cli
from rekey_dev import trail_events as te

from rekey.domain.advice import Activity
from rekey.use_cases.advise import ANALYZER_NOT_READ
from tests.fakes import ACCOUNT, NOW, FakePorts

TAG = {"rekey:rotate": "true"}
READS = {"caller_arn", "users_with_tag", "access_keys", "last_use"}


class History:
    """The event history as the advisor's port sees it, with the records of a few keys."""

    name = "cloudtrail:LookupEvents"

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.asked: list[tuple[str, list[str], list[str]]] = []

    def events(self, account_id: str, key_ids: Any, regions: Any, since: Any, until: Any) -> Activity:
        key_ids, regions = list(key_ids), list(regions or [])
        self.asked.append((account_id, key_ids, regions))
        found = Activity({k: [] for k in key_ids}, calls=len(key_ids) * len(regions))
        for r in self.records:
            if r["userIdentity"]["accessKeyId"] in found.records:
                found.records[r["userIdentity"]["accessKeyId"]].append(r)
        return found


@pytest.fixture
def ports() -> FakePorts:
    ports = FakePorts()
    (ci,) = ports.iam.add_user("ci", TAG, key_ages=(60,))
    (fn,) = ports.iam.add_user("orders-fn", TAG, key_ages=(60,))
    ports.iam.add_user("old", TAG, key_ages=(200,))
    ports.iam.add_user("untagged-bob", {}, key_ages=(10,))
    ports.iam.use("orders-fn", fn, NOW - timedelta(hours=1), service="sqs")
    records = te.github_workflow_runs(ACCOUNT, "ci", ci, NOW - timedelta(hours=2), runs=3)
    records += te.lambda_calls(ACCOUNT, "orders-fn", fn, NOW - timedelta(hours=1), calls=4)
    ports.activity = [History(records)]
    return ports


def rekey(capsys: pytest.CaptureFixture[str], ports: FakePorts, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["advise", *argv], operators=ports)
    out, err = capsys.readouterr()
    return code, out, err


def test_advise_prints_each_keys_recommendation_with_its_evidence(ports: FakePorts, capsys: Any) -> None:
    code, out, err = rekey(capsys, ports)
    assert (code, err) == (0, "")
    assert "3 active key(s) of tagged users in 1 account(s)" in out
    assert "2 key(s) could be replaced by roles: 1 github-oidc, 1 role-on-compute; 1 unused could be deleted" in out
    ci = next(line for line in out.splitlines() if line.strip().startswith("ci "))
    assert "github-oidc (high)" in ci
    assert "configure-aws-credentials-for-github-actions" in out and "exec-env/AWS_Lambda_python3.11" in out
    assert "untagged-bob" not in out  # not tagged: not rekey's to advise on
    # Each account's history is asked for its keys, in the hub's region, us-east-1 and each key's last-used one.
    ((account, keys, regions),) = ports.activity[0].asked
    assert account == ACCOUNT and len(keys) == 3 and regions == ["us-east-1", "eu-west-1"]
    assert set(ports.failures.calls) <= READS, ports.failures.calls


def test_advise_json_and_html(ports: FakePorts, capsys: Any, tmp_path: Path) -> None:
    page = tmp_path / "advice.html"
    code, out, _ = rekey(capsys, ports, "--json", "--html", str(page))
    doc = json.loads(out)
    assert code == 0 and doc["counts"] == {"github-oidc": 1, "role-on-compute": 1, "delete": 1}
    fn = next(k for k in doc["keys"] if k["user_name"] == "orders-fn")
    assert (
        fn["use"]["events"] == 4
        and fn["last_used_service"] == "sqs"
        and fn["sources"] == ["cloudtrail:LookupEvents", ANALYZER_NOT_READ]
    )
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "<script" not in html and "@media print" in html
    assert "github-oidc" in html and "<thead>" in html


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sources", "lake"], "--sources takes history and/or bucket, not lake"),
        (["--sources", "bucket"], "--sources bucket needs --trail-bucket BUCKET"),
        (["--aws-ranges", "/nonexistent/ip-ranges.json"], "cannot read /nonexistent/ip-ranges.json"),
    ],
)
def test_advise_usage_errors_are_one_line_before_anything_is_read(
    ports: FakePorts, capsys: Any, argv: list[str], message: str
) -> None:
    code, out, err = rekey(capsys, ports, *argv)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1
    assert ports.failures.calls == [] and ports.activity[0].asked == []


def test_a_ranges_file_that_is_not_one_is_said(ports: FakePorts, capsys: Any, tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"hooks": ["192.0.2.0/24"]}))
    code, _, err = rekey(capsys, ports, "--github-meta", str(meta))
    assert code == 2 and "no `actions` list" in err
    meta.write_text(json.dumps({"actions": ["198.51.100.0/24"]}))
    code, out, _ = rekey(capsys, ports, "--github-meta", str(meta))
    assert code == 0 and str(meta) in out  # the ranges' source is said with the advice


def test_a_failing_account_fails_the_command_after_printing(ports: FakePorts, capsys: Any) -> None:
    from rekey.domain import errors

    ports.failures.fail("users_with_tag", errors.AccessDenied("sts:AssumeRole: AccessDenied"))
    code, out, err = rekey(capsys, ports)
    assert code == 1 and "FAILED access-denied" in out and "advise: not every account could be read" in err


def test_advise_help_says_what_it_reads_and_that_it_writes_nothing(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        cli.main(["advise", "--help"])
    out = capsys.readouterr().out
    assert "Read-only" in out and "LookupEvents" in out and "--trail-bucket" in out and "keep" in out
