"""Adapters against stub clients: paging and error translation (no network)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.paginate import Paginator
from botocore.session import get_session

from rekey.adapters.errors import aws_call
from rekey.adapters.organizations import OrganizationsAdapter
from rekey.domain import errors


def botocore_paginator(service: str, method: Callable[..., dict[str, Any]]) -> Paginator:
    """botocore's own paginator over a stub client's method, configured as for the real service
    (what `client.get_paginator` returns)."""
    session = get_session()
    model = session.get_service_model(service)
    operation = {xform_name(name): name for name in model.operation_names}[method.__name__]
    config = session.get_paginator_model(service).get_paginator(operation)
    return Paginator(method, config, model.operation_model(operation))


class PagedOrganizations:
    """ListAccounts pages as AWS may return them: empty pages while a NextToken remains."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.tokens: list[str | None] = []

    def get_paginator(self, operation: str) -> Paginator:
        return botocore_paginator("organizations", getattr(self, operation))

    def list_accounts(self, **kwargs: Any) -> dict[str, Any]:
        self.tokens.append(kwargs.get("NextToken"))
        return self.pages[len(self.tokens) - 1]


def account(n: int, state: str) -> dict[str, str]:
    return {"Id": f"{n:012d}", "Name": f"acct-{n}", "State": state, "Status": "ACTIVE" if state == "ACTIVE" else state}


def test_all_pages_are_read_and_only_active_accounts_kept() -> None:
    client = PagedOrganizations(
        [
            {"Accounts": [], "NextToken": "t1"},
            {"Accounts": [account(1, "ACTIVE"), account(2, "SUSPENDED")], "NextToken": "t2"},
            {"Accounts": [], "NextToken": "t3"},
            {"Accounts": [account(3, "PENDING_CLOSURE"), account(4, "CLOSED"), account(5, "ACTIVE")]},
        ]
    )
    accounts = OrganizationsAdapter(client).active_accounts()
    assert [a.account_id for a in accounts] == ["000000000001", "000000000005"]
    assert client.tokens == [None, "t1", "t2", "t3"]


def test_the_deprecated_status_field_is_still_understood() -> None:
    client = PagedOrganizations([{"Accounts": [{"Id": "000000000009", "Name": "old", "Status": "ACTIVE"}]}])
    assert [a.account_id for a in OrganizationsAdapter(client).active_accounts()] == ["000000000009"]


def client_error(code: str, status: int, message: str = "m") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AccessDenied", 403, errors.AccessDenied),
        ("AccessDeniedException", 400, errors.AccessDenied),
        ("NoSuchEntity", 404, errors.NotFound),
        ("ResourceNotFoundException", 400, errors.NotFound),
        ("Throttling", 400, errors.Throttled),
        ("TooManyRequestsException", 429, errors.Throttled),
        ("LimitExceeded", 409, errors.LimitExceeded),
        ("ResourceExistsException", 400, errors.Conflict),
        ("SomethingNew", 503, errors.Unavailable),
        ("SomethingNew", 400, errors.RekeyError),
    ],
)
def test_aws_error_codes_become_domain_errors(code: str, status: int, expected: type) -> None:
    with pytest.raises(expected) as raised, aws_call("iam:CreateAccessKey"):
        raise client_error(code, status)
    assert type(raised.value) is expected
    assert str(raised.value).startswith("iam:CreateAccessKey: ")


def test_only_denials_carry_the_aws_message() -> None:
    with pytest.raises(errors.AccessDenied, match="not authorized to perform"), aws_call("x"):
        raise client_error("AccessDenied", 403, "User arn:... is not authorized to perform iam:CreateAccessKey")
    # Validation messages may echo request values (a secret string): never copied.
    with pytest.raises(errors.InvalidRequest) as raised, aws_call("secretsmanager:PutSecretValue"):
        raise client_error("InvalidParameterException", 400, "value wJalrXUtnFEMI/K7MDENG is invalid")
    assert "wJalrXUtnFEMI" not in str(raised.value)


def test_connection_failures_are_unavailable() -> None:
    with pytest.raises(errors.Unavailable, match="EndpointConnectionError"), aws_call("sts:AssumeRole"):
        raise EndpointConnectionError(endpoint_url="https://sts.amazonaws.com")


