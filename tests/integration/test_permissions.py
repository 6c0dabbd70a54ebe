"""Least privilege: the spoke role grants exactly what the adapters declare (PERMISSIONS next
to each adapter), scoped by tag and secret prefix; the hub roles grant what the hub needs; and
one whole key lifecycle runs through those very roles with IAM authorization enforced."""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import rekey.adapters
from rekey.handlers import scan, sweep, worker
from rekey.local import emulator as em
from rekey.local import templates as t
from rekey.local.authz import enforced
from rekey.local.sqs_source import LambdaContext, drain
from rekey.runtime import Runtime
from rekey.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # moto skips alarms

SPOKE_GROUPS = ("spoke_read", "spoke_key_write", "spoke_list", "spoke_secret")
FORBIDDEN = ("iam:Put", "iam:Attach", "iam:PassRole", "iam:*", "*")


def declared(*groups: str) -> set[str]:
    """The actions the adapters declare in `groups` of their PERMISSIONS."""
    actions: set[str] = set()
    for module in pkgutil.iter_modules(rekey.adapters.__path__):
        permissions = getattr(importlib.import_module(f"rekey.adapters.{module.name}"), "PERMISSIONS", {})
        for group in groups:
            actions.update(permissions.get(group, ()))
    return actions


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(iam: Any, role_name: str) -> list[dict[str, Any]]:
    statements = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        statements.extend(as_list((json.loads(document) if isinstance(document, str) else document)["Statement"]))
    return statements


def organization_id(org: Any) -> str:
    return org.emulator.client("organizations").describe_organization()["Organization"]["Id"]


# --------------------------------------------------------------------------- the spoke role's documents


@pytest.mark.parametrize(
    ("params", "tag_key", "prefix"),
    [({}, "rekey:rotate", "rekey/"), ({"TagKey": "team:rotate", "SecretNamePrefix": "keys/"}, "team:rotate", "keys/")],
    ids=["defaults", "custom-tag-and-prefix"],
)
def test_spoke_role_grants_exactly_the_declared_actions_scoped(
    org: Any, params: dict[str, str], tag_key: str, prefix: str
) -> None:
    account_id = org.accounts["payments"]
    t.deploy_spoke_role(
        org.emulator, account_id, hub_account_id=em.MANAGEMENT_ACCOUNT, organization_id=organization_id(org), **params
    )
    statements = role_statements(org.client("iam", account_id), "rekey-spoke")

    granted = {action for s in statements for action in as_list(s["Action"])}
    assert granted == declared(*SPOKE_GROUPS)
    assert declared("hub", "org").isdisjoint(granted)
    for action in granted:
        assert "*" not in action and not action.startswith(FORBIDDEN[:3]), action
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}  # no NotAction/NotResource

    users = f"arn:aws:iam::{account_id}:user/*"
    secrets = f"arn:aws:secretsmanager:*:{account_id}:secret:{prefix}*"
    by_action = {action: s for s in statements for action in as_list(s["Action"])}
    for action in declared("spoke_key_write"):
        assert by_action[action]["Resource"] == users
        assert by_action[action]["Condition"] == {"StringEqualsIgnoreCase": {f"iam:ResourceTag/{tag_key}": "true"}}
    for action in declared("spoke_secret"):
        assert by_action[action]["Resource"] == secrets
        assert "Condition" not in by_action[action]
    everywhere = {a for a, s in by_action.items() if s["Resource"] == "*"}
    # Only what has no narrower resource in IAM's authorization reference.
    assert everywhere == {
        "iam:GetAccountAuthorizationDetails",
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "secretsmanager:ListSecrets",
    }


def test_spoke_role_with_a_secrets_key_may_use_it_only_through_secrets_manager(org: Any) -> None:
    account_id = org.accounts["payments"]
    key_arn = f"arn:aws:kms:us-east-1:{em.MANAGEMENT_ACCOUNT}:key/0b3f1b9e-5a6f-4c1e-9a7e-1234567890ab"
    t.deploy_spoke_role(
        org.emulator,
        account_id,
        hub_account_id=em.MANAGEMENT_ACCOUNT,
        organization_id=organization_id(org),
        SecretsKmsKeyArn=key_arn,
    )
    iam = org.client("iam", account_id)
    policies = iam.list_role_policies(RoleName="rekey-spoke")["PolicyNames"]
    assert sorted(policies) == ["rekey-spoke", "rekey-spoke-secrets-kms"]
    extra = [s for s in role_statements(iam, "rekey-spoke") if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert extra == [
        {
            "Sid": "EncryptSecretsThroughSecretsManagerOnly",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": key_arn,
            "Condition": {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}},
        }
    ]


