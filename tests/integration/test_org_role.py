"""A hub in a member account: the sweep (and the worker, checking an item's account) lists the
organization through the management account's role (spoke_templates/org-role.yaml,
REKEY_ORG_ROLE_ARN), which trusts only the hub's sweep and worker roles (and operators' roles, if
named) and grants only what the Organizations adapter declares."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from rekey_dev import emulator as em
from rekey_dev import templates as t
from rekey_dev.authz import _inline_policies_as_json, enforced

from rekey.domain.errors import RekeyError
from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.sweep import accounts_to_sweep
from tests.conftest import Org
from tests.integration.test_permissions import as_list, declared, organization_id, role_statements

ORG_ROLE_TEMPLATE = t.SPOKE_TEMPLATES / "org-role.yaml"
SWEEP_ROLE = "rekey-hub-sweep"


def deploy_org_role(emulator: em.Emulator, *, hub_account_id: str, org_id: str, **params: str) -> str:
    """org-role.yaml as a stack in the management account; the role's ARN."""
    cfn = emulator.client("cloudformation")
    parameters = {"HubAccountId": hub_account_id, "OrganizationId": org_id, **params}
    cfn.create_stack(
        StackName="rekey-org-reader",
        TemplateBody=ORG_ROLE_TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in t._wait(cfn, "rekey-org-reader")["Outputs"]}
    _inline_policies_as_json()  # moto keeps a CloudFormation role's inline policy as a dict
    return outputs["OrgRoleArn"]


def hub_account(org: Org) -> str:
    organizations = org.emulator.client("organizations")
    created = organizations.create_account(Email="security@example.com", AccountName="security")
    return created["CreateAccountStatus"]["AccountId"]


def sweep_runtime(org: Org, hub: str, org_role_arn: str | None, **env: str) -> Runtime:
    """The sweep function of a hub stack in member account `hub`: its role is granted what the
    hub template grants the sweep when OrgRoleArn is set (SweepOrgRolePolicy), nothing more."""
    iam = org.client("iam", hub)
    lambda_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=SWEEP_ROLE, AssumeRolePolicyDocument=json.dumps(lambda_trust))
    if org_role_arn:
        document = t.load_template(t.HUB_TEMPLATE)["Resources"]["SweepOrgRolePolicy"]["Properties"]["PolicyDocument"]
        (statement,) = document["Statement"]
        assert statement["Resource"] == {"Ref": "OrgRoleArn"}
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}
        condition = {"StringEquals": {"aws:ResourceOrgID": organization_id(org)}}
        document = {**document, "Statement": [{**statement, "Resource": org_role_arn, "Condition": condition}]}
        iam.put_role_policy(RoleName=SWEEP_ROLE, PolicyName="rekey-sweep-org-role", PolicyDocument=json.dumps(document))
    c = org.emulator.client("sts").assume_role(RoleArn=f"arn:aws:iam::{hub}:role/{SWEEP_ROLE}", RoleSessionName="sweep")
    credentials = {
        "aws_access_key_id": c["Credentials"]["AccessKeyId"],
        "aws_secret_access_key": c["Credentials"]["SecretAccessKey"],
        "aws_session_token": c["Credentials"]["SessionToken"],
    }

    def make_client(service: str, **kwargs: Any) -> Any:
        return boto3.client(service, **(kwargs if "aws_access_key_id" in kwargs else {**credentials, **kwargs}))

    variables = {
        "AWS_DEFAULT_REGION": em.REGION,
        "REKEY_WORK_QUEUE_URL": f"https://sqs.{em.REGION}.amazonaws.com/{hub}/rekey-work.fifo",
        "REKEY_TOPIC_ARN": f"arn:aws:sns:{em.REGION}:{hub}:rekey-events",
        "REKEY_EXCLUDED_ACCOUNTS": em.MANAGEMENT_ACCOUNT,
        **({"REKEY_ORG_ROLE_ARN": org_role_arn} if org_role_arn else {}),
        **env,
    }
    return Runtime.build(Settings.from_env(variables), make_client)


# --------------------------------------------------------------------------- the template


def test_the_org_role_grants_exactly_the_declared_listing_and_trusts_only_the_hub_sweep_and_worker(org: Org) -> None:
    hub = hub_account(org)
    arn = deploy_org_role(org.emulator, hub_account_id=hub, org_id=organization_id(org))
    assert arn == f"arn:aws:iam::{em.MANAGEMENT_ACCOUNT}:role/rekey-org-reader"

    iam = org.emulator.client("iam")
    statements = role_statements(iam, "rekey-org-reader")
    granted = {action for s in statements for action in as_list(s["Action"])}
    assert granted == declared("org")
    assert all(s["Effect"] == "Allow" and set(s) <= {"Sid", "Effect", "Action", "Resource"} for s in statements)

    (trust,) = iam.get_role(RoleName="rekey-org-reader")["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {
        "AWS": [f"arn:aws:iam::{hub}:role/rekey-hub-{role}" for role in ("sweep", "scan", "worker")]
    }
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": organization_id(org)}}


