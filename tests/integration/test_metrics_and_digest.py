"""Running rekey as a production service on the emulator: the functions' EMF metrics, items
announced as dead-lettered on their last attempt, and the daily digest — through the Lambda
handlers (digest queue, scheduled digest function) and through the CLI."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any
from unittest.mock import patch

import pytest
from rekey_cli.cli import main
from rekey_cli.sqs_source import LambdaContext, drain
from rekey_dev import emulator as em
from rekey_dev.authz import enforced

from rekey.domain.errors import AccessDenied
from rekey.handlers import common, digest, scan, sweep, worker
from rekey.runtime import Runtime
from rekey.settings import Settings
from tests.conftest import Org
from tests.faults import Faults
from tests.integration.test_permissions import Deployed, deployed  # noqa: F401 - the fixture

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # moto skips alarms, subscriptions
TAG = {"rekey:rotate": "true"}


def emf_records(out: str) -> list[dict[str, Any]]:
    """The Embedded Metric Format records among a function's output lines."""
    records = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            records.append(json.loads(line))
    return records


def metric_sums(records: list[dict[str, Any]]) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    for record in records:
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                sums[metric["Name"]] += sum(record[metric["Name"]])
    return dict(sums)


def lambda_day(rt: Runtime, org: Org, *, retry_failed_now: bool = False) -> None:
    """What the Lambdas do in a day: the schedule fires the sweep, SQS feeds scan and worker."""
    with patch.object(common, "_runtime", rt):  # the functions' process-wide runtime
        sweep.handler({}, LambdaContext.new("rekey-sweep"))
        sqs = org.emulator.client("sqs")
        drain(
            sqs,
            org.hub.scan_queue_url,
            lambda e: scan.handler(e, LambdaContext.new("rekey-scan")),
            retry_failed_now=retry_failed_now,
        )
        drain(sqs, org.hub.work_queue_url, lambda e: worker.handler(e, LambdaContext.new("rekey-worker")))


