"""Operators never hold the writer (issue 27, part 3), played as the attacker did: an operator
role that could assume `rekey-spoke` in every member account could create a key for an
administrator rekey refuses, read every stored key, and name itself whoever it liked through
sts:SetSourceIdentity. Each test below is one of those attacks, or one against what replaced it
(the hub's operator endpoint: a function URL with AuthType AWS_IAM, played by rekey_dev's
stand-in, which authenticates SigV4 against the credentials moto issued). A plain tagged user
still rotates and rolls back through the CLI.

Trust policies are evaluated by tests/policy_eval.py over the templates' documents: moto never
evaluates a trust policy for a role in another account (see EMULATOR_NOTES)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from rekey_dev import emulator as em
from rekey_dev import templates as t

from tests.conftest import Operator, Org, become_operator
from tests.integration.test_trust_boundary import managed_policies, privileged_org, secret_exists
from tests.operators import HUB_WORKER, TAG, current_key, run_cli, signed_post
from tests.policy_eval import Request, Stack, decide

__all__ = ["managed_policies"]  # a fixture, used by name

HUB = "111122223333"
MEMBER = "444455556666"
ORG_ID = "o-abcdefghij"
OPERATOR_ROLE = f"arn:aws:iam::{HUB}:role/platform-operators"
WORKER_ROLE = f"arn:aws:iam::{HUB}:role/rekey-hub-worker"
SCAN_ROLE = f"arn:aws:iam::{HUB}:role/rekey-hub-scan"
BREAK_GLASS = f"arn:aws:iam::{HUB}:role/break-glass"
EVERYTHING = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]


def spoke(**parameters: str) -> Stack:
    """spoke-role.yaml as the StackSet deploys it in MEMBER, operators named."""
    template = t.load_template(t.SPOKE_ROLE_TEMPLATE)
    values = {"HubAccountId": HUB, "OrganizationId": ORG_ID, "OperatorRoleArns": OPERATOR_ROLE, **parameters}
    return Stack(template, values, account=MEMBER, stack_name="rekey-spoke")


def may(stack: Stack, role: str, principal: str, action: str = "sts:AssumeRole", org: str = ORG_ID) -> bool:
    """Whether `principal` (whose own policies allow everything) may `action` on `role`."""
    arn = stack.resolve({"Fn::GetAtt": [role, "Arn"]})
    request = Request(action, arn, principal=principal, context={"aws:PrincipalOrgID": org})
    return decide(request, stack.trust_policy(role), EVERYTHING) == "Allow"


def events_naming(org: Org, text: str) -> list[dict[str, Any]]:
    return [n for n in org.notifications() if text in json.dumps(n)]


# --------------------------------------------------------------------------- the member roles


def test_an_operator_role_cannot_assume_the_writer_only_the_reader() -> None:
    stack = spoke()
    assert not may(stack, "SpokeRole", OPERATOR_ROLE)  # the attack: rekey-spoke from the operator's shell
    assert may(stack, "SpokeReaderRole", OPERATOR_ROLE)  # plan and report still read
    assert may(stack, "SpokeRole", WORKER_ROLE)  # the hub's worker (and its operator function)
    assert not may(stack, "SpokeRole", WORKER_ROLE, org="o-zzzzzzzzzz")  # only from inside the organization
    assert not may(stack, "SpokeRole", SCAN_ROLE) and not may(stack, "SpokeReaderRole", WORKER_ROLE)


def test_nobody_chooses_a_source_identity() -> None:
    """sts:SetSourceIdentity took any value: the attribution was the operator's choice."""
    for stack, role in [(spoke(), "SpokeRole"), (spoke(), "SpokeReaderRole")]:
        for principal in (OPERATOR_ROLE, WORKER_ROLE, SCAN_ROLE):
            assert not may(stack, role, principal, "sts:SetSourceIdentity"), (role, principal)
    org_role = Stack(
        t.load_template(t.SPOKE_TEMPLATES / "org-role.yaml"),
        {"HubAccountId": HUB, "OrganizationId": ORG_ID, "OperatorRoleArns": OPERATOR_ROLE},
        account=MEMBER,
    )
    assert may(org_role, "OrgRole", OPERATOR_ROLE)  # plan and report list the accounts
    assert not may(org_role, "OrgRole", OPERATOR_ROLE, "sts:SetSourceIdentity")