def test_spoke_role_trusts_only_the_scan_and_worker_roles_inside_the_organization(org: Any) -> None:
    account_id = org.accounts["analytics"]
    t.deploy_spoke_role(
        org.emulator,
        account_id,
        hub_account_id="210987654321",
        organization_id=organization_id(org),
        HubRoleNamePrefix="sec-rekey-",
        SpokeRoleName="key-rotator",
    )
    role = org.client("iam", account_id).get_role(RoleName="key-rotator")["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {
        "AWS": ["arn:aws:iam::210987654321:role/sec-rekey-scan", "arn:aws:iam::210987654321:role/sec-rekey-worker"]
    }
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": organization_id(org)}}


def test_operator_roles_are_trusted_only_when_named_and_only_inside_the_organization(org: Any) -> None:
    account_id = org.accounts["sandbox"]
    operators = "arn:aws:iam::210987654321:role/secops,arn:aws:iam::210987654321:role/oncall"
    t.deploy_spoke_role(
        org.emulator, account_id, hub_account_id="210987654321", organization_id=organization_id(org),
        OperatorRoleArns=operators,
    )  # fmt: skip
    role = org.client("iam", account_id).get_role(RoleName="rekey-spoke")["Role"]
    functions, people = role["AssumeRolePolicyDocument"]["Statement"]
    assert functions["Sid"] == "HubFunctionsInsideTheOrganization"
    assert people["Sid"] == "OperatorsInsideTheOrganization" and people["Action"] == "sts:AssumeRole"
    assert sorted(as_list(people["Principal"]["AWS"])) == sorted(operators.split(","))
    assert people["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": organization_id(org)}}


# --------------------------------------------------------------------------- the hub roles' documents


@functools.cache
def translated_hub() -> dict[str, Any]:
    return t.translate_hub()


HUB_ROLES = ("SweepRole", "ScanRole", "WorkerRole", "DigestRole")


