"""Production's path: schedule -> sweep Lambda -> scan queue -> scan Lambda -> work queue -> worker."""

from __future__ import annotations

from typing import Any

from rekey_cli.sqs_source import LambdaContext, drain

from rekey.handlers import common, scan, sweep, worker
from rekey.runtime import Runtime
from tests.conftest import Org

TAG = {"rekey:rotate": "true"}


def test_the_lambda_fan_out_rotates_every_account(org: Org, runtime: Runtime, monkeypatch: Any) -> None:
    monkeypatch.setattr(common, "_runtime", runtime)  # the functions' process-wide runtime
    for account in org.accounts:
        org.create_user(account, "svc", TAG)
    org.age(91)
    sqs = org.emulator.client("sqs")

    result = sweep.handler({"id": "schedule-event", "source": "aws.events"}, LambdaContext.new("sweep"))
    assert result["accounts"] == 3  # the management account is excluded
    assert org.queue_depth(org.hub.scan_queue_url) == 3

    def scan_handler(event: dict[str, Any]) -> dict[str, Any]:
        return scan.handler(event, LambdaContext.new("scan"))

    def work_handler(event: dict[str, Any]) -> dict[str, Any]:
        return worker.handler(event, LambdaContext.new("worker"))

    scanned = drain(sqs, org.hub.scan_queue_url, scan_handler)
    assert (scanned.succeeded, scanned.failed) == (3, 0)
    worked = drain(sqs, org.hub.work_queue_url, work_handler)
    assert (worked.succeeded, worked.failed) == (3, 0)
    for account in org.accounts:
        assert len(org.keys(account, "svc")) == 2
    assert len(org.events("rotated")) == 3


def test_a_failed_account_scan_is_retried_then_dead_lettered(org: Org, runtime: Runtime, monkeypatch: Any) -> None:
    org.create_user("payments", "svc", TAG)
    sandbox = org.accounts["sandbox"]
    real = runtime.clients.account

    def account(account_id: str, **kwargs: Any) -> Any:
        if account_id == sandbox:
            from rekey.domain.errors import AccessDenied

            raise AccessDenied("sts:AssumeRole: AccessDenied")
        return real(account_id, **kwargs)

    monkeypatch.setattr(runtime.clients, "account", account)
    monkeypatch.setattr(common, "_runtime", runtime)
    sweep.handler({}, LambdaContext.new("sweep"))

    def scan_handler(event: dict[str, Any]) -> dict[str, Any]:
        return scan.handler(event, LambdaContext.new("scan"))

    result = drain(org.emulator.client("sqs"), org.hub.scan_queue_url, scan_handler, retry_failed_now=True)
    assert result.succeeded == 2  # the other accounts were scanned
    dead = org.emulator.client("sqs").receive_message(QueueUrl=org.hub.scan_dlq_url)["Messages"]
    assert len(dead) == 1 and sandbox in dead[0]["Body"]
    unreachable = org.events("account-unreachable")
    assert unreachable and {e["account_id"] for e in unreachable} == {sandbox}
