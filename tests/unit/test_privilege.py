"""Who rekey refuses: privileged users judged from their policy documents, the path prefix and
the required permissions boundary. Pure: no network."""

from __future__ import annotations

import pytest

from rekey.domain.privilege import (
    Grants,
    Guard,
    PolicyDoc,
    Role,
    aws_managed_name,
    may_be_assumed_from,
    powerful,
    privilege,
    refusal,
)

USER = "arn:aws:iam::111122223333:user/apps/svc"


def allow(action: object, resource: object = "*", **extra: object) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}],
    }


@pytest.mark.parametrize(
    ("document", "verdict"),
    [
        (allow("*"), "allows iam:CreateAccessKey on * (through *)"),
        (allow("iam:*"), "on * (through iam:*)"),
        (allow("IAM:CreateAccessKey"), "allows iam:CreateAccessKey on *, which is enough to mint"),
        (allow(["s3:GetObject", "iam:Attach*"]), "allows iam:AttachUserPolicy on * (through iam:Attach*)"),
        (allow("iam:Put*Policy"), "(through iam:Put*Policy)"),
        (allow("iam:Create*"), "(through iam:Create*)"),
        (allow("sts:AssumeRole"), "allows sts:AssumeRole on *"),
        (allow("iam:PassRole", "arn:aws:iam::111122223333:role/*"), "on arn:aws:iam::111122223333:role/*"),
        (allow("iam:PassRole", "arn:aws:iam::111122223333:role/app-*"), "on arn:aws:iam::111122223333:role/app-*"),
        (allow("iam:CreateAccessKey", "arn:aws:iam::*:user/*"), "on arn:aws:iam::*:user/*"),
        # PowerUserAccess's shape: everything but IAM, which still leaves sts:AssumeRole.
        (
            {"Statement": [{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}]},
            'allows sts:AssumeRole on * (through NotAction ["iam:*", "organizations:*"])',
        ),
        ({"Statement": {"Effect": "Allow", "Action": "iam:*", "NotResource": "arn:aws:iam::*:role/x"}}, "NotResource"),
        # Conditions are not credited: rekey cannot evaluate them for every request...
        (allow("iam:CreateAccessKey", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}), "CreateAccessKey"),
        # ...but for the services a role may be passed to, which a path needs.
        (
            allow(
                ["iam:PassRole", "ec2:RunInstances"], Condition={"StringLike": {"iam:PassedToService": "ec2.amazon*"}}
            ),
            "(CreateEC2WithExistingIP)",
        ),
        ('{"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}', "(through iam:*)"),
        # A Deny is credited only when it holds whatever the request.
        (
            {
                "Statement": [
                    {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "iam:*", "Resource": "arn:aws:iam::*:user/*"},
                ]
            },
            "(through iam:*)",
        ),
        (None, "could not be read"),
        ("{not json", "not valid JSON"),
    ],
)
def test_privileged_documents(document: object, verdict: str) -> None:
    why = powerful(document)  # type: ignore[arg-type]
    assert why is not None and verdict in why


@pytest.mark.parametrize(
    "document",
    [
        allow("s3:*"),
        allow(["iam:Get*", "iam:List*"]),  # reading IAM grants nothing
        allow("iam:CreateAccessKey", "arn:aws:iam::*:user/${aws:username}"),  # self-service keys
        allow("iam:UpdateLoginProfile", "arn:aws:iam::111122223333:user/${aws:username}"),
        allow("sts:AssumeRole", "arn:aws:iam::111122223333:role/reporting"),  # one named role, judged by its own
        {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]},
        # A role passed only to services with no path (AmazonDynamoDBFullAccess's shape).
        allow(["iam:PassRole", "lambda:CreateFunction"], Condition={"StringLike": {"iam:PassedToService": "dax.*"}}),
        # BishopFox iam-vulnerable fp1 and fp2: an unconditional Deny on every resource wins.
        {
            "Statement": [
                {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
            ]
        },
        # iam-vulnerable fp4: AWS managed policies cannot be changed.
        allow("iam:CreatePolicyVersion", "arn:aws:iam::aws:policy/fp4-*"),
        # Self-service of one's own credentials, wherever the account part.
        allow(
            ["iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeactivateMFADevice"],
            "arn:aws:iam::*:user/${aws:username}",
        ),
        allow("iam:EnableMFADevice", "arn:aws:iam::*:mfa/${aws:username}"),
        {"Statement": [{"Effect": "Allow", "NotAction": "*", "Resource": "*"}]},
        {"Statement": []},
    ],
)
def test_unprivileged_documents(document: dict[str, object]) -> None:
    assert powerful(document) is None