def hub_role_statements(*, org_role: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Each hub role's statements: its inline policies and the policies attached to it, a
    conditional one (HasOrgRole) included when the stack's OrgRoleArn is set (`org_role`)."""
    resources = translated_hub()["Resources"]
    roles = {}
    for name in HUB_ROLES:
        documents = [p["PolicyDocument"] for p in resources[name]["Properties"]["Policies"]]
        for resource in resources.values():
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": name} in resource["Properties"]["Roles"]:
                assert resource.get("Condition") == "HasOrgRole"  # the only one
                if org_role:
                    documents.append(resource["Properties"]["PolicyDocument"])
        roles[name] = [s for d in documents for s in as_list(d["Statement"])]
    return roles


def test_hub_roles_grant_the_hub_actions_and_enter_only_spoke_roles() -> None:
    roles = hub_role_statements()
    actions = {name: {a for s in statements for a in as_list(s["Action"])} for name, statements in roles.items()}
    granted = set().union(*actions.values())
    assert declared("hub") <= granted
    assert all("*" not in action for action in granted)
    assert not any(a.startswith("iam:") or a.startswith("secretsmanager:") for a in granted)  # only via spoke
    assert declared("org") <= actions["SweepRole"]  # a hub in the management account or a delegated admin
    assert "sts:AssumeRole" not in actions["SweepRole"]  # the sweep never enters a member account
    for name in ("ScanRole", "WorkerRole"):
        (assume,) = [s for s in roles[name] if "sts:AssumeRole" in as_list(s["Action"])]
        assert assume["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${SpokeRoleName}"}
        assert "organizations:ListAccounts" not in actions[name]
    # The digest only reads its queue and publishes.
    assert actions["DigestRole"] == declared("digest") | {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"}
    (digest_queue,) = [s for s in roles["DigestRole"] if set(as_list(s["Action"])) == declared("digest")]
    assert digest_queue["Resource"] == {"Fn::GetAtt": ["DigestQueue", "Arn"]}
    for name in ("SweepRole", "ScanRole"):  # they record for the digest: send, nothing else
        (send,) = [s for s in roles[name] if s["Resource"] == {"Fn::GetAtt": ["DigestQueue", "Arn"]}]
        assert send["Action"] == "sqs:SendMessage"


def test_with_an_org_role_the_sweep_may_assume_that_role_only() -> None:
    roles = hub_role_statements(org_role=True)
    assumes = {
        name: [s for s in statements if "sts:AssumeRole" in as_list(s["Action"])] for name, statements in roles.items()
    }
    assert assumes["SweepRole"] == [
        {
            "Sid": "ListAccountsThroughTheManagementAccount",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": {"Ref": "OrgRoleArn"},
        }
    ]
    assert assumes["DigestRole"] == []
    conditions = translated_hub()["Conditions"]
    assert conditions["HasOrgRole"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrgRoleArn"}, ""]}]}


# --------------------------------------------------------------------------- enforced end to end


@dataclass
class Deployed:
    """The hub stack from hub/template.yaml and spoke roles from spoke-role.yaml, in an
    emulated organization, with one runtime per hub function acting as that function's role."""

    emulator: em.Emulator
    accounts: dict[str, str]
    outputs: dict[str, str]
    runtimes: dict[str, Runtime]
    events_queue_url: str

    def day(self) -> None:
        """What the Lambdas do in a day: the schedule fires the sweep, SQS feeds scan and worker."""
        context = LambdaContext.new
        sweep.handler({}, context("rekey-sweep"), rt=self.runtimes["sweep"])
        for name, module, queue in [("scan", scan, "ScanQueueUrl"), ("worker", worker, "WorkQueueUrl")]:
            rt = self.runtimes[name]
            result = drain(
                rt.clients.hub("sqs"),
                self.outputs[queue],
                lambda event, rt=rt, module=module, name=name: module.handler(event, context(f"rekey-{name}"), rt=rt),
            )
            assert result.failed == 0, f"{name}: {result}"

    def spoke_client(self, service: str, account: str) -> Any:
        """A client acting as the spoke role, with the worker role's credentials."""
        adapters = self.runtimes["worker"].clients.account(self.accounts[account])
        return adapters.iam._client if service == "iam" else adapters.secrets._client


def _role_credentials(emulator: em.Emulator, role_name: str) -> dict[str, str]:
    c = emulator.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{em.MANAGEMENT_ACCOUNT}:role/{role_name}", RoleSessionName="lambda"
    )["Credentials"]
    return {
        "aws_access_key_id": c["AccessKeyId"],
        "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"],
    }


def _function_runtime(emulator: em.Emulator, function: dict[str, Any]) -> Runtime:
    """The runtime a deployed function would build: its environment, its role's credentials."""
    credentials = _role_credentials(emulator, function["Role"].rsplit("/", 1)[1])

    def make_client(service: str, **kwargs: Any) -> Any:
        # Clients for member accounts or a new key bring their own credentials.
        return boto3.client(service, **(kwargs if "aws_access_key_id" in kwargs else {**credentials, **kwargs}))

    env = {name: str(value) for name, value in function["Environment"]["Variables"].items()}
    rt = Runtime.build(Settings.from_env({**env, "AWS_DEFAULT_REGION": em.REGION}, require=()), make_client)
    rt.sleep = lambda _seconds: None
    return rt


@pytest.fixture
def deployed(emulator: em.Emulator) -> Iterator[Deployed]:
    emulator.reset()
    organizations = emulator.client("organizations")
    org_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    accounts = {
        name: organizations.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"][
            "AccountId"
        ]
        for name in ("payments", "analytics")
    }
    outputs = t.deploy_hub_stack(emulator, translated_hub(), ExcludedAccounts=em.MANAGEMENT_ACCOUNT)
    for account_id in accounts.values():
        t.deploy_spoke_role(emulator, account_id, hub_account_id=em.MANAGEMENT_ACCOUNT, organization_id=org_id)
    sqs = emulator.client("sqs")
    events_url = sqs.create_queue(QueueName="test-events")["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    emulator.client("sns").subscribe(
        TopicArn=outputs["TopicArn"], Protocol="sqs", Endpoint=events_arn, Attributes={"RawMessageDelivery": "true"}
    )
    awslambda = emulator.client("lambda")
    # The emulator cannot run functions (no Docker); drain() plays the SQS event source instead.
    for mapping in awslambda.list_event_source_mappings()["EventSourceMappings"]:
        awslambda.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    functions = awslambda.list_functions()["Functions"]
    runtimes = {f["Handler"].split(".")[2]: _function_runtime(emulator, f) for f in functions}
    assert set(runtimes) == {"sweep", "scan", "worker", "digest"}
    t.subscribe_digest_queue(emulator, outputs["TopicArn"], outputs["DigestQueueUrl"])
    yield Deployed(emulator, accounts, outputs, runtimes, events_url)
    emulator.reset()


def _denied(call: Any, **kwargs: Any) -> bool:
    """True when the call is refused for lack of permission (moto answers JSON-protocol
    services' denials in XML, which botocore reports as a bare 403)."""
    try:
        call(**kwargs)
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and "not authorized" in str(exc)
    return False


