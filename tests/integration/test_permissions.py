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
from rekey_cli.sqs_source import drain
from rekey_dev import emulator as em
from rekey_dev import templates as t
from rekey_dev.authz import enforced

import rekey.adapters
from rekey.handlers import scan, sweep, worker
from rekey.runtime import SPOKE_ROLE_GROUPS, Runtime
from rekey.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # moto skips alarms

READER, WRITER = "rekey-spoke-reader", "rekey-spoke"  # the default role names
OPERATORS_ROLE = f"arn:aws:iam::{em.MANAGEMENT_ACCOUNT}:role/platform-operators"  # the hub's Operators
FORBIDDEN = ("iam:Put", "iam:Attach", "iam:PassRole", "iam:*", "*")
# What no read may do: every write the writer has (IAM keys, secrets) and a secret's value.
READER_MUST_NOT = ("iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey", "secretsmanager:GetSecretValue")


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


# --------------------------------------------------------------------------- the spoke roles' documents


def spoke_granted(iam: Any, role_name: str) -> tuple[list[dict[str, Any]], set[str]]:
    statements = role_statements(iam, role_name)
    return statements, {action for s in statements for action in as_list(s["Action"])}


@pytest.mark.parametrize(
    ("params", "tag_key", "prefix", "path"),
    [
        ({}, "rekey:rotate", "rekey/", "/"),
        (
            {"TagKey": "team:rotate", "SecretNamePrefix": "keys/", "UserPathPrefix": "/apps/ci/"},
            "team:rotate",
            "keys/",
            "/apps/ci/",
        ),
    ],
    ids=["defaults", "custom-tag-prefix-and-path"],
)
def test_spoke_roles_grant_exactly_the_declared_actions_scoped(
    org: Any, params: dict[str, str], tag_key: str, prefix: str, path: str
) -> None:
    account_id = org.accounts["payments"]
    t.deploy_spoke_role(
        org.emulator, account_id, hub_account_id=em.MANAGEMENT_ACCOUNT, organization_id=organization_id(org), **params
    )
    iam = org.client("iam", account_id)
    users = f"arn:aws:iam::{account_id}:user/*"
    secrets = f"arn:aws:secretsmanager:*:{account_id}:secret:{prefix}*"
    everywhere: dict[str, set[str]] = {}
    for role, name in (("reader", READER), ("writer", WRITER)):
        statements, granted = spoke_granted(iam, name)
        assert granted == declared(*SPOKE_ROLE_GROUPS[role]), role
        assert declared("hub", "org").isdisjoint(granted)
        for action in granted:
            assert "*" not in action and not action.startswith(FORBIDDEN[:3]), action
        for statement in statements:
            assert statement["Effect"] == "Allow"
            assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}  # no NotAction/NotResource
        by_action = {action: s for s in statements for action in as_list(s["Action"])}
        for action in declared("spoke_key_write") & granted:  # keys only of users under the path
            assert by_action[action]["Resource"] == f"arn:aws:iam::{account_id}:user{path}*"
            assert by_action[action]["Condition"] == {"StringEqualsIgnoreCase": {f"iam:ResourceTag/{tag_key}": "true"}}
        for action in declared("spoke_secret", "spoke_describe") & granted:
            assert by_action[action]["Resource"] == secrets
            assert "Condition" not in by_action[action]
        for action in declared("spoke_read") & granted:
            assert by_action[action]["Resource"] == users
        for action in declared("spoke_rotation") & granted:  # the account's rotation relay only
            relay = f"arn:aws:lambda:{em.REGION}:{account_id}:function:rekey-rotation-relay"
            assert by_action[action]["Resource"] == relay and "Condition" not in by_action[action]
        everywhere[role] = {a for a, s in by_action.items() if s["Resource"] == "*"}
    # Only what has no narrower resource in IAM's authorization reference: the writer reads the
    # account's roles and policies with it to judge a user again before acting (issue 27).
    assert everywhere == {
        "reader": {
            "iam:GetAccountAuthorizationDetails",
            "iam:GenerateCredentialReport",
            "iam:GetCredentialReport",
            "secretsmanager:ListSecrets",
            "cloudtrail:LookupEvents",  # the advisor's: the event history has no resources
        },
        "writer": {"iam:GetAccountAuthorizationDetails"},
    }


