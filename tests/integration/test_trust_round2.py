"""The trust boundary, round 2 (issue 27): a request on the scan queue does not make an account
rekey's to enter, and the hub's topic and queues answer only to rekey's roles and the named
administrators. Each test plays an attack that worked before."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from rekey_cli.sqs_source import LambdaContext, drain
from rekey_dev import templates as t

from rekey.handlers import common, scan
from tests.conftest import Org
from tests.operators import OUT_OF_SCOPE, TAG, put_out_of_scope, runtime_from_env
from tests.policy_eval import Request, Stack, decide

EVERYTHING = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]


@pytest.mark.parametrize("where", OUT_OF_SCOPE)
def test_a_scan_request_for_an_account_outside_rekeys_scope_is_never_carried_out(
    org: Org, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Anyone who may send to the scan queue names an account: the scan checks it, before
    assuming any role there, whoever sent the request."""
    (old,) = org.create_user("payments", "svc", TAG)
    account = put_out_of_scope(org, monkeypatch, where)
    org.age(91)
    rt = runtime_from_env()
    entered: list[str] = []
    real = rt.clients.account

    def account_adapters(account_id: str, **kwargs: Any) -> Any:
        entered.append(account_id)
        return real(account_id, **kwargs)

    monkeypatch.setattr(rt.clients, "account", account_adapters)
    monkeypatch.setattr(common, "_runtime", rt)
    sqs = org.emulator.client("sqs")
    request = {"schema_version": 1, "account_id": account, "sweep_id": "forged"}
    sqs.send_message(QueueUrl=org.hub.scan_queue_url, MessageBody=json.dumps(request))

    scanned = drain(sqs, org.hub.scan_queue_url, lambda event: scan.handler(event, LambdaContext.new("scan")))

    assert (scanned.succeeded, scanned.failed) == (1, 0)  # consumed: retrying cannot help
    assert entered == []
    assert org.queue_depth(org.hub.work_queue_url) == 0
    assert org.keys("payments", "svc") == {old: "Active"}
    (rejected,) = org.events("rejected")
    assert rejected["account_id"] == account and rejected["severity"] == "error"
    assert "not entered" in rejected["message"]
    assert not org.events("rotated") and not org.events("account-unreachable")


# --------------------------------------------------------------------------- the topic and the queues
# moto stores queue and topic policies without evaluating them: the documents of hub/template.yaml,
# as samtranslator translates it, are judged by tests/policy_eval.py with the callers' identity
# policies (an ordinary hub administrator holds sqs:* and sns:* on everything).

HUB = "111122223333"
HUB_ADMIN = f"arn:aws:iam::{HUB}:role/Admin"  # powerful in the hub account, but not named
NAMED = f"arn:aws:iam::{HUB}:role/rekey-admins"
ROOT = f"arn:aws:iam::{HUB}:root"
SUBSCRIPTION_CHANGES = ("sns:Unsubscribe", "sns:SetSubscriptionAttributes", "sns:SetTopicAttributes")
CONSUMING = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue")
CONSUMERS = {"ScanQueue": "ScanRole", "WorkQueue": "WorkerRole", "DigestQueue": "DigestRole"}
DEAD_LETTERS = ("ScanDeadLetterQueue", "WorkDeadLetterQueue")


@functools.cache
def hub_stack(administrators: str) -> Stack:
    parameters = {"OrganizationId": "o-abcdefghij", **({"AdministratorArns": administrators} if administrators else {})}
    return Stack(t.translate_hub(), parameters, account=HUB)


def decision(administrators: str, principal: str, action: str, logical_id: str) -> str:
    stack = hub_stack(administrators)
    kind, targets, attribute = (
        ("AWS::SNS::TopicPolicy", "Topics", "TopicArn")
        if logical_id == "Topic"
        else ("AWS::SQS::QueuePolicy", "Queues", "Arn")
    )
    roles = {stack.resolve({"Fn::GetAtt": [r, "Arn"]}): r for r in ("ScanRole", "WorkerRole", "DigestRole")}
    identity = stack.role_statements(roles[principal]) if principal in roles else EVERYTHING
    arn = stack.resolve({"Fn::GetAtt": [logical_id, attribute]})
    policy = stack.resource_policies(kind, targets).get(logical_id)
    return decide(Request(action, arn, principal=principal), policy, identity)


def role_arn(name: str) -> str:
    return str(hub_stack("").resolve({"Fn::GetAtt": [name, "Arn"]}))


@pytest.mark.parametrize("administrators", ["", NAMED], ids=["none named", "named"])
def test_only_named_administrators_remove_or_redirect_the_topics_subscriptions(administrators: str) -> None:
    """Before: any hub principal with sns:* could unsubscribe the security team or point a
    subscription's filter away from what needs a human."""
    admin = NAMED if administrators else ROOT
    for action in SUBSCRIPTION_CHANGES:
        assert decision(administrators, HUB_ADMIN, action, "Topic") == "Deny", action
        assert decision(administrators, role_arn("WorkerRole"), action, "Topic") != "Allow", action
        assert decision(administrators, admin, action, "Topic") == "Allow", action
    assert decision(administrators, HUB_ADMIN, "sns:Subscribe", "Topic") == "Allow"  # reading stays open


@pytest.mark.parametrize("administrators", ["", NAMED], ids=["none named", "named"])
def test_only_each_queues_function_and_named_administrators_consume_it(administrators: str) -> None:
    """Before: any hub principal with sqs:* could receive and delete work items, so that a
    rotation, a deactivation or a dead-lettered failure silently never happened."""
    admin = NAMED if administrators else ROOT
    for queue, consumer in CONSUMERS.items():
        for action in CONSUMING:
            assert decision(administrators, HUB_ADMIN, action, queue) == "Deny", (queue, action)
            assert decision(administrators, admin, action, queue) == "Allow", (queue, action)
            if action in ("sqs:ReceiveMessage", "sqs:DeleteMessage"):
                assert decision(administrators, role_arn(consumer), action, queue) == "Allow", (queue, action)
        others = {"ScanRole", "WorkerRole", "DigestRole"} - {consumer}
        assert all(decision(administrators, role_arn(o), "sqs:ReceiveMessage", queue) != "Allow" for o in others)
    for queue in DEAD_LETTERS:
        assert decision(administrators, HUB_ADMIN, "sqs:ReceiveMessage", queue) == "Deny"
        assert decision(administrators, admin, "sqs:ReceiveMessage", queue) == "Allow"