def test_the_org_role_trusts_operators_only_when_named_and_only_inside_the_organization(org: Org) -> None:
    hub = hub_account(org)
    operators = f"arn:aws:iam::{hub}:role/secops,arn:aws:iam::{hub}:role/oncall"
    deploy_org_role(org.emulator, hub_account_id=hub, org_id=organization_id(org), OperatorRoleArns=operators)
    role = org.emulator.client("iam").get_role(RoleName="rekey-org-reader")["Role"]
    functions, people = role["AssumeRolePolicyDocument"]["Statement"]
    assert functions["Sid"] == "HubFunctionsInsideTheOrganization"
    assert people["Sid"] == "OperatorsInsideTheOrganization"
    assert people["Action"] == "sts:AssumeRole"  # no SourceIdentity: the caller would choose it
    assert sorted(as_list(people["Principal"]["AWS"])) == sorted(operators.split(","))
    assert people["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": organization_id(org)}}


def test_the_org_role_follows_the_hub_role_prefix(org: Org) -> None:
    hub = hub_account(org)
    deploy_org_role(
        org.emulator, hub_account_id=hub, org_id=organization_id(org), HubRoleNamePrefix="sec-rekey-", RoleName="x"
    )
    (trust,) = org.emulator.client("iam").get_role(RoleName="x")["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {
        "AWS": [f"arn:aws:iam::{hub}:role/sec-rekey-{role}" for role in ("sweep", "scan", "worker")]
    }


# --------------------------------------------------------------------------- the sweep through it, IAM enforced


def test_a_hub_in_a_member_account_lists_the_organization_through_the_org_role(org: Org) -> None:
    hub = hub_account(org)
    arn = deploy_org_role(org.emulator, hub_account_id=hub, org_id=organization_id(org))
    rt = sweep_runtime(org, hub, arn)
    expected = {*org.accounts.values(), hub}

    with enforced(org.emulator):
        listed = {a.account_id for a in accounts_to_sweep(rt)}
    assert listed == expected


def test_ou_scoping_goes_through_the_org_role_too(org: Org) -> None:
    hub = hub_account(org)
    organizations = org.emulator.client("organizations")
    root = organizations.list_roots()["Roots"][0]["Id"]
    team = organizations.create_organizational_unit(ParentId=root, Name="team")["OrganizationalUnit"]["Id"]
    nested = organizations.create_organizational_unit(ParentId=team, Name="nested")["OrganizationalUnit"]["Id"]
    organizations.move_account(AccountId=org.accounts["payments"], SourceParentId=root, DestinationParentId=nested)
    arn = deploy_org_role(org.emulator, hub_account_id=hub, org_id=organization_id(org))
    rt = sweep_runtime(org, hub, arn, REKEY_TARGET_OUS=team)

    with enforced(org.emulator):
        listed = [a.account_id for a in accounts_to_sweep(rt)]
        # The role lists; it does nothing else in the management account.
        client = rt.clients.hub("organizations")
        denied = _refused(client.describe_organization) and _refused(client.list_roots)
    assert listed == [org.accounts["payments"]]
    assert denied


def test_without_the_org_role_a_member_account_hub_cannot_list(org: Org) -> None:
    hub = hub_account(org)
    rt = sweep_runtime(org, hub, None)
    # AWS answers AccessDeniedException (AccessDenied); the emulator a bare 403 (see _denied in
    # test_permissions): either way the sweep fails loudly rather than sweeping nothing.
    with enforced(org.emulator), pytest.raises(RekeyError, match=r"organizations:ListAccounts: (403|AccessDenied)"):
        accounts_to_sweep(rt)


def test_the_org_role_is_assumed_once_and_again_before_its_credentials_expire(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = hub_account(org)
    arn = deploy_org_role(org.emulator, hub_account_id=hub, org_id=organization_id(org))
    rt = sweep_runtime(org, hub, arn)
    import rekey.runtime as runtime_module

    assumed: list[str] = []
    real = runtime_module.StsAdapter.assume

    def assume(self: Any, role_arn: str, **kwargs: Any) -> Any:
        assumed.append(role_arn)
        return real(self, role_arn, **kwargs)

    monkeypatch.setattr(runtime_module.StsAdapter, "assume", assume)
    first = rt.clients.hub("organizations")
    assert rt.clients.hub("organizations") is first
    assert assumed == [arn]
    later = runtime_module.utcnow() + timedelta(hours=2)  # the role's session lasts one hour
    monkeypatch.setattr(runtime_module, "utcnow", lambda: later)
    assert rt.clients.hub("organizations") is not first
    assert assumed == [arn, arn]


def _refused(call: Any) -> bool:
    try:
        call()
    except Exception as exc:  # botocore's ClientError: a 403 from the emulator
        return "403" in str(exc) or "not authorized" in str(exc) or "AccessDenied" in str(exc)
    return False
