"""The trust boundary, played as an attacker inside a member account would: nobody can use rekey
to mint, read or kill someone else's keys. Each test is an attack that worked before rekey
refused privileged users, gave overrides floors, took authority away from the queue, bounded
its own state and stopped adopting foreign secrets; a plain tagged user rotates beside them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from rekey_dev import emulator as em
from rekey_dev.authz import enforced

from rekey.domain import errors
from rekey.handlers import worker
from rekey.messages import WorkItem
from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases import operator
from rekey.use_cases.work import run_work_item
from tests.conftest import Org, drain_work
from tests.operators import OUT_OF_SCOPE, TAG, later, put_out_of_scope, run_day, run_json, secret_tags

ADMIN_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
# The caller the hub authenticated, for the operators' use cases called directly.
OPERATOR = f"arn:aws:sts::{em.MANAGEMENT_ACCOUNT}:assumed-role/platform-operators/alice"
IAM_STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
PASS_ANY_ROLE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}
READ_BUCKET = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


MANAGED = (
    "AdministratorAccess",
    "AmazonS3ReadOnlyAccess",
    "AmazonDynamoDBFullAccess",
    "AmazonSQSFullAccess",
    "SecretsManagerReadWrite",
    "AmazonEC2FullAccess",
)


@pytest.fixture
def managed_policies(org: Org) -> None:
    """A few AWS managed policies, as moto ships them, in the member accounts (loading all of
    them, MOTO_IAM_LOAD_MANAGED_POLICIES, makes every reset take seconds)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, iam_backends

    data = json.loads(aws_managed_policies_data)
    for account_id in org.accounts.values():
        backend = iam_backends[account_id]["global"]
        for name in MANAGED:
            policy = AWSManagedPolicy.from_data(name, account_id, backend.region_name, data[name])
            backend.aws_managed_policies.append(policy)
            backend.managed_policies[policy.arn] = policy


def rt_from_env() -> Runtime:
    rt = Runtime.build(Settings.from_env())
    rt.sleep = lambda _seconds: None
    return rt