def test_the_writer_trusts_the_break_glass_role_when_named_and_writes_keys_only_under_the_user_path() -> None:
    stack = spoke(BreakGlassRoleArn=BREAK_GLASS, UserPathPrefix="/apps/")
    assert may(stack, "SpokeRole", BREAK_GLASS) and not may(stack, "SpokeRole", OPERATOR_ROLE)
    assert not may(spoke(), "SpokeRole", BREAK_GLASS)  # not named: not trusted
    writer = stack.resolve({"Fn::GetAtt": ["SpokeRole", "Arn"]})
    statements = stack.role_statements("SpokeRole")

    def create_key(user: str) -> str:
        request = Request(
            "iam:CreateAccessKey",
            f"arn:aws:iam::{MEMBER}:user{user}",
            principal=writer,
            context={"iam:ResourceTag/rekey:rotate": "true"},
        )
        return decide(request, None, statements)

    assert create_key("/apps/svc-deploy") == "Allow"
    assert create_key("/admin") == "ImplicitDeny"  # tagged, but outside UserPathPrefix
    assert create_key("/ops/apps/x") == "ImplicitDeny"


def test_the_reader_neither_reads_a_stored_key_nor_creates_one() -> None:
    stack = spoke()
    reader = stack.resolve({"Fn::GetAtt": ["SpokeReaderRole", "Arn"]})
    statements = stack.role_statements("SpokeReaderRole")
    secret = f"arn:aws:secretsmanager:us-east-1:{MEMBER}:secret:rekey/svc-AbCdEf"
    user = f"arn:aws:iam::{MEMBER}:user/svc"
    context = {"iam:ResourceTag/rekey:rotate": "true"}
    for action, resource in [
        ("secretsmanager:GetSecretValue", secret),
        ("iam:CreateAccessKey", user),
        ("iam:UpdateAccessKey", user),
    ]:
        assert decide(Request(action, resource, principal=reader, context=context), None, statements) != "Allow"


# --------------------------------------------------------------------------- the hub decides


