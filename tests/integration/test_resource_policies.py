"""The hub's queue and topic policies, held to issue 13's rules. moto stores resource policies
but evaluates none of them (and its CloudFormation skips AWS::SQS::QueuePolicy and
AWS::SNS::TopicPolicy), so the documents of hub/template.yaml, as samtranslator translates it,
are evaluated by tests/policy_eval.py together with the hub roles' identity policies."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
from rekey_dev import emulator as em
from rekey_dev import templates as t

from tests.policy_eval import Request, Stack, as_list, decide

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # moto skips policies

HUB = "111122223333"
OTHER = "444455556666"  # an account of the organization that is not the hub
STRANGER = "777788889999"
OPERATOR = f"arn:aws:iam::{HUB}:role/platform-operators"
ADMIN = f"arn:aws:iam::{HUB}:role/Admin"  # the hub account's administrators: sqs:*, sns:* on everything
EVERYTHING = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
HUB_ROLES = ("SweepRole", "ScanRole", "WorkerRole", "DigestRole")
QUEUES = ("ScanQueue", "ScanDeadLetterQueue", "WorkQueue", "WorkDeadLetterQueue", "DigestQueue")

DEFAULTS: dict[str, Any] = {}
CONFIGURED = {"Operators": f"{OPERATOR}=*", "TopicSubscriberAccounts": OTHER}


@functools.cache
def translated_hub() -> dict[str, Any]:
    return t.translate_hub()


def required_parameters() -> dict[str, str]:
    """The hub's parameters without a default, as a deployer would give them."""
    values = {"OrganizationId": "o-abcdefghij"}
    required = [name for name, spec in translated_hub()["Parameters"].items() if "Default" not in spec]
    missing = set(required) - set(values)
    assert not missing, f"give the test a value for {sorted(missing)}"
    return {name: values[name] for name in required}


@functools.cache
def _stack(operators: str, subscribers: str) -> Stack:
    parameters = {k: v for k, v in (("Operators", operators), ("TopicSubscriberAccounts", subscribers)) if v}
    return Stack(translated_hub(), {**required_parameters(), **parameters}, account=HUB)


def stack(parameters: dict[str, str]) -> Stack:
    return _stack(parameters.get("Operators", ""), parameters.get("TopicSubscriberAccounts", ""))


