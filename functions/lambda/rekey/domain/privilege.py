"""Who rekey refuses to touch, whoever tagged them: a tag is a request, not an authority.

A user is *privileged* when one of its identity policies (inline, attached, its groups' inline
and attached) allows, on every resource, an action that administers IAM, mints credentials or
grants permissions. rekey never creates, deactivates or deletes such a user's keys unless the
organization names it as an exception. Judged from the policy documents alone (IAM has no
per-user verdict that is cheap to ask for), and conservatively: conditions and Deny statements
are not credited, an unreadable document counts as privileged."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

# Actions that mint credentials or grant permissions (after Rhino Security Labs' IAM privilege
# escalation paths); `*` and `iam:*` allow all of them.
POWERFUL_ACTIONS = (
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:AttachRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:PutRolePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:AddUserToGroup",
    "iam:PassRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutUserPermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "sts:AssumeRole",
)

# AWS managed policies known to be privileged, judged without reading them.
PRIVILEGED_AWS_MANAGED = frozenset(
    {
        "AdministratorAccess",
        "IAMFullAccess",
        "PowerUserAccess",
        "AWSOrganizationsFullAccess",
        "AdministratorAccess-Amplify",
        "AdministratorAccess-AWSElasticBeanstalk",
    }
)
AWS_MANAGED_PREFIX = ":iam::aws:policy/"


@dataclass(frozen=True)
class PolicyDoc:
    """One identity policy of a user, and where it comes from (for the announcement).
    `document` None: it could not be read, which counts as privileged. `known`: the verdict on a
    well-known AWS managed policy, judged by its ARN without reading it."""

    source: str
    document: Mapping[str, Any] | str | None
    known: str | None = None


@dataclass(frozen=True)
class Grants:
    """What a user's permissions are made of."""

    path: str = "/"
    boundary_arn: str | None = None
    policies: tuple[PolicyDoc, ...] = ()


@dataclass(frozen=True)
class Guard:
    """The organization's rules for who rekey may act on (REKEY_PRIVILEGED_USERS_ALLOWED,
    REKEY_USER_PATH_PREFIX, REKEY_REQUIRED_BOUNDARY_ARN)."""

    allowed_privileged: frozenset[str] = frozenset()  # user ARNs
    path_prefix: str = "/"
    # A policy ARN every user must carry as its permissions boundary; `{account_id}` is the
    # user's account.
    required_boundary: str | None = None


def aws_managed_name(arn: str) -> str | None:
    """The name of an AWS managed policy from its ARN (e.g. `arn:aws:iam::aws:policy/IAMFullAccess`), else None."""
    at = arn.find(AWS_MANAGED_PREFIX)
    return arn[at + len(AWS_MANAGED_PREFIX) :].rsplit("/", 1)[-1] if at >= 0 else None


def refusal(user_arn: str, account_id: str, grants: Grants, guard: Guard) -> str | None:
    """Why rekey must not act on this user, as a sentence that says how to allow it; None
    when it may."""
    if not grants.path.startswith(guard.path_prefix):
        return (
            f"its path {grants.path} is outside REKEY_USER_PATH_PREFIX={guard.path_prefix}; "
            "rekey acts only on users under that path"
        )
    if guard.required_boundary:
        required = guard.required_boundary.replace("{account_id}", account_id)
        if grants.boundary_arn != required:
            has = f"carries {grants.boundary_arn}" if grants.boundary_arn else "has no permissions boundary"
            return f"it {has}, not the permissions boundary {required} that REKEY_REQUIRED_BOUNDARY_ARN requires"
    why = privilege(grants)
    if why is None or user_arn in guard.allowed_privileged:
        return None
    return (
        f"it is privileged: {why}. rekey never mints, deactivates or deletes keys of users who can "
        "administer IAM, mint credentials or grant permissions, whoever tagged them; to allow it anyway, "
        "add its ARN to REKEY_PRIVILEGED_USERS_ALLOWED"
    )


def privilege(grants: Grants) -> str | None:
    """The first policy that makes the user privileged, as `<source> allows <action> on *`."""
    for policy in grants.policies:
        why = policy.known or powerful(policy.document)
        if why is not None:
            return f"{policy.source} {why}"
    return None


def powerful(document: Mapping[str, Any] | str | None) -> str | None:
    """`allows <action> on <resource>` when the document allows a powerful action on every
    resource; None otherwise."""
    if document is None:
        return "could not be read (counted as privileged)"
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return "is not valid JSON (counted as privileged)"
    if not isinstance(document, Mapping):
        return "is not a policy document (counted as privileged)"
    for statement in _list(document.get("Statement")):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        resource = _wide_resource(statement)
        if resource is None:
            continue
        action = _allowed_powerful_action(statement)
        if action is not None:
            return f"allows {action} on {resource}"
    return None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _allowed_powerful_action(statement: Mapping[str, Any]) -> str | None:
    if "NotAction" in statement:
        excluded = [_pattern(a) for a in _list(statement["NotAction"]) if isinstance(a, str)]
        for action in POWERFUL_ACTIONS:
            if not any(p.fullmatch(action.lower()) for p in excluded):
                return f"{action} (through NotAction)"
        return None
    patterns = [a for a in _list(statement.get("Action")) if isinstance(a, str)]
    for raw in patterns:
        pattern = _pattern(raw)
        if any(pattern.fullmatch(action.lower()) for action in POWERFUL_ACTIONS):
            return raw
    return None


def _wide_resource(statement: Mapping[str, Any]) -> str | None:
    """The statement's resource that reaches other principals: `*`, or a pattern with a
    wildcard in its resource part (`user/*`, `role/app-*`); NotResource counts as wide. A
    resource naming the user itself (`user/${aws:username}`) or one named role is not."""
    if "NotResource" in statement:
        return "NotResource " + json.dumps(statement["NotResource"])
    for resource in _list(statement.get("Resource")):
        if not isinstance(resource, str):
            continue
        if resource == "*":
            return "*"
        parts = resource.split(":", 5)
        tail = parts[5] if len(parts) == 6 else resource
        if "*" in re.sub(r"\$\{[^}]*\}", "", tail) or (len(parts) == 6 and "*" in parts[2]):
            return resource
    return None


@cache
def _pattern(raw: str) -> re.Pattern[str]:
    """An IAM action pattern (`*` any run, `?` one character, case-insensitive) as a regex."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in raw.lower()))