def test_an_operators_rotate_now_of_a_refused_user_is_refused_by_the_hub(
    managed_policies: None, org: Org, operator: Operator, assumed: list, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = privileged_org(org)
    org.client("iam", "payments").tag_user(UserName="admin", Tags=[{"Key": "rekey:rotate", "Value": "true"}])
    account = org.accounts["payments"]
    for user in ("admin", "iam-star", "deployer"):
        code, out, err = run_cli(capsys, "rotate-now", "--account", account, "--user", user, "--revoke-old")
        assert (code, out) == (1, "")
        assert err.startswith(f"rekey: refused: {user} is refused: it is privileged"), err
        assert org.keys("payments", user) == {keys[user][0]: "Active"}
        assert not secret_exists(org, "payments", f"rekey/{user}")
    # Decided in the hub: only its worker role entered the account as the writer, and the hub
    # announced each refusal, naming the caller it authenticated.
    assert {caller for role, _, caller in assumed if role == "rekey-spoke"} == {HUB_WORKER}
    assert operator.arn not in {caller for _, _, caller in assumed}
    rejected = org.events("rejected")
    assert {n["user_name"] for n in rejected} == {"admin", "iam-star", "deployer"}
    assert all(n["requested_by"] == operator.arn and operator.arn in n["message"] for n in rejected)


def test_an_operator_acts_only_on_its_accounts_and_ous(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    organizations = org.emulator.client("organizations")
    root = organizations.list_roots()["Roots"][0]["Id"]
    team = organizations.create_organizational_unit(ParentId=root, Name="team")["OrganizationalUnit"]["Id"]
    organizations.move_account(AccountId=org.accounts["sandbox"], SourceParentId=root, DestinationParentId=team)
    keys = {name: org.create_user(name, "svc", TAG)[0] for name in ("payments", "analytics", "sandbox")}
    oncall = become_operator(org, monkeypatch, scopes=f"{org.accounts['analytics']},{team}", role="oncall")

    for name in ("analytics", "sandbox"):  # named, and under the OU
        code, _, err = run_cli(capsys, "rotate-now", "--account", org.accounts[name], "--user", "svc")
        assert code == 0, err
    code, out, err = run_cli(capsys, "rotate-now", "--account", org.accounts["payments"], "--user", "svc")
    assert (code, out) == (1, "")
    assert err.strip() == (
        f"rekey: forbidden: {oncall.arn} may not act on account {org.accounts['payments']}: "
        f"REKEY_OPERATORS gives its role {','.join(sorted([org.accounts['analytics'], team]))}"
    )
    assert org.keys("payments", "svc") == {keys["payments"]: "Active"}
    (rejected,) = org.events("rejected")
    assert (rejected["account_id"], rejected["severity"]) == (org.accounts["payments"], "error")
    assert rejected["requested_by"] == oncall.arn

    # A role the hub does not name is no operator, whatever it may do in AWS.
    monkeypatch.setenv("REKEY_OPERATORS", f"arn:aws:iam::{em.MANAGEMENT_ACCOUNT}:role/someone-else=*")
    code, _, err = run_cli(capsys, "rollback", "--account", org.accounts["analytics"], "--user", "svc")
    assert code == 1 and err.strip() == (
        f"rekey: forbidden: {oncall.arn} is not an operator of this hub (REKEY_OPERATORS names the roles that are)"
    )
    assert org.events("rolled-back") == []
    refused = org.events("rejected")[-1]
    assert (refused["account_id"], refused["requested_by"]) == (em.MANAGEMENT_ACCOUNT, oncall.arn)  # the hub's


def test_a_body_claiming_another_requester_is_refused_and_names_the_authenticated_caller(
    org: Org, operator: Operator
) -> None:
    (key,) = org.create_user("payments", "svc", TAG)
    ciso = f"arn:aws:sts::{em.MANAGEMENT_ACCOUNT}:assumed-role/security/the-ciso"
    claim = {"command": "rotate-now", "account_id": org.accounts["payments"], "user_name": "svc"}
    for field in ("requested_by", "caller", "userArn"):
        status, answer = signed_post(
            os.environ["REKEY_OPERATOR_URL"], json.dumps({**claim, field: ciso}), operator.credentials
        )
        assert status == 400 and answer["error"] == "invalid-request"
        assert f"{field}: extra_forbidden" in answer["message"] and ciso not in answer["message"]
    assert org.keys("payments", "svc") == {key: "Active"}
    rejected = org.events("rejected")
    assert len(rejected) == 3 and all(n["requested_by"] == operator.arn for n in rejected)
    assert events_naming(org, "the-ciso") == []
    # The same request without the claim is carried out, and recorded as the authenticated caller.
    status, answer = signed_post(os.environ["REKEY_OPERATOR_URL"], json.dumps(claim), operator.credentials)
    assert (status, answer["status"]) == (200, "done")
    (rotated,) = org.events("rotated")
    assert rotated["requested_by"] == operator.arn


@pytest.mark.parametrize(
    "attack",
    ["tampered body", "wrong secret", "unknown key", "no signature", "another service", "ten minutes old", "no token"],
)
def test_a_bad_signature_is_refused_with_403_before_the_hub_sees_it(org: Org, operator: Operator, attack: str) -> None:
    (key,) = org.create_user("payments", "svc", TAG)
    body = json.dumps({"command": "rotate-now", "account_id": org.accounts["payments"], "user_name": "svc"})
    credentials = dict(operator.credentials)
    kwargs: dict[str, Any] = {}
    if attack == "tampered body":
        kwargs["tamper"] = body.replace('"svc"', '"admin"')
    elif attack == "wrong secret":
        credentials["SecretAccessKey"] = "x" * 40
    elif attack == "unknown key":
        credentials["AccessKeyId"] = "ASIAUNKNOWNKEY000000"
    elif attack == "another service":
        kwargs["service"] = "execute-api"
    elif attack == "ten minutes old":
        kwargs["signed_at"] = datetime.now(UTC) - timedelta(minutes=10)
    elif attack == "no token":
        credentials.pop("SessionToken")
    url = os.environ["REKEY_OPERATOR_URL"]
    if attack == "no signature":
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, data=body.encode(), method="POST"), timeout=30)
        status, answer = refused.value.code, json.loads(refused.value.read())
    else:
        status, answer = signed_post(url, body, credentials, **kwargs)
    assert (status, answer) == (403, {"Message": "Forbidden"})  # AWS's answer: the function never ran
    assert org.keys("payments", "svc") == {key: "Active"}
    assert org.notifications() == []


