"""The whole lifecycle through the production handlers: days 0 -> 91 -> 101 -> 111."""

from __future__ import annotations

import json
import logging

import pytest
from moto.iam.models import iam_backends
from rekey_cli.cli import main

from tests.conftest import Org

TAG = {"rekey:rotate": "true"}


def run_day(org: Org, days: int) -> None:
    org.age(days)
    assert main(["-vv", "run", "--json"]) == 0


def secret(org: Org, account: str, user: str) -> dict[str, str]:
    sm = org.client("secretsmanager", account)
    return json.loads(sm.get_secret_value(SecretId=f"rekey/{user}", VersionStage="AWSCURRENT")["SecretString"])


def test_lifecycle_across_the_organization(org: Org, capsys: pytest.CaptureFixture[str]) -> None:
    old = {a: org.create_user(a, "svc-app", {**TAG, "rekey:owner": f"team-{a}"})[0] for a in org.accounts}
    (human_key,) = org.create_user("payments", "alice")  # untagged human
    (optout_key,) = org.create_user("sandbox", "svc-legacy", {"rekey:rotate": "false"})

    # day 0: nothing is due; the day's digest says every account was swept, nothing to do
    run_day(org, 0)
    (digest,) = org.notifications()
    assert digest["event"] == "digest" and digest["severity"] == "info"
    assert digest["digest"]["accounts_scanned"] == digest["digest"]["accounts_listed"] == 3
    assert digest["digest"]["needs_human_total"] == 0 and digest["digest"]["totals"]["users_in_scope"] == 3
    org.received.clear()

    # day 91: rotated everywhere; the old key stays active, the new one is the secret's current
    run_day(org, 91)
    new = {}
    for account, old_key in old.items():
        keys = org.keys(account, "svc-app")
        assert keys[old_key] == "Active" and len(keys) == 2
        (new[account],) = set(keys) - {old_key}
        assert secret(org, account, "svc-app")["AccessKey"] == new[account]
    rotated = org.events("rotated")
    assert sorted(e["account_id"] for e in rotated) == sorted(org.accounts.values())
    (digest,) = org.events("digest")  # published after the drain: it counts the rotations
    assert digest["digest"]["totals"]["rotated"] == 3
    assert {e["owner"] for e in rotated} == {f"team-{a}" for a in org.accounts}

    # the payments consumer keeps using its old key after rotation
    payments = org.accounts["payments"]
    org.emulator.use_key(payments, old["payments"], service="s3", region="eu-west-1")

    # day 101: old keys deactivated; payments' in-use warning says where it was used
    run_day(org, 10)
    for account, old_key in old.items():
        assert org.keys(account, "svc-app") == {old_key: "Inactive", new[account]: "Active"}
    assert len(org.events("deactivated")) == 3
    (warning,) = org.events("in-use")
    assert warning["account_id"] == payments and warning["severity"] == "warning"
    assert "s3" in warning["message"] and "eu-west-1" in warning["message"]

    # day 111: old keys deleted; the secret's current key is the only key, and it works
    run_day(org, 10)
    for account in old:
        assert org.keys(account, "svc-app") == {new[account]: "Active"}
        assert secret(org, account, "svc-app")["AccessKey"] == new[account]
    assert len(org.events("deleted")) == 3

    # untagged and opted-out users were never touched
    assert org.keys("payments", "alice") == {human_key: "Active"}
    assert org.keys("sandbox", "svc-legacy") == {optout_key: "Active"}
    assert not [n for n in org.notifications() if n.get("user_name") in ("alice", "svc-legacy")]

    # every notification is versioned and carries its filterable fields
    for n in org.notifications():
        assert n["schema_version"] == 1 and n["account_id"] and n["event"] and n["severity"]


def test_notifications_carry_filterable_message_attributes(org: Org) -> None:
    sqs = org.emulator.client("sqs")
    url = sqs.create_queue(QueueName="payments-errors-only")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    payments = org.accounts["payments"]
    org.emulator.client("sns").subscribe(
        TopicArn=org.hub.topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"account_id": [payments], "event": ["blocked"]}),
        },
    )
    for account in org.accounts:
        org.create_user(account, "two-keys", TAG, keys=2)
        org.create_user(account, "svc", TAG)
    run_day(org, 95)
    received = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert [(r["account_id"], r["event"], r["user_name"]) for r in received] == [(payments, "blocked", "two-keys")]


def test_no_secret_access_key_appears_in_any_output(
    org: Org, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # rekey's own logs at their most verbose (botocore's DEBUG wire logs are not rekey's to
    # enable: they print request and response bodies, so the CLI never turns them on).
    caplog.set_level(logging.DEBUG, logger="rekey")
    caplog.set_level(logging.DEBUG, logger="aws_lambda_powertools")
    for account in org.accounts:
        org.create_user(account, "svc", TAG)
        org.create_user(account, "svc,with+odd=chars.@_-", TAG)
    for days in (91, 10, 10, 80):
        run_day(org, days)
    assert main(["-vv", "sweep", "--dry-run", "--json"]) == 0

    secrets = {
        key.secret_access_key
        for account in org.accounts.values()
        for key in iam_backends[account]["global"].access_keys.values()
    }
    assert len(secrets) >= 12  # original keys plus two rotations per user: the check has material
    captured = capfd.readouterr()
    haystacks = {
        "stdout": captured.out,
        "stderr": captured.err,
        "logs": caplog.text,
        "notifications": json.dumps(org.notifications()),
    }
    assert len(org.notifications()) > 20
    for where, text in haystacks.items():
        leaked = sum(1 for s in secrets if s in text)  # a count: the failure must not print them
        assert leaked == 0, f"{leaked} secret access key(s) appeared in {where}"