def test_the_first_privileged_policy_is_named() -> None:
    grants = Grants(
        policies=(
            PolicyDoc("inline policy 'read'", allow("s3:GetObject", "arn:aws:s3:::r/*")),
            PolicyDoc("group 'ops''s policy AdministratorAccess", None, known="is AdministratorAccess"),
        )
    )
    assert privilege(grants) == "group 'ops''s policy AdministratorAccess is AdministratorAccess"
    assert privilege(Grants()) is None


def test_refusal_says_why_and_how_to_allow() -> None:
    admin = Grants(policies=(PolicyDoc("inline policy 'ops'", allow("iam:*")),))
    why = refusal(USER, "111122223333", admin, Guard())
    assert why is not None and "privileged" in why and "REKEY_PRIVILEGED_USERS_ALLOWED" in why
    assert refusal(USER, "111122223333", admin, Guard(allowed_privileged=frozenset({USER}))) is None
    assert refusal(USER, "111122223333", Grants(), Guard()) is None


def test_the_path_prefix_and_the_required_boundary() -> None:
    guard = Guard(path_prefix="/apps/", required_boundary="arn:aws:iam::{account_id}:policy/rekey-boundary")
    bounded = Grants(path="/apps/", boundary_arn="arn:aws:iam::111122223333:policy/rekey-boundary")
    assert refusal(USER, "111122223333", bounded, guard) is None
    outside = refusal(USER, "111122223333", Grants(path="/people/", boundary_arn=bounded.boundary_arn), guard)
    assert outside is not None and "REKEY_USER_PATH_PREFIX=/apps/" in outside
    unbounded = refusal(USER, "111122223333", Grants(path="/apps/"), guard)
    assert unbounded is not None and "has no permissions boundary" in unbounded
    other = refusal(USER, "444455556666", bounded, guard)  # the boundary of another account
    assert other is not None and "arn:aws:iam::444455556666:policy/rekey-boundary" in other
    # An allowed privileged user still needs the boundary.
    admin = Grants(path="/apps/", policies=(PolicyDoc("p", allow("*")),))
    assert refusal(USER, "111122223333", admin, Guard(frozenset({USER}), "/apps/", guard.required_boundary))


def test_aws_managed_policy_names() -> None:
    assert aws_managed_name("arn:aws:iam::aws:policy/AdministratorAccess") == "AdministratorAccess"
    assert aws_managed_name("arn:aws-cn:iam::aws:policy/job-function/NetworkAdministrator") == "NetworkAdministrator"
    assert aws_managed_name("arn:aws:iam::111122223333:policy/AdministratorAccess") is None


# Issue 27: what an attacker found. Each case is a policy the public privilege-escalation
# catalogues call escalating (Rhino Security Labs' methods, BishopFox iam-vulnerable's paths,
# cloudsplaining's and prowler's methods, which follow DataDog's pathfinding.cloud) or an IAM
# wildcard the parser read wrongly; the user holding it must be refused.
ACCOUNT = "111122223333"


def managed(name: str) -> dict[str, object]:
    """An AWS managed policy's document, as moto ships it."""
    import json

    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)[name]["Document"]  # type: ignore[no-any-return]


def judged(*documents: object) -> str | None:
    grants = Grants(policies=tuple(PolicyDoc(f"policy {i}", d) for i, d in enumerate(documents)))  # type: ignore[arg-type]
    return refusal(USER, ACCOUNT, grants, Guard())


