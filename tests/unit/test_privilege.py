"""Who rekey refuses: privileged users judged from their policy documents, the path prefix and
the required permissions boundary. Pure: no network."""

from __future__ import annotations

import pytest

from rekey.domain.privilege import Grants, Guard, PolicyDoc, aws_managed_name, powerful, privilege, refusal

USER = "arn:aws:iam::111122223333:user/apps/svc"


def allow(action: object, resource: object = "*", **extra: object) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}],
    }


@pytest.mark.parametrize(
    ("document", "verdict"),
    [
        (allow("*"), "allows * on *"),
        (allow("iam:*"), "allows iam:* on *"),
        (allow("IAM:CreateAccessKey"), "allows IAM:CreateAccessKey on *"),
        (allow(["s3:GetObject", "iam:Attach*"]), "allows iam:Attach* on *"),
        (allow("iam:Put*Policy"), "allows iam:Put*Policy on *"),
        (allow("iam:Create*"), "allows iam:Create* on *"),
        (allow("sts:AssumeRole"), "allows sts:AssumeRole on *"),
        (allow("iam:PassRole", "arn:aws:iam::111122223333:role/*"), "on arn:aws:iam::111122223333:role/*"),
        (allow("iam:PassRole", "arn:aws:iam::111122223333:role/app-*"), "on arn:aws:iam::111122223333:role/app-*"),
        (allow("iam:CreateAccessKey", "arn:aws:iam::*:user/*"), "on arn:aws:iam::*:user/*"),
        # PowerUserAccess's shape: everything but IAM, which still leaves sts:AssumeRole.
        (
            {"Statement": [{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}]},
            "allows sts:AssumeRole (through NotAction) on *",
        ),
        ({"Statement": {"Effect": "Allow", "Action": "iam:*", "NotResource": "arn:aws:iam::*:role/x"}}, "NotResource"),
        # Conditions are not credited: rekey cannot evaluate them for every request.
        (allow("iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}), "PassRole"),
        ('{"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}', "allows iam:* on *"),
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
        allow("sts:AssumeRole", "arn:aws:iam::111122223333:role/reporting"),  # one named role
        {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]},
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