def attacker_tags(org: Org, account: str, victim: str) -> None:
    """A principal whose only permission is iam:TagUser opts `victim` in, with IAM enforced."""
    iam = org.client("iam", account)
    iam.create_user(UserName="tagger")
    iam.put_user_policy(
        UserName="tagger",
        PolicyName="tag-only",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:TagUser", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="tagger")["AccessKey"]
    tagger = boto3.client(
        "iam",
        region_name=em.REGION,
        endpoint_url=org.emulator.url,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    with enforced(org.emulator):
        tagger.tag_user(UserName=victim, Tags=[{"Key": "rekey:rotate", "Value": "true"}])
        with pytest.raises(tagger.exceptions.ClientError):  # it really may do nothing else
            tagger.create_access_key(UserName=victim)
    iam.delete_access_key(UserName="tagger", AccessKeyId=key["AccessKeyId"])


def secret_exists(org: Org, account: str, name: str) -> bool:
    try:
        org.client("secretsmanager", account).describe_secret(SecretId=name)
    except org.client("secretsmanager", account).exceptions.ResourceNotFoundException:
        return False
    return True


def privileged_org(org: Org) -> dict[str, list[str]]:
    """In `payments`: an administrator (AWS managed policy), a user with an inline iam:*, one
    whose group may pass any role, and a plain application user. Returns their keys."""
    iam = org.client("iam", "payments")
    keys = {"admin": org.create_user("payments", "admin")}
    iam.attach_user_policy(UserName="admin", PolicyArn=ADMIN_ACCESS)
    keys["iam-star"] = org.create_user("payments", "iam-star", TAG)
    iam.put_user_policy(UserName="iam-star", PolicyName="ops", PolicyDocument=json.dumps(IAM_STAR))
    keys["deployer"] = org.create_user("payments", "deployer", TAG)
    iam.create_group(GroupName="deployers")
    iam.put_group_policy(GroupName="deployers", PolicyName="pass", PolicyDocument=json.dumps(PASS_ANY_ROLE))
    iam.add_user_to_group(GroupName="deployers", UserName="deployer")
    keys["app"] = org.create_user("payments", "app", TAG)
    iam.put_user_policy(UserName="app", PolicyName="read", PolicyDocument=json.dumps(READ_BUCKET))
    iam.attach_user_policy(UserName="app", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    return keys


def test_a_tag_does_not_make_rekey_mint_keys_for_privileged_users(
    managed_policies: None, org: Org, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = privileged_org(org)
    attacker_tags(org, "payments", "admin")
    org.age(91)
    run_day(rt_from_env())

    for user in ("admin", "iam-star", "deployer"):
        assert org.keys("payments", user) == {keys[user][0]: "Active"}, user  # untouched
        assert not secret_exists(org, "payments", f"rekey/{user}"), user
    refused = {n["user_name"]: n for n in org.events("refused")}
    assert set(refused) == {"admin", "iam-star", "deployer"}
    assert all(n["severity"] == "error" and "REKEY_PRIVILEGED_USERS_ALLOWED" in n["message"] for n in refused.values())
    assert "AdministratorAccess" in refused["admin"]["message"]
    assert "iam:*" in refused["iam-star"]["message"]
    assert "group 'deployers'" in refused["deployer"]["message"] and "iam:PassRole" in refused["deployer"]["message"]
    # A plain tagged user rotates beside them.
    assert len(org.keys("payments", "app")) == 2 and secret_exists(org, "payments", "rekey/app")
    assert {n["user_name"] for n in org.events("rotated")} == {"app"}
    # The plan shows who is refused and plans nothing for them.
    _, plan = run_json(capsys, "plan", "--days", "30")
    assert {r["user_name"] for r in plan["refused"]} == {"admin", "iam-star", "deployer"}
    assert {a["user_name"] for a in plan["actions"]} <= {"app"}


def test_create_first_key_never_gives_a_console_only_administrator_a_key(
    managed_policies: None, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REKEY_CREATE_FIRST_KEY", "true")
    org.create_user("payments", "console-admin", TAG, keys=0)
    org.client("iam", "payments").attach_user_policy(UserName="console-admin", PolicyArn=ADMIN_ACCESS)
    org.create_user("payments", "new-app", TAG, keys=0)
    run_day(rt_from_env())
    assert org.keys("payments", "console-admin") == {}
    assert len(org.keys("payments", "new-app")) == 1
    (refused,) = org.events("refused")
    assert refused["user_name"] == "console-admin"


def test_an_allowed_exception_is_rotated(managed_policies: None, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = privileged_org(org)
    org.client("iam", "payments").tag_user(UserName="admin", Tags=[{"Key": "rekey:rotate", "Value": "true"}])
    admin_arn = f"arn:aws:iam::{org.accounts['payments']}:user/admin"
    monkeypatch.setenv("REKEY_PRIVILEGED_USERS_ALLOWED", admin_arn)
    org.age(91)
    run_day(rt_from_env())
    assert len(org.keys("payments", "admin")) == 2 and keys["admin"][0] in org.keys("payments", "admin")
    assert {n["user_name"] for n in org.events("refused")} == {"iam-star", "deployer"}


def test_every_path_refuses_a_privileged_user(
    managed_policies: None, org: Org, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue, the classic manual event (switched on) and an operator's rotate-now (the hub's
    use case): each re-judges."""
    monkeypatch.setenv("REKEY_CLASSIC_EVENT", "true")
    keys = privileged_org(org)
    org.client("iam", "payments").tag_user(UserName="admin", Tags=[{"Key": "rekey:rotate", "Value": "true"}])
    org.age(91)
    rt = rt_from_env()
    account = org.accounts["payments"]
    forged = WorkItem(account_id=account, user_name="admin", key_id=keys["admin"][0], action="rotate", sweep_id="x")
    assert run_work_item(rt, forged).status == "rejected"
    manual = {"action": "create", "username": "iam-star", "account_id": account}
    assert worker.process(manual, rt)["status"] == "rejected"
    with pytest.raises(errors.Refused, match="is refused: it is privileged"):
        operator.rotate_now(rt, OPERATOR, account, "deployer", revoke_old=True)
    for user in ("admin", "iam-star", "deployer"):
        assert org.keys("payments", user) == {keys[user][0]: "Active"}, user
    assert {n["user_name"] for n in org.events("refused")} == {"admin", "iam-star"}


def send_raw(org: Org, rt: Runtime, body: dict[str, Any]) -> None:
    org.emulator.client("sqs").send_message(
        QueueUrl=rt.settings.work_queue_url,
        MessageBody=json.dumps(body),
        MessageGroupId=f"{body['account_id']}/{body['user_name']}",
        MessageDeduplicationId=json.dumps(body, sort_keys=True)[:128].replace(" ", ""),
    )


def test_the_work_queue_carries_no_authority(org: Org) -> None:
    """An item claiming to be an operator's request that revokes a young key, requested by the
    CISO, is refused as malformed: operators ask the hub, which authenticates them."""
    (young,) = org.create_user("payments", "svc", TAG)
    rt = rt_from_env()
    account = org.accounts["payments"]
    base = {"account_id": account, "user_name": "svc", "key_id": young, "action": "rotate", "sweep_id": "forged"}
    send_raw(org, rt, {**base, "manual": True, "revoke_old": True, "requested_by": "the CISO"})
    drain_work(rt)
    assert org.keys("payments", "svc") == {young: "Active"}
    assert not org.events("rotated") and not org.events("deactivated")
    assert any("malformed work item" in n["message"] for n in org.events("rejected"))
    assert not any("CISO" in n["message"] for n in org.notifications())


@pytest.mark.parametrize("where", OUT_OF_SCOPE)
def test_items_for_accounts_outside_rekeys_scope_are_refused(
    org: Org, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    account = put_out_of_scope(org, monkeypatch, where)
    org.age(91)
    rt = rt_from_env()
    outcome = run_work_item(
        rt, WorkItem(account_id=account, user_name="svc", key_id=old, action="rotate", sweep_id="x")
    )
    assert outcome.status == "rejected"
    assert org.keys("payments", "svc") == {old: "Active"}
    (rejected,) = org.events("rejected")
    assert rejected["severity"] == "error" and "refused" in rejected["message"]


def test_a_pause_written_by_hand_does_not_stop_the_lifecycle(org: Org) -> None:
    (k1,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    rt = rt_from_env()
    run_day(rt)
    sm = org.client("secretsmanager", "payments")
    sm.tag_resource(SecretId="rekey/svc", Tags=[{"Key": "rekey:paused-until", "Value": "2099-12-31"}])
    org.age(10)
    run_day(rt)
    assert org.keys("payments", "svc")[k1] == "Inactive"  # deactivated on schedule despite the "pause"
    (misconfigured,) = org.events("misconfigured")
    assert "2099-12-31" in misconfigured["message"] and "REKEY_MAX_PAUSE_DAYS" in misconfigured["message"]


def test_an_exemption_past_its_maximum_is_ignored_and_announced(org: Org) -> None:
    (old,) = org.create_user("payments", "svc", {**TAG, "rekey:exempt-until": "2099-12-31"})
    org.age(91)
    run_day(rt_from_env())
    assert old in org.keys("payments", "svc")
    (misconfigured,) = org.events("misconfigured")
    assert "REKEY_MAX_EXEMPT_DAYS" in misconfigured["message"]


def test_rollback_never_reactivates_a_key_revoked_as_leaked(org: Org) -> None:
    (leaked,) = org.create_user("payments", "svc", TAG)
    rt = rt_from_env()
    account = org.accounts["payments"]
    org.age(1)
    assert operator.rotate_now(rt, OPERATOR, account, "svc", revoke_old=True).status == "done"
    assert org.keys("payments", "svc")[leaked] == "Inactive"
    assert leaked in secret_tags(org, "payments", "rekey/svc")["rekey:revoked-keys"].split()
    with pytest.raises(errors.Refused, match="revoked by `rekey rotate-now --revoke-old`"):
        operator.rollback(later(rt, 0), OPERATOR, account, "svc", until=(datetime.now(UTC) + timedelta(days=2)).date())
    assert org.keys("payments", "svc")[leaked] == "Inactive"


def trust(*principals: str) -> str:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": list(principals)}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def allow(actions: list[str], resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}
    )


def test_a_user_who_can_assume_a_privileged_role_is_refused(
    managed_policies: None, org: Org, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 27: role trust policies that name the user were never read. BishopFox
    iam-vulnerable's sre (a role trusting the user, with an administrator's policy) and
    privesc-AssumeRole (a chain of three roles), and a role trusting the account that the
    user's own policy lets it assume; the worker judges them again, and a plain user rotates."""
    iam = org.client("iam", "payments")
    account = org.accounts["payments"]
    arn = f"arn:aws:iam::{account}"
    keys = {u: org.create_user("payments", u, TAG) for u in ("sre", "hopper", "deployer", "app", "reader")}
    iam.create_role(RoleName="sre-admin", AssumeRolePolicyDocument=trust(f"{arn}:user/sre"))
    iam.attach_role_policy(RoleName="sre-admin", PolicyArn=ADMIN_ACCESS)
    for role, trusted in (
        ("start", f"{arn}:user/hopper"),
        ("middle", f"{arn}:role/start"),
        ("end", f"{arn}:role/middle"),
    ):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(trusted))
    iam.put_role_policy(RoleName="end", PolicyName="high-priv", PolicyDocument=allow(["*"]))
    iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=trust(f"{arn}:root"))
    iam.put_role_policy(RoleName="deploy", PolicyName="ops", PolicyDocument=allow(["iam:*"]))
    iam.put_user_policy(
        UserName="deployer", PolicyName="hop", PolicyDocument=allow(["sts:AssumeRole"], f"{arn}:role/deploy")
    )
    # A role that trusts the user but can do nothing that escalates; and one trusting a service.
    iam.create_role(RoleName="reports", AssumeRolePolicyDocument=trust(f"{arn}:user/reader"))
    iam.attach_role_policy(RoleName="reports", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    lambda_trust = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
    iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Statement": [lambda_trust]}))
    iam.attach_role_policy(RoleName="fn", PolicyArn=ADMIN_ACCESS)
    iam.put_user_policy(UserName="app", PolicyName="read", PolicyDocument=json.dumps(READ_BUCKET))
    org.age(91)
    rt = rt_from_env()
    run_day(rt)

    refused = {n["user_name"]: n["message"] for n in org.events("refused")}
    assert set(refused) == {"sre", "hopper", "deployer"}
    assert f"it can assume role {arn}:role/sre-admin (its trust policy names the user)" in refused["sre"]
    assert "AdministratorAccess" in refused["sre"]
    assert f"which can assume role {arn}:role/end (its trust policy names role middle); there" in refused["hopper"]
    assert "inline policy 'hop' allows sts:AssumeRole on it" in refused["deployer"]
    for user in ("sre", "hopper", "deployer"):
        assert org.keys("payments", user) == {keys[user][0]: "Active"}, user
    assert {n["user_name"] for n in org.events("rotated")} == {"app", "reader"}
    # The worker judges the roles again: an item naming a refused user is rejected.
    forged = WorkItem(account_id=account, user_name="sre", key_id=keys["sre"][0], action="rotate", sweep_id="x")
    assert run_work_item(rt, forged).status == "rejected"
    assert org.keys("payments", "sre") == {keys["sre"][0]: "Active"}


# Issue 27's attacks that minted a key, each as a tagged user's policy, beside data-plane users.
CATALOGUE_USERS = {
    "instance-connect": ["ec2:DescribeInstances", "ec2-instance-connect:SendSSHPublicKey"],
    "ssm-command": ["ssm:SendCommand"],
    "ssm-session": ["ssm:StartSession"],
    "lambda-code": ["lambda:UpdateFunctionCode"],
    "glue-endpoint": ["glue:UpdateDevEndpoint"],
    "notebook-url": ["sagemaker:CreatePresignedNotebookInstanceUrl"],
    "codebuild": ["codebuild:StartBuild"],
    "sso": ["sso:*"],
    "access-key-status": ["iam:UpdateAccessKey"],
}


def test_catalogued_escalations_are_refused_and_data_plane_users_still_rotate(managed_policies: None, org: Org) -> None:
    iam = org.client("iam", "payments")
    keys = {}
    for user, actions in CATALOGUE_USERS.items():
        keys[user] = org.create_user("payments", user, TAG)
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=allow(actions))
    keys["five"] = org.create_user("payments", "five", TAG)  # `?` wildcards: user/????? is any 5-letter user
    iam.put_user_policy(
        UserName="five", PolicyName="p", PolicyDocument=allow(["iam:CreateAccessKey"], "arn:aws:iam::*:user/?????")
    )
    for user, policy in (("secrets-admin", "SecretsManagerReadWrite"), ("ec2-admin", "AmazonEC2FullAccess")):
        keys[user] = org.create_user("payments", user, TAG)
        iam.attach_user_policy(UserName=user, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
    data = {"tables": "AmazonDynamoDBFullAccess", "queues": "AmazonSQSFullAccess", "bucket": "AmazonS3ReadOnlyAccess"}
    for user, policy in data.items():
        org.create_user("payments", user, TAG)
        iam.attach_user_policy(UserName=user, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
    org.age(91)
    run_day(rt_from_env())

    refused = {n["user_name"]: n["message"] for n in org.events("refused")}
    assert set(refused) == set(keys)
    for user in keys:
        assert org.keys("payments", user) == {keys[user][0]: "Active"}, user
    assert "ec2-instance-connect:SendSSHPublicKey" in refused["instance-connect"]
    assert "attached policy SecretsManagerReadWrite allows" in refused["secrets-admin"]
    assert {n["user_name"] for n in org.events("rotated")} == set(data)