def test_a_caller_outside_the_organization_is_refused_with_403(
    org: Org, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (key,) = org.create_user("payments", "svc", TAG)
    # A role in an account of no organization, even one REKEY_OPERATORS would name: AWS refuses it
    # (the function's resource policy: aws:PrincipalOrgID), the function never runs.
    stranger = become_operator(org, monkeypatch, account="999988887777", role="intruder", scopes="*")
    assert stranger.arn.startswith("arn:aws:sts::999988887777:")
    code, _, err = run_cli(capsys, "rotate-now", "--account", org.accounts["payments"], "--user", "svc")
    assert code == 1 and err.startswith("rekey: forbidden: the hub's operator endpoint refused the request (403")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    for name, value in em.DUMMY_ENV.items():  # the emulator's own identity again, to look
        monkeypatch.setenv(name, value)
    assert org.keys("payments", "svc") == {key: "Active"} and org.notifications() == []


def test_a_bare_invocation_has_no_caller_and_does_nothing(org: Org) -> None:
    """Who invokes the function without its URL brings no authenticated caller: nothing the
    event says about a requester is believed (the stack grants InvokeFunction only through the URL)."""
    from rekey.handlers import operator as endpoint
    from rekey.runtime import Runtime
    from rekey.settings import Settings

    (key,) = org.create_user("payments", "svc", TAG)
    body = json.dumps({"command": "rotate-now", "account_id": org.accounts["payments"], "user_name": "svc"})
    rt = Runtime.build(Settings.from_env())
    for event in [{"body": body}, {"requestContext": {"authorizer": {"iam": {}}}, "body": body}]:
        answer = endpoint.process(event, rt)
        assert answer["statusCode"] in (400, 403)
    assert org.keys("payments", "svc") == {key: "Active"} and org.notifications() == []


# --------------------------------------------------------------------------- a plain user still rotates


def test_a_plain_tagged_user_rotates_and_rolls_back_through_the_cli(
    org: Org, operator: Operator, assumed: list, capsys: pytest.CaptureFixture[str]
) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    account = org.accounts["payments"]
    code, out, err = run_cli(capsys, "rotate-now", "--account", account, "--user", "svc", "--revoke-old")
    assert code == 0, err
    new = current_key(org, "payments", "svc")
    assert out.startswith(f"rotate-now {account}/svc: done: rotate; deactivate")
    assert org.keys("payments", "svc") == {old: "Inactive", new: "Active"}
    # The revoked key is never reactivated; a rollback still pauses the lifecycle, through the hub.
    code, _, err = run_cli(capsys, "rollback", "--account", account, "--user", "svc")
    assert code == 1 and "revoked by `rekey rotate-now --revoke-old`" in err
    (other,) = org.create_user("payments", "app", TAG)
    assert run_cli(capsys, "rotate-now", "--account", account, "--user", "app")[0] == 0
    code, out, err = run_cli(capsys, "rollback", "--account", account, "--user", "app")
    assert code == 0, err
    assert "paused until" in out and f"at the request of {operator.arn}" in out
    events = [n for n in org.events() if n["event"] in ("rotated", "deactivated", "rolled-back")]
    assert [n["event"] for n in events] == ["rotated", "deactivated", "rotated", "rolled-back"]
    assert all(n["requested_by"] == operator.arn for n in events)
    assert {caller for role, _, caller in assumed if role == "rekey-spoke"} == {HUB_WORKER}
    assert other in org.keys("payments", "app")


def test_the_cli_says_what_is_missing_in_one_line(
    org: Org, operator: Operator, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    org.create_user("payments", "svc", TAG)
    argv = ["rotate-now", "--account", org.accounts["payments"], "--user", "svc"]
    monkeypatch.delenv("REKEY_OPERATOR_URL")
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and err.strip() == (
        "rekey: REKEY_OPERATOR_URL is not set: rotate-now and rollback are carried out by the hub; "
        "set it to the hub stack's OperatorUrl output"
    )
    monkeypatch.setenv("REKEY_OPERATOR_URL", "http://127.0.0.1:9/")  # nothing listens there
    code, _, err = run_cli(capsys, *argv)
    assert code == 1 and err.startswith(
        "rekey: unavailable: cannot reach the hub's operator endpoint http://127.0.0.1:9/"
    )
    assert len(err.strip().splitlines()) == 1
    assert operator.credentials["SecretAccessKey"] not in err