@pytest.mark.slow
def test_a_whole_lifecycle_runs_through_the_deployed_roles_with_iam_enforced(deployed: Deployed) -> None:
    emulator, accounts = deployed.emulator, deployed.accounts
    payments = emulator.account_client("iam", accounts["payments"])
    analytics = emulator.account_client("iam", accounts["analytics"])
    payments.create_user(UserName="alice", Tags=[{"Key": "rekey:rotate", "Value": "true"}])
    (alice_old,) = [payments.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]]
    payments.create_user(UserName="bob")  # not opted in
    bob_key = payments.create_access_key(UserName="bob")["AccessKey"]["AccessKeyId"]
    analytics.create_user(UserName="carol", Tags=[{"Key": "rekey:rotate", "Value": "TRUE"}])
    carol_old = analytics.create_access_key(UserName="carol")["AccessKey"]["AccessKeyId"]
    analytics.create_user(UserName="dave", Tags=[{"Key": "rekey:rotate", "Value": "false"}])
    other_secret = emulator.account_client("secretsmanager", accounts["payments"]).create_secret(
        Name="payments/db-password", SecretString="hunter2"
    )["ARN"]
    for account_id in accounts.values():
        emulator.age_keys(account_id, 91)

    with enforced(emulator):
        deployed.day()  # rotate
        for account_id in accounts.values():
            emulator.age_keys(account_id, 10)
        deployed.day()  # deactivate the replaced keys
        for account_id in accounts.values():
            emulator.age_keys(account_id, 10)
        deployed.day()  # delete them

        # The role itself refuses what rekey must never do, whatever the code would try.
        iam = deployed.spoke_client("iam", "payments")
        assert _denied(iam.create_access_key, UserName="bob")
        assert _denied(iam.update_access_key, UserName="bob", AccessKeyId=bob_key, Status="Inactive")
        assert _denied(iam.delete_access_key, UserName="bob", AccessKeyId=bob_key)
        assert _denied(deployed.spoke_client("iam", "analytics").create_access_key, UserName="dave")
        assert _denied(
            iam.put_user_policy,
            UserName="alice",
            PolicyName="escalate",
            PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
        )
        assert _denied(
            iam.attach_user_policy, UserName="alice", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
        )
        assert _denied(iam.create_user, UserName="mallory")
        secrets = deployed.spoke_client("secretsmanager", "payments")
        assert _denied(secrets.get_secret_value, SecretId=other_secret)
        assert _denied(secrets.create_secret, Name="payments/other", SecretString="x")
        # Each hub function has only its own part.
        sweep_rt, worker_rt = deployed.runtimes["sweep"], deployed.runtimes["worker"]
        spoke_arn = sweep_rt.settings.spoke_role_arn(accounts["payments"])
        assert _denied(sweep_rt.clients.hub("sts").assume_role, RoleArn=spoke_arn, RoleSessionName="sweep")
        assert _denied(worker_rt.clients.hub("organizations").list_accounts)
        assert _denied(
            worker_rt.clients.hub("sqs").send_message,
            QueueUrl=deployed.outputs["ScanQueueUrl"],
            MessageBody="{}",
        )

    # Authorization is off again: the emulator's own clients work.
    keys = {k["AccessKeyId"]: k["Status"] for k in payments.list_access_keys(UserName="alice")["AccessKeyMetadata"]}
    (alice_new,) = keys
    assert alice_new != alice_old and keys[alice_new] == "Active"
    carol = {k["AccessKeyId"]: k["Status"] for k in analytics.list_access_keys(UserName="carol")["AccessKeyMetadata"]}
    assert list(carol.values()) == ["Active"] and carol_old not in carol
    assert [k["AccessKeyId"] for k in payments.list_access_keys(UserName="bob")["AccessKeyMetadata"]] == [bob_key]
    current = emulator.account_client("secretsmanager", accounts["payments"]).get_secret_value(
        SecretId="rekey/alice", VersionStage="AWSCURRENT"
    )
    assert json.loads(current["SecretString"])["AccessKey"] == alice_new

    sqs = emulator.client("sqs")
    events = []
    while batch := sqs.receive_message(QueueUrl=deployed.events_queue_url, MaxNumberOfMessages=10).get("Messages"):
        events += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=deployed.events_queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    happened = sorted((e["user_name"], e["event"]) for e in events if e.get("user_name"))
    assert happened == sorted(
        (user, event) for user in ("alice", "carol") for event in ("rotated", "deactivated", "deleted")
    )
    for key in ("ScanDeadLetterQueueUrl", "WorkDeadLetterQueueUrl"):
        attributes = sqs.get_queue_attributes(QueueUrl=deployed.outputs[key], AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0"