ATTACKS = {
    "ec2 instance connect": allow(["ec2:DescribeInstances", "ec2-instance-connect:SendSSHPublicKey"]),
    "ec2 serial console": allow("ec2-instance-connect:SendSerialConsoleSSHPublicKey"),
    "ssm send command": allow(["ec2:DescribeInstances", "ssm:SendCommand"]),
    "ssm start session": allow("ssm:StartSession"),
    "lambda update code": allow("lambda:UpdateFunctionCode"),
    "lambda update configuration": allow("lambda:UpdateFunctionConfiguration"),
    "glue update dev endpoint": allow(["glue:UpdateDevEndpoint", "glue:GetDevEndpoint"]),
    "sagemaker presigned notebook url": allow("sagemaker:CreatePresignedNotebookInstanceUrl"),
    "cloudformation change set": allow(["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"]),
    "cloudformation update stack": allow(["cloudformation:UpdateStack", "cloudformation:DescribeStacks"]),
    "codebuild start build": allow("codebuild:StartBuild"),
    "ecs execute command": allow("ecs:ExecuteCommand"),
    "user data": allow(["ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:StartInstances"]),
    "launch template": allow(["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"]),
    "question-mark wildcard": allow("iam:CreateAccessKey", "arn:aws:iam::111122223333:user/?????"),
    "wildcard account": allow("sts:AssumeRole", "arn:aws:iam::*:role/OrganizationAccountAccessRole"),
    "another account's named role": allow("sts:AssumeRole", "arn:aws:iam::444455556666:role/deploy"),
    "principal tag variable": allow("iam:CreateAccessKey", "arn:aws:iam::111122223333:user/${aws:PrincipalTag/team}"),
    "user id variable": allow("iam:UpdateLoginProfile", "arn:aws:iam::111122223333:user/${aws:userid}"),
    "put policy on itself": allow("iam:PutUserPolicy", "arn:aws:iam::*:user/${aws:username}"),
    "attach policy to itself": allow("iam:AttachUserPolicy", "arn:aws:iam::111122223333:user/apps/svc"),
    "another user's key": allow("iam:CreateAccessKey", "arn:aws:iam::111122223333:user/admin"),
    "update access key": allow("iam:UpdateAccessKey"),
    "service specific credential": allow("iam:CreateServiceSpecificCredential"),
    "ssh public key": allow("iam:UploadSSHPublicKey"),
    "signing certificate": allow("iam:UploadSigningCertificate"),
    "mfa": allow(["iam:DeactivateMFADevice", "iam:EnableMFADevice"]),
    "saml provider": allow("iam:UpdateSAMLProvider"),
    "oidc provider": allow("iam:CreateOpenIDConnectProvider"),
    "detach policy": allow("iam:DetachUserPolicy"),
    "delete role policy": allow("iam:DeleteRolePolicy"),
    "leave a group": allow("iam:RemoveUserFromGroup"),
    "identity center": allow("sso:*"),
    "identity center assignment": allow("sso:CreateAccountAssignment"),
    "identity store group": allow("identitystore:CreateGroupMembership"),
    "assume root": allow("sts:AssumeRoot"),
    "broad NotAction": {
        "Statement": [{"Effect": "Allow", "NotAction": ["iam:*", "sts:*", "organizations:*"], "Resource": "*"}]
    },
    "NotAction sparing the keys": {
        "Statement": [{"Effect": "Allow", "NotAction": ["iam:Update*", "iam:Create*", "iam:Attach*"], "Resource": "*"}]
    },
    "pass role and run": allow(["iam:PassRole", "ec2:RunInstances"]),
    "statement that is not an object": {"Statement": ["iam:*"]},
    "action that is not a string": {"Statement": [{"Effect": "Allow", "Action": {"iam": "*"}, "Resource": "*"}]},
    "SecretsManagerReadWrite": managed("SecretsManagerReadWrite"),
    "AWSCloudFormationFullAccess": managed("AWSCloudFormationFullAccess"),
    "AmazonEC2FullAccess": managed("AmazonEC2FullAccess"),
    "EC2InstanceConnect": managed("EC2InstanceConnect"),
    "AWSGlueServiceRole": managed("AWSGlueServiceRole"),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_every_catalogued_attack_is_refused(name: str) -> None:
    why = judged(ATTACKS[name])
    assert why is not None and "it is privileged" in why, name


def test_a_path_split_across_two_policies_is_refused() -> None:
    """BishopFox iam-vulnerable fn1: RunInstances in one policy, PassRole in another."""
    assert judged(allow(["ec2:DescribeInstances", "ec2:RunInstances"]), allow("iam:PassRole")) is not None


# Over-refusal has a cost too: a refused user keeps a stale key. Data-plane users, and
# self-service of one's own credentials, still rotate.
DATA_PLANE = (
    "ReadOnlyAccess",
    "SecurityAudit",
    "AmazonS3FullAccess",
    "AmazonSQSFullAccess",
    "AmazonSNSFullAccess",
    "AmazonKinesisFullAccess",
    "AmazonDynamoDBFullAccess",
    "IAMUserChangePassword",
    "IAMSelfManageServiceSpecificCredentials",
    "IAMUserSSHKeys",
    "IAMReadOnlyAccess",
)


@pytest.mark.parametrize("name", DATA_PLANE)
def test_data_plane_users_still_rotate(name: str) -> None:
    assert judged(managed(name)) is None


def test_all_data_plane_policies_together_still_rotate() -> None:
    assert judged(*(managed(n) for n in DATA_PLANE)) is None


def trust(*principals: object) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": list(principals)}}],
    }