def unreachable(rt: Runtime, account_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = rt.clients.account

    def account(wanted: str, **kwargs: Any) -> Any:
        if wanted == account_id:
            raise AccessDenied("sts:AssumeRole: AccessDenied (the role does not trust the hub)")
        return real(wanted, **kwargs)

    monkeypatch.setattr(rt.clients, "account", account)


def a_troubled_org(org: Org) -> None:
    org.create_user("payments", "svc-payments", TAG)
    org.create_user("analytics", "deploy-bot", TAG, keys=2)  # two active keys: blocked when due
    org.create_user("analytics", "bad-tags", {**TAG, "rekey:rotate-after-days": "90d"})  # misconfigured
    org.age(91)


# --------------------------------------------------------------------------- metrics


def test_the_functions_publish_their_counts_as_emf_with_the_service_dimension_only(
    org: Org, runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    a_troubled_org(org)
    capsys.readouterr()
    lambda_day(runtime, org)
    records = emf_records(capsys.readouterr().out)

    assert records and all(d["Namespace"] == "rekey" for r in records for d in r["_aws"]["CloudWatchMetrics"])
    assert {tuple(map(tuple, d["Dimensions"])) for r in records for d in r["_aws"]["CloudWatchMetrics"]} == {
        (("service",),)
    }
    assert {r["service"] for r in records} == {"rekey"}
    sums = metric_sums(records)
    assert sums["AccountsListed"] == 3 and sums["AccountsScanned"] == 3 and sums["AccountsUnreachable"] == 0
    assert sums["UsersInScope"] == 2  # svc-payments, deploy-bot; bad-tags is misconfigured
    assert sums["WorkItemsQueued"] == 1 and sums["KeysRotated"] == 1
    assert sums["Blocked"] == 1 and sums["Misconfigured"] == 1
    assert sums["WorkItemsFailed"] == 0 and sums["WorkItemsDeadLettered"] == 0
    (duration,) = [r["SweepDuration"] for r in records if "SweepDuration" in r][-1:]
    assert 0 <= max(duration) < 600
    units = {m["Name"]: m["Unit"] for r in records for d in r["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert units["SweepDuration"] == "Seconds" and units["KeysRotated"] == "Count"
    # Each scan's record names its account as metadata (searchable), never as a dimension.
    scans = [r for r in records if "AccountsScanned" in r]
    assert sorted(a for r in scans for a in r["account_ids"]) == sorted(org.accounts.values())
    emitted = "\n".join(json.dumps(r) for r in records)
    for user in ("svc-payments", "deploy-bot", "bad-tags"):
        assert user not in emitted


def test_an_item_failing_its_last_attempt_is_announced_dead_lettered_and_counted(
    org: Org, faulty_runtime: Runtime, faults: Faults, capsys: pytest.CaptureFixture[str]
) -> None:
    org.create_user("payments", "svc", TAG)
    org.age(91)
    from rekey.use_cases.sweep import new_sweep_id
    from rekey.use_cases.sweep import sweep as sweep_in_process

    sweep_in_process(faulty_runtime, new_sweep_id(faulty_runtime.now()))
    faults.fail("iam", "GetUser", code="ServiceFailure", status=500, times=0)
    capsys.readouterr()
    with patch.object(common, "_runtime", faulty_runtime):  # the worker Lambda's runtime
        result = drain(
            faulty_runtime.clients.hub("sqs"),
            faulty_runtime.settings.work_queue_url,
            lambda e: worker.handler(e, LambdaContext.new("rekey-worker")),
            retry_failed_now=True,
        )

    assert result.failed == 3  # the queue's maxReceiveCount (3, from hub/template.yaml)
    failures = [(e["event"], e["message"].split(";")[0]) for e in org.events() if e["severity"] == "error"]
    assert failures == [
        ("failed", "rotate failed (attempt 1), will be retried: unavailable: iam:GetUser: ServiceFailure"),
        ("failed", "rotate failed (attempt 2), will be retried: unavailable: iam:GetUser: ServiceFailure"),
        ("dead-lettered", "rotate failed on its last attempt (3 of 3)"),
    ]
    assert org.queue_depth(org.hub.work_dlq_url) == 1
    sums = metric_sums(emf_records(capsys.readouterr().out))
    assert sums["WorkItemsFailed"] == 3 and sums["WorkItemsDeadLettered"] == 1
    assert faults.count("sqs", "GetQueueAttributes") == 2  # maxReceiveCount read once (and drain's own)


# --------------------------------------------------------------------------- the digest, as deployed


@pytest.fixture
def digest_queue(org: Org, monkeypatch: pytest.MonkeyPatch) -> str:
    url = em.create_digest_queue(org.emulator, org.hub.topic_arn)
    monkeypatch.setenv("REKEY_DIGEST_QUEUE_URL", url)
    return url


def hub_runtime() -> Runtime:
    rt = Runtime.build(Settings.from_env())
    rt.sleep = lambda _seconds: None
    return rt


def test_the_scheduled_digest_summarises_the_day_in_one_message(
    org: Org, digest_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_troubled_org(org)
    rt = hub_runtime()
    unreachable(rt, org.accounts["sandbox"], monkeypatch)
    lambda_day(rt, org, retry_failed_now=True)  # sandbox fails its 3 attempts, then its DLQ
    assert org.queue_depth(digest_queue) > 0
    day_events = org.events()
    assert day_events and not [e for e in day_events if e["event"] == "digest"]  # not before its time

    result = digest.process({}, rt, wait_seconds=0)

    (message,) = org.events("digest")
    d = message["digest"]
    assert message["severity"] == "warning" and message["account_id"] == em.MANAGEMENT_ACCOUNT
    assert (d["accounts_listed"], d["accounts_scanned"], d["accounts_unreachable"]) == (3, 2, 1)
    rows = {r["account_id"]: r for r in d["accounts"]}
    assert rows[org.accounts["payments"]]["rotated"] == 1
    assert rows[org.accounts["analytics"]]["blocked"] == 1 and rows[org.accounts["analytics"]]["misconfigured"] == 1
    assert rows[org.accounts["sandbox"]]["error"].startswith("access-denied")
    needs = [(h["event"], h["account_id"], h.get("user_name")) for h in d["needs_human"]]
    assert needs == [
        ("account-unreachable", org.accounts["sandbox"], None),
        ("blocked", org.accounts["analytics"], "deploy-bot"),
        ("misconfigured", org.accounts["analytics"], "bad-tags"),
    ]
    assert result == {"records": result["records"], "accounts_scanned": 2, "needs_human": 3}
    # 1 sweep + 5 scan attempts (sandbox 3) + the day's announcements, each once.
    assert result["records"] == 1 + 5 + len(day_events)
    assert org.queue_depth(digest_queue) == 0  # read, published, deleted
    assert "Needs a human (3)" in message["message"] and "deploy-bot" in message["message"]
    assert f"{org.accounts['sandbox']} sandbox" in message["message"]  # accounts by id and name

    # The next day without a sweep says so, rather than staying silent.
    digest.process({}, rt, wait_seconds=0)
    (_, quiet) = org.events("digest")
    assert quiet["severity"] == "warning" and quiet["digest"]["needs_human"][0]["event"] == "no-sweep"


def test_a_digest_that_cannot_be_published_keeps_its_records_for_the_next_run(
    org: Org, digest_queue: str, faults: Faults
) -> None:
    org.create_user("payments", "svc", TAG)
    rt = Runtime.build(Settings.from_env(), faults.make_client)
    rt.sleep = lambda _seconds: None
    lambda_day(rt, org)
    waiting = org.queue_depth(digest_queue)
    faults.fail("sns", "Publish", code="InternalError", status=500, times=0)
    with pytest.raises(Exception, match="sns:Publish"):
        digest.process({}, rt, wait_seconds=0)
    assert org.queue_depth(digest_queue) == waiting  # nothing deleted: back after the visibility timeout
    assert org.events("digest") == []


@pytest.mark.slow
def test_the_deployed_digest_role_reads_its_queue_and_publishes_with_iam_enforced(
    deployed: Deployed,  # noqa: F811 - the fixture
) -> None:
    emulator = deployed.emulator
    iam = emulator.account_client("iam", deployed.accounts["payments"])
    iam.create_user(UserName="svc", Tags=[{"Key": "rekey:rotate", "Value": "true"}])
    iam.create_access_key(UserName="svc")
    emulator.age_keys(deployed.accounts["payments"], 91)
    with enforced(emulator):
        deployed.day()
        result = digest.process({}, deployed.runtimes["digest"], wait_seconds=0)
    assert result["accounts_scanned"] == 2 and result["needs_human"] == 0
    sqs = emulator.client("sqs")
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=deployed.events_queue_url, MaxNumberOfMessages=10)["Messages"]
    ]
    (published,) = [b for b in bodies if b["event"] == "digest"]
    assert published["digest"]["totals"]["rotated"] == 1


# --------------------------------------------------------------------------- the CLI


def test_rekey_run_publishes_one_digest_after_the_drain_and_keeps_metrics_off_stdout(
    org: Org, capsys: pytest.CaptureFixture[str]
) -> None:
    a_troubled_org(org)
    assert main(["sweep", "--dry-run"]) == 0
    assert org.events("digest") == []  # a dry run announces nothing

    capsys.readouterr()
    assert main(["-v", "run"]) == 0
    out, err = capsys.readouterr()
    assert '"_aws"' not in out and '"_aws"' not in err  # no EMF from the CLI
    assert out.rstrip().splitlines()[-1] == "published the digest: rekey digest: 3 of 3 accounts swept, 2 need a human"
    assert "work metrics: KeysRotated=1" in err and "sweep metrics: AccountsListed=3 AccountsScanned=3" in err
    (message,) = org.events("digest")
    assert message["digest"]["totals"]["rotated"] == 1  # the worker's outcome, after the drain
    assert {h["user_name"] for h in message["digest"]["needs_human"]} == {"deploy-bot", "bad-tags"}

    assert main(["--verbose", "sweep", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["dry_run"] is False  # stdout stays one JSON document
    assert len(org.events("digest")) == 2  # one per sweep