def test_the_reader_can_change_nothing_and_never_reads_a_secret_value(org: Any) -> None:
    account_id = org.accounts["payments"]
    t.deploy_spoke_role(
        org.emulator, account_id, hub_account_id=em.MANAGEMENT_ACCOUNT, organization_id=organization_id(org)
    )
    _, granted = spoke_granted(org.client("iam", account_id), READER)
    assert granted.isdisjoint(READER_MUST_NOT)
    assert granted.isdisjoint(declared("spoke_key_write", "spoke_secret"))
    # Both judge a user's privileges (the scan from the account's details, the worker per user).
    assert declared("spoke_authz") <= granted
    assert declared("spoke_authz") <= spoke_granted(org.client("iam", account_id), WRITER)[1]
    # Every read verb only: no IAM or Secrets Manager action that creates, changes or deletes.
    writes = ("Create", "Update", "Delete", "Put", "Tag", "Untag", "Attach", "Detach", "Replicate", "Add", "Remove")
    assert [a for a in granted if a.split(":")[1].startswith(writes)] == []
    # Its one write: the scan's findings, into the account's own Security Hub product only.
    statements, _ = spoke_granted(org.client("iam", account_id), READER)
    (imports,) = [s for s in statements if "securityhub:BatchImportFindings" in as_list(s["Action"])]
    assert as_list(imports["Action"]) == ["securityhub:BatchImportFindings"]
    assert imports["Resource"] == f"arn:aws:securityhub:*:{account_id}:product/{account_id}/default"


def test_the_spoke_roles_declared_per_role_cover_every_spoke_group() -> None:
    """Each group an adapter declares for member accounts is granted by at least one role."""
    groups = set()
    for module in pkgutil.iter_modules(rekey.adapters.__path__):
        permissions = getattr(importlib.import_module(f"rekey.adapters.{module.name}"), "PERMISSIONS", {})
        groups |= {g for g in permissions if g.startswith("spoke_")}
    assert groups == set(SPOKE_ROLE_GROUPS["reader"]) | set(SPOKE_ROLE_GROUPS["writer"])


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
    policies = iam.list_role_policies(RoleName=WRITER)["PolicyNames"]
    assert sorted(policies) == ["rekey-spoke", "rekey-spoke-secrets-kms"]
    assert iam.list_role_policies(RoleName=READER)["PolicyNames"] == ["rekey-spoke-reader"]  # never decrypts
    extra = [s for s in role_statements(iam, WRITER) if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert extra == [
        {
            "Sid": "EncryptSecretsThroughSecretsManagerOnly",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": key_arn,
            "Condition": {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}},
        }
    ]


def test_the_reader_trusts_only_the_scan_role_and_the_writer_only_the_worker_role(org: Any) -> None:
    account_id = org.accounts["analytics"]
    t.deploy_spoke_role(
        org.emulator,
        account_id,
        hub_account_id="210987654321",
        organization_id=organization_id(org),
        HubRoleNamePrefix="sec-rekey-",
        SpokeRoleName="key-rotator",
        SpokeReaderRoleName="key-reader",
    )
    iam = org.client("iam", account_id)
    for role, function in (("key-reader", "scan"), ("key-rotator", "worker")):
        (statement,) = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
        assert statement["Principal"] == {"AWS": f"arn:aws:iam::210987654321:role/sec-rekey-{function}"}
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": organization_id(org)}}