class PagedAuthorizationDetails:
    """GetAccountAuthorizationDetails in pages: a user's group and customer managed policy may
    arrive on a later page than the user."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, operation: str) -> Paginator:
        return botocore_paginator("iam", getattr(self, operation))

    def get_account_authorization_details(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return self.pages[len(self.calls) - 1]


def test_a_users_policies_are_gathered_across_pages() -> None:
    from rekey.adapters.iam import IamAdapter
    from rekey.domain.privilege import Guard, refusal

    local = "arn:aws:iam::111122223333:policy/keys-for-all"
    admin_doc = {"Statement": [{"Effect": "Allow", "Action": "iam:CreateAccessKey", "Resource": "*"}]}
    user = {
        "UserName": "ops",
        "UserId": "AIDAOPS",
        "Arn": "arn:aws:iam::111122223333:user/team/ops",
        "Path": "/team/",
        "PermissionsBoundary": {"PermissionsBoundaryArn": "arn:aws:iam::111122223333:policy/b"},
        "GroupList": ["ops"],
        "Tags": [{"Key": "rekey:rotate", "Value": "true"}],
    }
    group = {"GroupName": "ops", "AttachedManagedPolicies": [{"PolicyName": "keys-for-all", "PolicyArn": local}]}
    policy = {"Arn": local, "PolicyVersionList": [{"IsDefaultVersion": True, "Document": admin_doc}]}
    client = PagedAuthorizationDetails(
        [
            {"UserDetailList": [user], "IsTruncated": True, "Marker": "m1"},
            {"GroupDetailList": [group], "IsTruncated": True, "Marker": "m2"},
            {"Policies": [policy], "IsTruncated": False},
        ]
    )
    (found,) = IamAdapter(client).users_with_tag("rekey:rotate")
    assert [c.get("Marker") for c in client.calls] == [None, "m1", "m2"]
    assert client.calls[0]["Filter"] == ["User", "Group", "Role", "LocalManagedPolicy"]
    assert found.grants is not None and found.grants.path == "/team/"
    assert found.grants.boundary_arn == "arn:aws:iam::111122223333:policy/b"
    why = refusal(found.arn, "111122223333", found.grants, Guard())
    assert why is not None and "group 'ops''s policy arn:aws:iam::111122223333:policy/keys-for-all" in why


def test_roles_the_user_may_assume_are_read_from_the_same_pages() -> None:
    """Issue 27: a role whose trust policy names the user counts with its own policies (its
    customer managed one from a later page); a role trusting only a service is not read."""
    from rekey.adapters.iam import IamAdapter
    from rekey.domain.privilege import Guard, refusal

    user = {"UserName": "ops", "UserId": "AIDAOPS", "Arn": "arn:aws:iam::111122223333:user/team/ops", "Tags": []}
    local = "arn:aws:iam::111122223333:policy/ops-admin"

    def role(name: str, principal: dict[str, str]) -> dict[str, object]:
        trust = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}]}
        return {
            "RoleName": name,
            "Arn": f"arn:aws:iam::111122223333:role/{name}",
            "AssumeRolePolicyDocument": trust,
            "AttachedManagedPolicies": [{"PolicyName": "ops-admin", "PolicyArn": local}],
        }

    admin = {"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
    client = PagedAuthorizationDetails(
        [
            {"UserDetailList": [user], "IsTruncated": True, "Marker": "m1"},
            {
                "RoleDetailList": [role("fn", {"Service": "lambda.amazonaws.com"}), role("ops", {"AWS": user["Arn"]})],
                "IsTruncated": True,
                "Marker": "m2",
            },
            {"Policies": [{"Arn": local, "PolicyVersionList": [{"IsDefaultVersion": True, "Document": admin}]}]},
        ]
    )
    (found,) = IamAdapter(client).all_users()
    assert client.calls[0]["Filter"] == ["User", "Group", "Role", "LocalManagedPolicy"]
    assert found.grants is not None
    assert [r.arn for r in found.grants.roles] == ["arn:aws:iam::111122223333:role/ops"]
    why = refusal(found.arn, "111122223333", found.grants, Guard())
    assert why is not None
    assert "it can assume role arn:aws:iam::111122223333:role/ops (its trust policy names the user)" in why
    assert f"there, attached policy {local} allows iam:CreateAccessKey on * (through iam:*)" in why