class Hub:
    """The deployed hub's documents and names, and the decision on one request."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.stack = stack(parameters)
        self.queue_policies = self.stack.resource_policies("AWS::SQS::QueuePolicy", "Queues")
        self.topic_policies = self.stack.resource_policies("AWS::SNS::TopicPolicy", "Topics")
        self.roles = {name: self.stack.resolve({"Fn::GetAtt": [name, "Arn"]}) for name in HUB_ROLES}
        self.identity = {arn: self.stack.role_statements(name) for name, arn in self.roles.items()}
        self.identity[ADMIN] = EVERYTHING
        self.identity[OPERATOR] = EVERYTHING  # what the operators' role grants is the account's business

    def arn(self, logical_id: str) -> str:
        attribute = "Arn" if logical_id in QUEUES else "TopicArn"
        return self.stack.resolve({"Fn::GetAtt": [logical_id, attribute]})

    def decide(self, principal: str | None, action: str, logical_id: str, **kwargs: Any) -> str:
        policies = self.topic_policies if logical_id == "Topic" else self.queue_policies
        identity = self.identity.get(principal or "", EVERYTHING)  # another account's principals: all theirs
        request = Request(action, self.arn(logical_id), principal=principal, **kwargs)
        return decide(request, policies.get(logical_id), identity)

    def allowed(self, principal: str | None, action: str, logical_id: str, **kwargs: Any) -> bool:
        return self.decide(principal, action, logical_id, **kwargs) == "Allow"

    def hub_roles_allowed(self, action: str, logical_id: str) -> set[str]:
        return {name for name, arn in self.roles.items() if self.allowed(arn, action, logical_id)}


@pytest.fixture(params=[DEFAULTS, CONFIGURED], ids=["defaults", "operators-and-subscriber-account"])
def hub(request: pytest.FixtureRequest) -> Hub:
    return Hub(request.param)


# --------------------------------------------------------------------------- every queue, the topic


def test_every_queue_and_the_events_topic_have_a_policy(hub: Hub) -> None:
    resources = translated_hub()["Resources"]
    queues = {name for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    assert queues == set(QUEUES)
    assert set(hub.queue_policies) == queues
    assert set(hub.topic_policies) == {"Topic"}


@pytest.mark.parametrize("logical_id", [*QUEUES, "Topic"])
def test_nothing_without_tls(hub: Hub, logical_id: str) -> None:
    actions = (
        ["sns:Publish", "sns:Subscribe", "sns:SetTopicAttributes", "sns:GetTopicAttributes"]
        if logical_id == "Topic"
        else ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue", "sqs:GetQueueAttributes"]
    )
    for principal in [*hub.roles.values(), ADMIN]:
        for action in actions:
            assert hub.decide(principal, action, logical_id, secure_transport=False) == "Deny", (principal, action)
    # ...and the same requests over TLS are not refused by that statement (an administrator not
    # named in AdministratorArns may do anything but send, publish, consume a queue or change the
    # topic: see below and tests/integration/test_trust_round2.py).
    for action in actions:
        if action in ("sqs:GetQueueAttributes", "sns:Subscribe", "sns:GetTopicAttributes"):
            assert hub.allowed(ADMIN, action, logical_id), action


# --------------------------------------------------------------------------- who may send


def test_only_the_sweep_queues_scans(hub: Hub) -> None:
    assert hub.hub_roles_allowed("sqs:SendMessage", "ScanQueue") == {"SweepRole"}
    assert hub.decide(ADMIN, "sqs:SendMessage", "ScanQueue") == "Deny"
    assert hub.decide(f"arn:aws:iam::{OTHER}:role/Admin", "sqs:SendMessage", "ScanQueue") == "Deny"


def test_only_the_scans_queue_work(hub: Hub) -> None:
    # The worker never queues (nothing in its path calls WorkQueue.send): it may not either.
    assert hub.hub_roles_allowed("sqs:SendMessage", "WorkQueue") == {"ScanRole"}
    assert hub.decide(ADMIN, "sqs:SendMessage", "WorkQueue") == "Deny"
    assert hub.decide(f"arn:aws:iam::{OTHER}:role/rekey-hub-scan", "sqs:SendMessage", "WorkQueue") == "Deny"


def test_operators_never_queue_nor_announce(hub: Hub) -> None:
    """An operator's request goes to the operator endpoint, which authenticates its caller; a
    work item an operator queued, or an announcement it published, would be its own word."""
    for queue in ("ScanQueue", "WorkQueue", "DigestQueue"):
        assert hub.decide(OPERATOR, "sqs:SendMessage", queue) == "Deny", queue
    assert hub.decide(OPERATOR, "sns:Publish", "Topic") == "Deny"


def test_the_digest_queue_takes_the_sweep_the_scans_and_the_topic(hub: Hub) -> None:
    assert hub.hub_roles_allowed("sqs:SendMessage", "DigestQueue") == {"SweepRole", "ScanRole"}
    assert hub.decide(ADMIN, "sqs:SendMessage", "DigestQueue") == "Deny"
    topic = hub.arn("Topic")
    other_topic = topic.replace(HUB, STRANGER)
    sns = {"service": "sns.amazonaws.com"}
    assert hub.allowed(None, "sqs:SendMessage", "DigestQueue", context={"aws:SourceArn": topic}, **sns)
    assert hub.decide(None, "sqs:SendMessage", "DigestQueue", context={"aws:SourceArn": other_topic}, **sns) == "Deny"
    assert hub.decide(None, "sqs:SendMessage", "DigestQueue", **sns) == "Deny"


def test_consumers_still_consume(hub: Hub) -> None:
    """The policies deny sending only: the event source mappings (as the consuming function's
    role) and the digest still receive and delete."""
    consumers = {"ScanRole": "ScanQueue", "WorkerRole": "WorkQueue", "DigestRole": "DigestQueue"}
    for role, queue in consumers.items():
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            assert hub.allowed(hub.roles[role], action, queue), (role, action)


def test_nobody_sends_to_a_dead_letter_queue_but_sqs(hub: Hub) -> None:
    for queue in ("ScanDeadLetterQueue", "WorkDeadLetterQueue"):
        assert hub.hub_roles_allowed("sqs:SendMessage", queue) == set()


# --------------------------------------------------------------------------- the topic


def test_only_rekeys_announcers_publish(hub: Hub) -> None:
    assert hub.hub_roles_allowed("sns:Publish", "Topic") == {"SweepRole", "ScanRole", "WorkerRole", "DigestRole"}
    assert hub.decide(ADMIN, "sns:Publish", "Topic") == "Deny"
    assert hub.decide(f"arn:aws:iam::{OTHER}:role/rekey-hub-worker", "sns:Publish", "Topic") == "Deny"
    # Another service cannot be made to publish on rekey's behalf (a bucket's notifications...).
    assert hub.decide(None, "sns:Publish", "Topic", service="s3.amazonaws.com") != "Allow"


def test_subscriptions_come_from_the_hub_account_and_the_named_accounts(hub: Hub) -> None:
    named = OTHER in as_list(hub.stack.values["TopicSubscriberAccounts"])
    assert hub.allowed(ADMIN, "sns:Subscribe", "Topic")
    assert hub.allowed(f"arn:aws:iam::{OTHER}:role/security-tooling", "sns:Subscribe", "Topic") is named
    assert hub.decide(f"arn:aws:iam::{STRANGER}:role/anyone", "sns:Subscribe", "Topic") in ("Deny", "ImplicitDeny")
    # Named or not, another account may only subscribe: never publish, nor change the topic.
    for action in ("sns:Publish", "sns:SetTopicAttributes", "sns:AddPermission", "sns:DeleteTopic"):
        assert not hub.allowed(f"arn:aws:iam::{OTHER}:role/security-tooling", action, "Topic"), action


# --------------------------------------------------------------------------- parameters


def _allowed_values(name: str, values: list[str]) -> list[str]:
    """The values CloudFormation accepts for a CommaDelimitedList parameter: each must match
    the AllowedPattern whole."""
    pattern = t.load_template(t.HUB_TEMPLATE)["Parameters"][name]["AllowedPattern"]
    return [v for v in values if re.fullmatch(pattern, v)]


def test_operators_are_role_arns_with_scopes() -> None:
    pattern = t.load_template(t.HUB_TEMPLATE)["Parameters"]["Operators"]["AllowedPattern"]
    good = [
        "",
        f"{OPERATOR}=*",
        f"arn:aws-us-gov:iam::111122223333:role/path/ops={OTHER},ou-ab12-34567890;{OPERATOR}=r-ab12",
    ]
    principals = ["*", f"arn:aws:iam::{HUB}:root", HUB, f"arn:aws:iam::{HUB}:role/*", "arn:aws:iam::*:role/ops"]
    principals += [f"arn:aws:iam::{HUB}:user/alice", f"arn:aws:sts::{HUB}:assumed-role/ops/alice"]
    bad = [f"{p}=*" for p in principals] + [OPERATOR, f"{OPERATOR}=", f"{OPERATOR}=*;", f"{OPERATOR}=Account"]
    assert [v for v in good + bad if re.fullmatch(pattern, v)] == good


def test_subscriber_accounts_are_account_ids() -> None:
    assert _allowed_values("TopicSubscriberAccounts", [OTHER, "", "*", "12345", f"arn:aws:iam::{OTHER}:root"]) == [
        OTHER,
        "",
    ]


# --------------------------------------------------------------------------- deployed


def test_the_hub_deploys_with_operators_and_subscriber_accounts(emulator: em.Emulator) -> None:
    """The conditions and list functions around the policies resolve on CloudFormation (moto's
    creates the stack, skipping the policies themselves) with the optional parameters set."""
    emulator.reset()
    template = translated_hub()
    operators = [
        f"arn:aws:iam::{em.MANAGEMENT_ACCOUNT}:role/ops-a=*",
        f"arn:aws:iam::{em.MANAGEMENT_ACCOUNT}:role/ops-b=*",
    ]
    outputs = t.deploy_hub_stack(
        emulator, template, Operators=";".join(operators), TopicSubscriberAccounts=OTHER, **required_parameters()
    )
    assert outputs["TopicArn"].endswith(":rekey-events")
    emulator.reset()
