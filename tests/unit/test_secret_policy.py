"""The resource policy on every user's secret, judged by a small evaluator of our own: moto stores
resource policies but never evaluates them (EMULATOR_NOTES), so the document is the test subject.

The evaluator answers "may principal P do action A on this secret" for principals in the secret's
account, as AWS decides it there: an explicit Deny in either policy wins; otherwise an Allow in
the resource policy or in P's identity policy (`identity_allows`) suffices. For a principal of
another account both must allow. It knows what this policy uses: Allow/Deny, Principal ("*" or
AWS ARNs), Action/NotAction with wildcards, Resource "*", and the String/Arn (Not)Equals/Like
operators on single-valued keys (aws:PrincipalArn)."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from rekey.domain.secret_policy import is_rekeys, secret_policy

ACCOUNT = "222222222222"
USER = f"arn:aws:iam::{ACCOUNT}:user/svc-billing"
WRITER = f"arn:aws:iam::{ACCOUNT}:role/rekey-spoke"
READER = f"arn:aws:iam::{ACCOUNT}:role/rekey-spoke-reader"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_AdministratorAccess_0123456789abcdef"
APP = f"arn:aws:iam::{ACCOUNT}:role/billing-exporter-app"
OTHER_USER = f"arn:aws:iam::{ACCOUNT}:user/svc-other"
BREAK_GLASS = "arn:aws:iam::333333333333:role/security-break-glass"
SAME_ACCOUNT_BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/rekey-break-glass"

# Every Secrets Manager operation that acts on a secret (the API reference's list, 2026): the
# metadata reads, the value, and everything that changes it.
READS_METADATA = ("DescribeSecret", "GetResourcePolicy", "ListSecretVersionIds")
READS_VALUE = ("GetSecretValue",)
CHANGES = (
    "PutSecretValue",
    "UpdateSecret",
    "UpdateSecretVersionStage",
    "PutResourcePolicy",
    "DeleteResourcePolicy",
    "TagResource",
    "UntagResource",
    "DeleteSecret",
    "RestoreSecret",
    "RotateSecret",
    "CancelRotateSecret",
    "ReplicateSecretToRegions",
    "RemoveRegionsFromReplication",
    "StopReplicationToReplica",
)
# The writer's own identity policy (spoke-role.yaml, ManageRekeySecretsOnly) on an existing secret.
WRITER_NEEDS = (
    "DescribeSecret",
    "GetSecretValue",
    "PutSecretValue",
    "UpdateSecretVersionStage",
    "PutResourcePolicy",
    "TagResource",
    "UntagResource",
    "ReplicateSecretToRegions",
)


# --------------------------------------------------------------------------- the evaluator


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in _list(patterns))


def _principal_matches(principal: Any, arn: str) -> bool:
    if principal == "*":
        return True
    return arn in _list(principal.get("AWS", []))


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            actual = context.get(key)
            values = _list(expected)
            if operator in ("StringEquals", "ArnEquals"):
                holds = actual is not None and actual in values
            elif operator in ("StringNotEquals", "ArnNotEquals"):
                holds = actual is None or actual not in values  # an absent key satisfies a negation
            elif operator in ("StringLike", "ArnLike"):
                holds = actual is not None and any(fnmatch.fnmatchcase(actual, v) for v in values)
            elif operator in ("StringNotLike", "ArnNotLike"):
                holds = actual is None or not any(fnmatch.fnmatchcase(actual, v) for v in values)
            else:
                raise AssertionError(f"the evaluator does not know {operator}")
            if not holds:
                return False
    return True


def _applies(statement: dict[str, Any], principal: str, action: str) -> bool:
    assert set(statement) <= {"Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "Condition"}
    assert statement.get("Resource", "*") == "*"
    if not _principal_matches(statement["Principal"], principal):
        return False
    if "Action" in statement and not _matches(statement["Action"], action):
        return False
    if "NotAction" in statement and _matches(statement["NotAction"], action):
        return False
    return _condition_holds(statement.get("Condition", {}), {"aws:PrincipalArn": principal})


def may(policy: dict[str, Any], principal: str, action: str, *, identity_allows: bool = True) -> bool:
    """May `principal` do `action` (e.g. "GetSecretValue") on the secret with this policy, its
    own identity policy allowing it (`identity_allows`) or not?"""
    action = f"secretsmanager:{action}"
    statements = _list(policy["Statement"])
    if any(s["Effect"] == "Deny" and _applies(s, principal, action) for s in statements):
        return False
    resource_allows = any(s["Effect"] == "Allow" and _applies(s, principal, action) for s in statements)
    same_account = principal.split(":")[4] == ACCOUNT
    return (resource_allows or identity_allows) if same_account else (resource_allows and identity_allows)


def test_the_evaluator_knows_allow_deny_and_conditions() -> None:
    deny_but = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "secretsmanager:Get*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalArn": [USER]}},
            },
        ]
    }
    assert may(deny_but, USER, "GetSecretValue", identity_allows=False)
    assert not may(deny_but, USER, "PutSecretValue", identity_allows=False)
    assert not may(deny_but, WRITER, "GetSecretValue")
    assert not may({"Statement": []}, BREAK_GLASS, "GetSecretValue")  # another account: no resource Allow
    assert may({"Statement": []}, WRITER, "GetSecretValue")  # same account: the identity policy suffices


# --------------------------------------------------------------------------- the rules


@pytest.fixture(params=[None, BREAK_GLASS, SAME_ACCOUNT_BREAK_GLASS], ids=["no-break-glass", "break-glass", "local"])
def policy(request: pytest.FixtureRequest) -> dict[str, Any]:
    return secret_policy(USER, WRITER, request.param)


def test_the_user_reads_its_own_key_as_the_caching_clients_do(policy: dict[str, Any]) -> None:
    """aws-secretsmanager-caching describes the secret first, then reads it: both without any
    identity policy on the user (the resource policy is the grant)."""
    for action in ("DescribeSecret", "GetSecretValue"):
        assert may(policy, USER, action, identity_allows=False), action


def test_nobody_but_the_user_and_the_writer_reads_the_key(policy: dict[str, Any]) -> None:
    for principal in (READER, ADMIN, APP, OTHER_USER, BREAK_GLASS, SAME_ACCOUNT_BREAK_GLASS):
        assert not may(policy, principal, "GetSecretValue"), principal
    assert may(policy, WRITER, "GetSecretValue")


@pytest.mark.parametrize("action", CHANGES)
def test_only_the_writer_and_the_break_glass_role_change_the_secret(policy: dict[str, Any], action: str) -> None:
    for principal in (USER, READER, ADMIN, APP, OTHER_USER):
        assert not may(policy, principal, action), principal
    assert may(policy, WRITER, action)
    configured = [s["Principal"]["AWS"] for s in policy["Statement"] if s.get("Sid") == "BreakGlassMayRepair"]
    # From another account the policy's Allow is needed too: repairs only, not rekey's own
    # rotation or replication. In the secret's account its identity policy decides.
    assert may(policy, BREAK_GLASS, action) == (BREAK_GLASS in configured and action not in NOT_REPAIRS)
    assert may(policy, SAME_ACCOUNT_BREAK_GLASS, action) == (SAME_ACCOUNT_BREAK_GLASS in configured)


NOT_REPAIRS = ("RotateSecret", "CancelRotateSecret", "ReplicateSecretToRegions")


def test_a_same_account_break_glass_role_changes_anything_its_identity_policy_allows() -> None:
    policy = secret_policy(USER, WRITER, SAME_ACCOUNT_BREAK_GLASS)
    for action in CHANGES:
        assert may(policy, SAME_ACCOUNT_BREAK_GLASS, action, identity_allows=True), action
    assert not may(policy, SAME_ACCOUNT_BREAK_GLASS, "GetSecretValue")


def test_an_action_secrets_manager_adds_later_is_closed_too(policy: dict[str, Any]) -> None:
    """The Deny names what stays open, not the writes it closes."""
    for principal in (USER, READER, ADMIN):
        assert not may(policy, principal, "SomeFutureWrite"), principal
    assert may(policy, WRITER, "SomeFutureWrite")


def test_metadata_stays_readable_to_the_accounts_own_policies(policy: dict[str, Any]) -> None:
    """The scan (reader role), AWS Config, Security Hub and Access Analyzer describe secrets."""
    for action in READS_METADATA:
        assert may(policy, READER, action), action
        assert may(policy, ADMIN, action), action
        assert not may(policy, APP, action, identity_allows=False), action  # no grant of its own
    assert not may(policy, BREAK_GLASS, "GetResourcePolicy")  # cross-account: nothing unless allowed


def test_the_policy_never_denies_the_writer_what_its_role_grants(policy: dict[str, Any]) -> None:
    for action in WRITER_NEEDS:
        assert may(policy, WRITER, action), action


def test_every_operation_on_a_secret_is_judged() -> None:
    """Each operation of the API on a secret is a read that stays open, the value, or a change."""
    policy = secret_policy(USER, WRITER)
    operations = {*READS_METADATA, *READS_VALUE, *CHANGES}
    assert len(operations) == 18  # 23 operations in the API, less 5 on no secret (List, Create...)
    for action in operations:
        assert may(policy, WRITER, action)
        expected = action in READS_METADATA
        assert may(policy, ADMIN, action) == expected, action


def test_the_policy_names_no_wildcard_principal_in_an_allow() -> None:
    """Secrets Manager's BlockPublicPolicy (rekey sets it) refuses a policy that allows "*"."""
    for break_glass in (None, BREAK_GLASS):
        for statement in secret_policy(USER, WRITER, break_glass)["Statement"]:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] != "*" and "*" not in str(statement["Principal"])


def test_a_policy_is_rekeys_up_to_how_a_service_may_store_it() -> None:
    expected = secret_policy(USER, WRITER, BREAK_GLASS)
    stored = json.loads(json.dumps(expected))
    for statement in stored["Statement"]:  # a one-item list as its item, lists reordered, keys reordered
        if isinstance(statement.get("Action"), list):
            statement["Action"] = list(reversed(statement["Action"]))
        statement["Resource"] = ["*"]
    stored = {"Statement": list(reversed(stored["Statement"])), "Version": stored["Version"]}
    assert is_rekeys(stored, expected)
    widened = json.loads(json.dumps(expected))
    widened["Statement"][0]["Principal"] = {"AWS": [USER, "arn:aws:iam::111122223333:role/attacker"]}
    assert not is_rekeys(widened, expected)
    assert not is_rekeys(None, expected)