ROLE = f"arn:aws:iam::{ACCOUNT}:role/ops"
ADMIN = PolicyDoc("attached policy AdministratorAccess", None, known="is AdministratorAccess")
READ = PolicyDoc("inline policy 'read'", allow("s3:GetObject"))


def with_roles(*roles: Role, policies: tuple[PolicyDoc, ...] = ()) -> str | None:
    return refusal(USER, ACCOUNT, Grants(policies=policies, roles=roles), Guard())


def test_a_role_whose_trust_names_the_user_counts_with_its_policies() -> None:
    why = with_roles(Role(ROLE, trust(USER), (ADMIN,)))
    assert why is not None
    assert f"it can assume role {ROLE} (its trust policy names the user); there, attached policy" in why
    assert with_roles(Role(ROLE, trust(USER), (READ,))) is None
    # Its policies unreadable: fails closed.
    assert with_roles(Role(ROLE, trust(USER), (PolicyDoc("attached policy x", None),))) is not None
    # Named by its unique name, whatever the path in the trust policy.
    assert with_roles(Role(ROLE, trust(f"arn:aws:iam::{ACCOUNT}:user/svc"), (ADMIN,))) is not None
    # Another user, or the same name in another account, is not the user.
    assert with_roles(Role(ROLE, trust(f"arn:aws:iam::{ACCOUNT}:user/bob"), (ADMIN,))) is None
    assert with_roles(Role(ROLE, trust("arn:aws:iam::444455556666:user/apps/svc"), (ADMIN,))) is None


def test_a_role_trusting_anyone_or_unreadable_counts() -> None:
    assert with_roles(Role(ROLE, trust("*"), (ADMIN,))) is not None
    anyone = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*"}]}
    assert with_roles(Role(ROLE, anyone, (ADMIN,))) is not None
    why = with_roles(Role(ROLE, "{not json", (ADMIN,)))
    assert why is not None and "could not be read" in why
    services = {
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}]
    }
    assert with_roles(Role(ROLE, services, (ADMIN,))) is None


def test_a_role_trusting_the_account_counts_when_the_user_may_assume_it() -> None:
    """IAM: a trust policy naming the account delegates to the account's identity policies."""
    role = Role(ROLE, trust(f"arn:aws:iam::{ACCOUNT}:root"), (ADMIN,))
    assert with_roles(role) is None
    may = PolicyDoc("inline policy 'hop'", allow("sts:AssumeRole", ROLE))
    why = with_roles(role, policies=(may,))
    assert why is not None and "inline policy 'hop' allows sts:AssumeRole on it" in why
    assert with_roles(Role(ROLE, trust(ACCOUNT), (ADMIN,)), policies=(may,)) is not None
    # One named role that does not trust the account is judged by nothing: not privileged.
    assert (
        with_roles(
            Role(f"arn:aws:iam::{ACCOUNT}:role/other", trust(f"arn:aws:iam::{ACCOUNT}:root"), (ADMIN,)), policies=(may,)
        )
        is None
    )


def test_roles_chain_as_bishopfox_iam_vulnerable_privesc_assume_role() -> None:
    start, middle, end = (f"arn:aws:iam::{ACCOUNT}:role/{n}" for n in ("start", "middle", "end"))
    roles = (
        Role(end, trust(middle), (PolicyDoc("attached policy high-priv", allow("*")),)),
        Role(middle, trust(start)),
        Role(start, trust(USER)),
    )
    why = with_roles(*roles)
    assert why is not None
    assert f"it can assume role {start}" in why and f"which can assume role {middle}" in why
    assert f"which can assume role {end} (its trust policy names role middle); there, attached policy high-priv" in why


def test_which_roles_are_read() -> None:
    assert may_be_assumed_from(trust(USER), ACCOUNT)
    assert may_be_assumed_from(trust(ACCOUNT), ACCOUNT)
    assert may_be_assumed_from(trust("*"), ACCOUNT)
    assert may_be_assumed_from(None, ACCOUNT)
    assert not may_be_assumed_from(trust("arn:aws:iam::444455556666:root"), ACCOUNT)
    assert not may_be_assumed_from(
        {
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
            ]
        },
        ACCOUNT,
    )