def test_operator_roles_may_assume_the_reader_only_and_the_writer_only_the_worker_and_break_glass(
    org: Any,
) -> None:
    account_id = org.accounts["sandbox"]
    operators = "arn:aws:iam::210987654321:role/secops,arn:aws:iam::210987654321:role/oncall"
    break_glass = "arn:aws:iam::210987654321:role/break-glass"
    t.deploy_spoke_role(
        org.emulator, account_id, hub_account_id="210987654321", organization_id=organization_id(org),
        OperatorRoleArns=operators, BreakGlassRoleArn=break_glass,
    )  # fmt: skip
    iam = org.client("iam", account_id)
    scan, people = iam.get_role(RoleName=READER)["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert scan["Sid"] == "HubScanInsideTheOrganization" and scan["Action"] == "sts:AssumeRole"
    assert people["Sid"] == "OperatorsInsideTheOrganization"
    # No sts:SetSourceIdentity: a value the caller chooses is not attribution.
    assert people["Action"] == "sts:AssumeRole"
    assert sorted(as_list(people["Principal"]["AWS"])) == sorted(operators.split(","))
    assert people["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": organization_id(org)}}
    worker, glass = iam.get_role(RoleName=WRITER)["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert worker["Principal"] == {"AWS": "arn:aws:iam::210987654321:role/rekey-hub-worker"}
    assert glass["Sid"] == "BreakGlassInsideTheOrganization" and glass["Principal"] == {"AWS": break_glass}
    for statement in (worker, glass):
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": organization_id(org)}}


ROLE_ARNS_OK = [
    "",
    "arn:aws:iam::210987654321:role/secops",
    "arn:aws:iam::210987654321:role/team/on-call@example.com",
    "arn:aws-us-gov:iam::210987654321:role/oncall",
]
ROLE_ARNS_REFUSED = [
    "*",
    "arn:aws:iam::210987654321:root",
    "210987654321",
    "arn:aws:iam::*:role/secops",
    "arn:aws:iam::210987654321:role/*",
    "arn:aws:iam::210987654321:role/sec*",
    "arn:aws:iam::210987654321:user/alice",
    "arn:aws:sts::210987654321:assumed-role/secops/alice",
    "arn:aws:iam::210987654321:role/",
    " arn:aws:iam::210987654321:role/secops",
]


@pytest.mark.parametrize(
    ("template", "parameter"),
    [
        ("spoke-role.yaml", "OperatorRoleArns"),
        ("org-role.yaml", "OperatorRoleArns"),
        ("stackset.yaml", "OperatorRoleArns"),
        ("hub", "BreakGlassRoleArn"),
        ("spoke-role.yaml", "BreakGlassRoleArn"),
        ("stackset.yaml", "BreakGlassRoleArn"),
    ],
)
def test_role_parameters_accept_role_arns_only(template: str, parameter: str) -> None:
    """CloudFormation matches AllowedPattern against the whole value (each item of a
    CommaDelimitedList): a wildcard or an account root would trust a whole account or more."""
    import re

    path = t.HUB_TEMPLATE if template == "hub" else t.SPOKE_TEMPLATES / template
    definition = t.load_template(path)["Parameters"][parameter]
    pattern = re.compile(definition["AllowedPattern"])
    comma_string = parameter == "OperatorRoleArns" and template == "stackset.yaml"
    for value in ROLE_ARNS_OK:
        assert pattern.fullmatch(value), value
    for value in ROLE_ARNS_REFUSED:
        assert not pattern.fullmatch(value), value
    if comma_string:  # one string of comma-separated ARNs, passed on to the list parameter
        assert pattern.fullmatch(",".join(ROLE_ARNS_OK[1:]))
        assert not pattern.fullmatch(",".join([ROLE_ARNS_OK[1], "*"]))
        assert not pattern.fullmatch(ROLE_ARNS_OK[1] + ",")


# --------------------------------------------------------------------------- the hub roles' documents


@functools.cache
def translated_hub() -> dict[str, Any]:
    return t.translate_hub()


HUB_ROLES = ("SweepRole", "ScanRole", "WorkerRole", "DigestRole")


def hub_role_statements(
    *, org_role: bool = False, kms_key: bool = False, analyzer: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Each hub role's statements: its inline policies and the policies attached to it, the
    conditional ones included when the stack's OrgRoleArn (`org_role`, HasOrgRole), its
    HubKmsKeyArn (`kms_key`, HasHubKmsKey) or its AdvisorAnalyzerArn (`analyzer`,
    HasAdvisorAnalyzer) is set."""
    resources = translated_hub()["Resources"]
    included = {"HasOrgRole": org_role, "HasHubKmsKey": kms_key, "HasAdvisorAnalyzer": analyzer}
    roles = {}
    for name in HUB_ROLES:
        documents = [p["PolicyDocument"] for p in resources[name]["Properties"]["Policies"]]
        for resource in resources.values():
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": name} in resource["Properties"]["Roles"]:
                assert resource.get("Condition") in included  # no policy attached unconditionally
                if included[resource["Condition"]]:
                    documents.append(resource["Properties"]["PolicyDocument"])
        roles[name] = [s for d in documents for s in as_list(d["Statement"])]
    return roles


APP_KEYS = "secret:rekey-delivery/*"


def test_hub_roles_grant_the_hub_actions_and_enter_only_spoke_roles() -> None:
    roles = hub_role_statements()
    actions = {name: {a for s in statements for a in as_list(s["Action"])} for name, statements in roles.items()}
    granted = set().union(*actions.values())
    assert declared("hub") <= granted
    assert all("*" not in action for action in granted)
    # Only via the spoke roles — but for the worker's read of the GitHub Apps' private keys
    # (delivery, REKEY_DESTINATIONS), which live in the hub under rekey-delivery/ only.
    hub_secrets = [s for statements in roles.values() for s in statements if "secretsmanager:" in str(s["Action"])]
    assert [(as_list(s["Action"]), s["Resource"]) for s in hub_secrets] == [
        (
            ["secretsmanager:GetSecretValue"],
            {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:" + APP_KEYS},
        )
    ]
    assert hub_secrets[0] in roles["WorkerRole"]
    assert not any(a.startswith("iam:") for a in granted)
    assert declared("org") <= actions["SweepRole"]  # a hub in the management account or a delegated admin
    assert "sts:AssumeRole" not in actions["SweepRole"]  # the sweep never enters a member account
    # The scan and the worker check each request's account against the organization (ACTIVE, in
    # TargetOus) before they enter it.
    assert declared("org") <= actions["WorkerRole"]
    assert declared("org") <= actions["ScanRole"]
    # The scan may enter member accounts only as the reader, the worker only as the writer, and
    # only in the organization's accounts.
    for name, role in (("ScanRole", "SpokeReaderRoleName"), ("WorkerRole", "SpokeRoleName")):
        (assume,) = [s for s in roles[name] if "sts:AssumeRole" in as_list(s["Action"])]
        assert assume["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${" + role + "}"}
        assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}
    parameters = translated_hub()["Parameters"]
    assert parameters["OrganizationId"]["AllowedPattern"] == "o-[a-z0-9]{10,32}"
    assert "Default" not in parameters["OrganizationId"]  # no hub without it
    # The digest only reads its queue and publishes.
    assert actions["DigestRole"] == declared("digest") | {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"}
    (digest_queue,) = [s for s in roles["DigestRole"] if set(as_list(s["Action"])) == declared("digest")]
    assert digest_queue["Resource"] == {"Fn::GetAtt": ["DigestQueue", "Arn"]}
    for name in ("SweepRole", "ScanRole"):  # they record for the digest: send, nothing else
        (send,) = [s for s in roles[name] if s["Resource"] == {"Fn::GetAtt": ["DigestQueue", "Arn"]}]
        assert send["Action"] == "sqs:SendMessage"


def test_with_an_org_role_the_sweep_and_the_worker_may_assume_that_role_only_inside_the_organization() -> None:
    roles = hub_role_statements(org_role=True)
    assumes = {
        name: [s for s in statements if "sts:AssumeRole" in as_list(s["Action"])] for name, statements in roles.items()
    }
    through_the_org_role = {
        "Sid": "ListAccountsThroughTheManagementAccount",
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Resource": {"Ref": "OrgRoleArn"},
        "Condition": {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}},
    }
    assert assumes["SweepRole"] == [through_the_org_role]
    assert through_the_org_role in assumes["WorkerRole"]
    assert through_the_org_role in assumes["ScanRole"]
    assert assumes["DigestRole"] == []
    conditions = translated_hub()["Conditions"]
    assert conditions["HasOrgRole"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrgRoleArn"}, ""]}]}


def test_with_a_hub_kms_key_each_role_may_use_it_through_sqs_only_and_only_the_senders_encrypt() -> None:
    without, with_key = hub_role_statements(), hub_role_statements(kms_key=True)
    key_statements = {
        name: [s for s in with_key[name] if s not in without[name]] for name in HUB_ROLES
    }  # fmt: skip
    through_sqs = {"StringEquals": {"kms:ViaService": {"Fn::Sub": "sqs.${AWS::Region}.${AWS::URLSuffix}"}}}
    for name, statements in key_statements.items():
        (statement,) = statements
        assert statement["Resource"] == {"Ref": "HubKmsKeyArn"} and statement["Condition"] == through_sqs
        # The sweep and the scan send (a data key per message); the worker and the digest only receive.
        sends = name in ("SweepRole", "ScanRole")
        expected = ["kms:GenerateDataKey", "kms:Decrypt"] if sends else ["kms:Decrypt"]
        assert as_list(statement["Action"]) == expected, name
    # Without a key no role is granted anything on it.
    assert not any("HubKmsKeyArn" in json.dumps(s) for statements in without.values() for s in statements)


def test_with_an_analyzer_only_the_scan_may_read_its_findings_and_only_that_analyzers() -> None:
    without, with_analyzer = hub_role_statements(), hub_role_statements(analyzer=True)
    added = {name: [s for s in with_analyzer[name] if s not in without[name]] for name in HUB_ROLES}
    assert added == {
        "SweepRole": [],
        "ScanRole": [
            {
                "Sid": "ReadUnusedAccessKeyFindings",
                "Effect": "Allow",
                "Action": sorted(declared("hub_advise"), reverse=True),
                "Resource": {"Ref": "AdvisorAnalyzerArn"},
            }
        ],
        "WorkerRole": [],
        "DigestRole": [],
    }
    assert declared("hub_advise") == {"access-analyzer:ListFindings", "access-analyzer:GetFinding"}
    # Without one, no role may read any analyzer.
    assert "access-analyzer" not in json.dumps(without)
    conditions = translated_hub()["Conditions"]
    assert conditions["HasAdvisorAnalyzer"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AdvisorAnalyzerArn"}, ""]}]}


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
        sweep.process({}, self.runtimes["sweep"])
        for name, module, queue in [("scan", scan, "ScanQueueUrl"), ("worker", worker, "WorkQueueUrl")]:
            rt = self.runtimes[name]
            result = drain(
                rt.clients.hub("sqs"),
                self.outputs[queue],
                lambda event, rt=rt, module=module: module.process(event, rt),
            )
            assert result.failed == 0, f"{name}: {result}"

    def spoke_client(self, service: str, account: str, *, reader: bool = False) -> Any:
        """A client acting as the spoke writer role with the worker role's credentials, or
        (`reader`) as the spoke reader role with the scan role's."""
        rt = self.runtimes["scan" if reader else "worker"]
        adapters = rt.clients.account(self.accounts[account], write=not reader)
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
def deployed(emulator: em.Emulator, no_waits: None) -> Iterator[Deployed]:
    emulator.reset()
    organizations = emulator.client("organizations")
    org_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    accounts = {
        name: organizations.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"][
            "AccountId"
        ]
        for name in ("payments", "analytics")
    }
    outputs = t.deploy_hub_stack(
        emulator,
        translated_hub(),
        ExcludedAccounts=em.MANAGEMENT_ACCOUNT,
        OrganizationId=org_id,
        Operators=f"{OPERATORS_ROLE}=*",
    )
    for account_id in accounts.values():  # with the relay Secrets Manager's rotation invokes
        t.deploy_spoke_role(
            emulator,
            account_id,
            hub_account_id=em.MANAGEMENT_ACCOUNT,
            organization_id=org_id,
            HubRotationUrl=outputs["RotationUrl"],
        )
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
    assert set(runtimes) == {"sweep", "scan", "worker", "digest", "operator", "rotation"}
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
        scan_rt = deployed.runtimes["scan"]
        spoke_arn = sweep_rt.settings.spoke_role_arn(accounts["payments"])
        reader_arn = sweep_rt.settings.spoke_reader_role_arn(accounts["payments"])
        for arn in (spoke_arn, reader_arn):
            assert _denied(sweep_rt.clients.hub("sts").assume_role, RoleArn=arn, RoleSessionName="sweep")
        # The scan may enter member accounts only as the reader, the worker only as the writer.
        assert _denied(scan_rt.clients.hub("sts").assume_role, RoleArn=spoke_arn, RoleSessionName="scan")
        assert _denied(worker_rt.clients.hub("sts").assume_role, RoleArn=reader_arn, RoleSessionName="worker")
        # The reader lists and describes, and changes nothing, nor reads a key.
        reader_iam = deployed.spoke_client("iam", "payments", reader=True)
        alice_keys = reader_iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
        assert alice_keys
        assert _denied(reader_iam.create_access_key, UserName="alice")
        assert _denied(
            reader_iam.update_access_key, UserName="alice", AccessKeyId=alice_keys[0]["AccessKeyId"], Status="Inactive"
        )
        assert _denied(reader_iam.delete_access_key, UserName="alice", AccessKeyId=alice_keys[0]["AccessKeyId"])
        reader_secrets = deployed.spoke_client("secretsmanager", "payments", reader=True)
        assert reader_secrets.describe_secret(SecretId="rekey/alice")["Name"] == "rekey/alice"
        assert _denied(reader_secrets.get_secret_value, SecretId="rekey/alice", VersionStage="AWSCURRENT")
        assert _denied(reader_secrets.put_secret_value, SecretId="rekey/alice", SecretString="{}")
        assert _denied(reader_secrets.tag_resource, SecretId="rekey/alice", Tags=[{"Key": "k", "Value": "v"}])
        assert _denied(reader_secrets.put_resource_policy, SecretId="rekey/alice", ResourcePolicy="{}")
        # The worker and the scan list the organization (is the request's account still in scope?).
        worker_rt.clients.hub("organizations").list_accounts()
        scan_rt.clients.hub("organizations").list_accounts()
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


@pytest.mark.slow
def test_an_operators_requests_run_through_the_deployed_operator_function_with_iam_enforced(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """rotate-now and rollback from an operator's shell: a signed request to the stack's
    OperatorUrl, served as the deployed function (its environment, its role: the worker's),
    whose calls IAM authorizes. The operator's own credentials enter no member account."""
    from tests.operators import run_cli

    emulator, payments = deployed.emulator, deployed.accounts["payments"]
    iam = emulator.account_client("iam", payments)
    iam.create_user(UserName="alice", Tags=[{"Key": "rekey:rotate", "Value": "true"}])
    old = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": f"arn:aws:iam::{em.MANAGEMENT_ACCOUNT}:root"}}]}  # fmt: skip
    emulator.client("iam").create_role(RoleName="platform-operators", AssumeRolePolicyDocument=json.dumps(trust))
    session = emulator.client("sts").assume_role(RoleArn=OPERATORS_ROLE, RoleSessionName="alice")
    for name, key in [("AWS_ACCESS_KEY_ID", "AccessKeyId"), ("AWS_SECRET_ACCESS_KEY", "SecretAccessKey"),
                      ("AWS_SESSION_TOKEN", "SessionToken")]:  # fmt: skip
        monkeypatch.setenv(name, session["Credentials"][key])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("REKEY_OPERATOR_URL", deployed.outputs["OperatorUrl"])

    with enforced(emulator):
        code, out, err = run_cli(capsys, "rotate-now", "--account", payments, "--user", "alice")
        assert code == 0, err
        code, out, err = run_cli(capsys, "rollback", "--account", payments, "--user", "alice")
        assert code == 0, err
        assert "paused until" in out and session["AssumedRoleUser"]["Arn"] in out

    keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]}
    assert len(keys) == 2 and keys[old] == "Active"
