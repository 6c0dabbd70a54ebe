"""The resource policy on every user's secret, judged by tests/policy_eval.py, an evaluator of
policy documents (moto stores resource policies but never evaluates them: EMULATOR_NOTES), so the
document is the test subject: for each principal, which of Secrets Manager's actions on a secret
AWS would allow, given an identity policy that allows them all (the worst case: an account
administrator) or none. Conditions on aws:PrincipalArn and aws:PrincipalOrgID are evaluated as
AWS documents them, a key missing from the request included.

The shape Prowler's secretsmanager_has_restrictive_resource_policy accepts is checked here too, as
its source (5.46.0) reads it, so the unit tier catches a drift without Prowler's venv;
tests/integration/test_prowler.py runs Prowler itself."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from rekey.domain.errors import ConfigurationError
from rekey.domain.secret_policy import READS_METADATA, REPAIRS, USER_READS, is_rekeys, secret_policy
from rekey.settings import Settings
from tests.policy_eval import Request, decide

ACCOUNT = "222222222222"
ORG = "o-abcdefghij"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:rekey/svc-billing-AbCdEf"
USER = f"arn:aws:iam::{ACCOUNT}:user/apps/svc-billing"
WRITER = f"arn:aws:iam::{ACCOUNT}:role/rekey-spoke"
READER = f"arn:aws:iam::{ACCOUNT}:role/rekey-spoke-reader"
# Secrets Manager's rotation function in the account (rekey's relay): it never touches the secret.
RELAY = f"arn:aws:iam::{ACCOUNT}:role/rekey-rotation-relay"
AUDITOR = f"arn:aws:iam::{ACCOUNT}:role/ProwlerScan"
CONFIG = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_AdministratorAccess_0123456789abcdef"
APP = f"arn:aws:iam::{ACCOUNT}:role/billing-exporter-app"
OTHER_USER = f"arn:aws:iam::{ACCOUNT}:user/svc-other"
BREAK_GLASS = "arn:aws:iam::333333333333:role/security-break-glass"  # another account of the organization
LOCAL_BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/rekey-break-glass"
OUTSIDER = "arn:aws:iam::444444444444:role/security-break-glass"  # outside the organization

# Every Secrets Manager operation that acts on a secret (the API reference's list, 2026): the
# metadata reads, the value, and everything that changes it.
METADATA = ("DescribeSecret", "GetResourcePolicy", "ListSecretVersionIds")
VALUE = ("GetSecretValue",)
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
FUTURE = ("SomeFutureWrite",)  # an action Secrets Manager adds later
EVERYTHING = frozenset(METADATA + VALUE + CHANGES + FUTURE)
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
    "RotateSecret",
)
ALL = [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]


def _names(actions: tuple[str, ...]) -> frozenset[str]:
    return frozenset(a.removeprefix("secretsmanager:") for a in actions)


def may(
    policy: dict[str, Any], principal: str, action: str, *, identity_allows: bool = True, org: str | None = ORG
) -> bool:
    """Would AWS let `principal` (in organization `org`) do `action` on the secret?"""
    context = {"aws:PrincipalOrgID": org} if org else {}
    request = Request(f"secretsmanager:{action}", SECRET, principal=principal, context=context)
    return decide(request, policy, ALL if identity_allows else []) == "Allow"


def allowed(policy: dict[str, Any], principal: str, **kw: Any) -> frozenset[str]:
    return frozenset(a for a in EVERYTHING if may(policy, principal, a, **kw))


# --------------------------------------------------------------------------- the configurations


@dataclass(frozen=True)
class Config:
    """What the hub may configure around the two roles it always names (writer and reader)."""

    break_glass: str | None = None
    auditors: tuple[str, ...] = ()
    organization_id: str | None = ORG

    def policy(self) -> dict[str, Any]:
        return secret_policy(
            USER,
            WRITER,
            self.break_glass,
            reader_role_arn=READER,
            auditor_role_arns=self.auditors,
            organization_id=self.organization_id,
        )


CONFIGS = {
    "bare": Config(),
    "break-glass": Config(break_glass=BREAK_GLASS),
    "local-break-glass": Config(break_glass=LOCAL_BREAK_GLASS),
    "auditor": Config(auditors=(AUDITOR,)),
    "no-organization-id": Config(break_glass=BREAK_GLASS, organization_id=None),
}


@pytest.fixture(params=list(CONFIGS.values()), ids=list(CONFIGS))
def config(request: pytest.FixtureRequest) -> Config:
    return request.param  # type: ignore[no-any-return]


def expected(config: Config, principal: str) -> frozenset[str]:
    """What each principal may do on the secret, its identity policy allowing everything."""
    if principal == USER:
        return _names(USER_READS)
    if principal == WRITER:
        return EVERYTHING
    if principal in (READER, CONFIG) or (principal == AUDITOR and AUDITOR in config.auditors):
        return _names(READS_METADATA)
    if principal == LOCAL_BREAK_GLASS and config.break_glass == LOCAL_BREAK_GLASS:
        return EVERYTHING - {"GetSecretValue"}
    if principal == BREAK_GLASS and config.break_glass == BREAK_GLASS:
        return _names(REPAIRS)  # from another account, what the policy's Allow names
    return frozenset()


PRINCIPALS = (
    USER,
    WRITER,
    READER,
    RELAY,
    AUDITOR,
    CONFIG,
    ADMIN,
    APP,
    OTHER_USER,
    BREAK_GLASS,
    LOCAL_BREAK_GLASS,
)


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda arn: arn.rsplit("/", 1)[1])
def test_each_principal_may_do_exactly_its_part(config: Config, principal: str) -> None:
    """Deny by default: with an identity policy that allows every action (an administrator's),
    each principal gets its own part and nothing more; anyone not named gets nothing."""
    assert allowed(config.policy(), principal) == expected(config, principal)


def test_the_user_reads_its_own_key_as_the_caching_clients_do(config: Config) -> None:
    """aws-secretsmanager-caching describes the secret first, then reads it: both without any
    identity policy on the user (the resource policy is the grant)."""
    assert allowed(config.policy(), USER, identity_allows=False) == {"DescribeSecret", "GetSecretValue"}


def test_nobody_but_the_user_and_the_writer_reads_the_key(config: Config) -> None:
    readers = {p for p in PRINCIPALS if may(config.policy(), p, "GetSecretValue")}
    assert readers == {USER, WRITER}


def test_only_the_writer_and_the_break_glass_role_change_anything_but_the_value(config: Config) -> None:
    policy = config.policy()
    for action in CHANGES:
        changers = {p for p in PRINCIPALS if may(policy, p, action)}
        assert changers <= {WRITER, config.break_glass}, action
        assert WRITER in changers


def test_the_policy_grants_only_the_users_reads_and_the_break_glass_roles_repairs(config: Config) -> None:
    """Without an identity policy of its own, only the user gets anything, and a break-glass role
    of the secret's account its repairs (a break-glass role of another account needs both)."""
    policy = config.policy()
    for principal in PRINCIPALS:
        granted = allowed(policy, principal, identity_allows=False)
        if principal == USER:
            assert granted == _names(USER_READS)
        elif principal == config.break_glass == LOCAL_BREAK_GLASS:
            assert granted == _names(REPAIRS)
        else:
            assert not granted, principal


def test_nobody_outside_the_organization_does_anything() -> None:
    """A principal outside the organization, even one the policy names (a break-glass role in an
    account that left it), is denied everything; so is an AWS service acting as itself."""
    policy = Config(break_glass=OUTSIDER).policy()
    assert not allowed(policy, OUTSIDER, org="o-someoneelse")
    assert not allowed(policy, OUTSIDER, org=None)
    assert allowed(policy, USER) == _names(USER_READS)  # in the organization
    service = Request("secretsmanager:DescribeSecret", SECRET, service="config.amazonaws.com")
    assert decide(service, policy) != "Allow"


def test_the_reader_describes_the_secret_as_the_scan_does(config: Config) -> None:
    assert may(config.policy(), READER, "DescribeSecret")


def test_the_policy_never_denies_the_writer_what_its_role_grants(config: Config) -> None:
    for action in WRITER_NEEDS:
        assert may(config.policy(), WRITER, action), action


def test_every_operation_on_a_secret_is_judged() -> None:
    """Each operation of the API on a secret is a metadata read, the value, or a change."""
    assert len(set(METADATA + VALUE + CHANGES)) == 18  # 23 operations in the API, less 5 on no secret


def test_the_policy_names_no_wildcard_principal_in_an_allow(config: Config) -> None:
    """Secrets Manager's BlockPublicPolicy (rekey sets it) refuses a policy that allows "*"."""
    for statement in config.policy()["Statement"]:
        if statement["Effect"] == "Allow":
            assert statement["Principal"] != "*" and "*" not in str(statement["Principal"])


def test_a_role_named_with_two_different_rights_is_refused() -> None:
    """A cap on the writer (the reader role under the writer's name...) would stop rekey."""
    with pytest.raises(ValueError, match="named twice"):
        secret_policy(USER, WRITER, reader_role_arn=WRITER)
    with pytest.raises(ValueError, match="named twice"):
        secret_policy(USER, WRITER, reader_role_arn=READER, auditor_role_arns=[READER])
    assert secret_policy(USER, WRITER, WRITER) == secret_policy(USER, WRITER, WRITER)  # both uncapped: fine


def test_the_worker_names_the_reader_and_the_organization_from_its_settings() -> None:
    env = {"AWS_DEFAULT_REGION": "us-east-1", "REKEY_ORGANIZATION_ID": ORG}
    s = Settings.from_env(env, require=())
    assert s.secret_policy(USER, ACCOUNT) == secret_policy(USER, WRITER, reader_role_arn=READER, organization_id=ORG)
    with pytest.raises(ConfigurationError, match="REKEY_SPOKE_READER_ROLE_NAME must differ"):
        Settings.from_env({**env, "REKEY_SPOKE_READER_ROLE_NAME": "rekey-spoke"}, require=())
    with pytest.raises(ConfigurationError, match="REKEY_ORGANIZATION_ID"):
        Settings.from_env({**env, "REKEY_ORGANIZATION_ID": "123456789012"}, require=())


def test_the_scanners_roles_named_in_the_settings_read_metadata_in_every_account() -> None:
    env = {"AWS_DEFAULT_REGION": "us-east-1", "REKEY_ORGANIZATION_ID": ORG}
    names = "security/prowler-scan, cspm"
    s = Settings.from_env({**env, "REKEY_SECRET_AUDITOR_ROLE_NAMES": names}, require=())
    auditors = (f"arn:aws:iam::{ACCOUNT}:role/cspm", f"arn:aws:iam::{ACCOUNT}:role/security/prowler-scan")
    expected = secret_policy(USER, WRITER, reader_role_arn=READER, auditor_role_arns=auditors, organization_id=ORG)
    assert s.secret_policy(USER, ACCOUNT) == expected
    with pytest.raises(ConfigurationError, match="not role names"):
        Settings.from_env({**env, "REKEY_SECRET_AUDITOR_ROLE_NAMES": "arn:aws:iam::*:role/x"}, require=())


def test_a_policy_is_rekeys_up_to_how_a_service_may_store_it() -> None:
    expected_policy = Config(break_glass=BREAK_GLASS, auditors=(AUDITOR,)).policy()
    stored = json.loads(json.dumps(expected_policy))
    for statement in stored["Statement"]:  # a one-item list as its item, lists reordered, keys reordered
        for element in ("Action", "NotAction"):
            if isinstance(statement.get(element), list):
                statement[element] = list(reversed(statement[element]))
        statement["Resource"] = ["*"]
    stored = {"Statement": list(reversed(stored["Statement"])), "Version": stored["Version"]}
    assert is_rekeys(stored, expected_policy)
    widened = json.loads(json.dumps(expected_policy))
    widened["Statement"][0]["Principal"] = {"AWS": [USER, "arn:aws:iam::111122223333:role/attacker"]}
    assert not is_rekeys(widened, expected_policy)
    assert not is_rekeys(None, expected_policy)
    previous = Config(break_glass=BREAK_GLASS).policy()  # e.g. before an auditor role was configured
    assert not is_rekeys(previous, expected_policy)


# --------------------------------------------------------------------------- Prowler's shape

# secretsmanager_has_restrictive_resource_policy (Prowler 5.46.0), its patterns for partition aws.
PROWLER_PRINCIPAL = re.compile(r"arn:aws:iam::\d{12}:(role|user)/([^*]+)$")
PROWLER_WILDCARD = re.compile(r"arn:aws:iam::\d{12}:role/.{12,}\*$")


def _keys_lowered(condition: dict[str, Any]) -> dict[str, Any]:
    return {op: {k.lower(): v for k, v in block.items()} for op, block in condition.items()}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_deny_by_default_statement_has_the_shape_prowler_accepts(config: Config) -> None:
    """One Deny to Principal "*" of secretsmanager:* on "*" whose condition is exactly
    StringNotEquals on aws:PrincipalArn (role or user ARNs, no wildcard) and ArnNotLike on it
    (wildcards with 12 characters or more before the *), each ArnNotLike pattern capped by a Deny
    whose condition is ArnLike on the same patterns."""
    statements = config.policy()["Statement"]
    deny_all = [
        s
        for s in statements
        if s["Effect"] == "Deny" and s["Principal"] == "*" and s.get("Action") == "secretsmanager:*"
        if set(_keys_lowered(s["Condition"])) == {"StringNotEquals", "ArnNotLike"}
    ]
    (statement,) = deny_all
    condition = _keys_lowered(statement["Condition"])
    assert statement["Resource"] == "*"
    assert set(condition["StringNotEquals"]) == {"aws:principalarn"}
    assert all(PROWLER_PRINCIPAL.match(p) for p in _as_list(condition["StringNotEquals"]["aws:principalarn"]))
    patterns = _as_list(condition["ArnNotLike"]["aws:principalarn"])
    assert set(condition["ArnNotLike"]) == {"aws:principalarn"}
    assert all(PROWLER_WILDCARD.match(p) for p in patterns)
    capped = [
        p
        for s in statements
        if s["Effect"] == "Deny" and "ArnLike" in s.get("Condition", {})
        for p in _as_list(_keys_lowered(s["Condition"])["ArnLike"].get("aws:principalarn", []))
    ]
    assert set(capped) == set(patterns)


def test_the_organization_statement_has_the_shape_prowler_accepts(config: Config) -> None:
    """With organizations_trusted_ids configured, Prowler wants a Deny of secretsmanager:* to "*"
    whose only condition is StringNotEquals on aws:PrincipalOrgID, with trusted ids only."""
    outside = [
        s for s in config.policy()["Statement"] if "aws:principalorgid" in str(_keys_lowered(s.get("Condition", {})))
    ]
    if config.organization_id is None:
        assert not outside
        return
    (statement,) = outside
    assert (statement["Effect"], statement["Principal"], statement["Action"], statement["Resource"]) == (
        "Deny",
        "*",
        "secretsmanager:*",
        "*",
    )
    assert _keys_lowered(statement["Condition"]) == {"StringNotEquals": {"aws:principalorgid": ORG}}


def test_only_a_cross_account_break_glass_role_makes_prowler_report_cross_account_access(config: Config) -> None:
    """Prowler fails any Allow naming a principal of another account, on purpose (a trust
    boundary to review): the break-glass role's Allow when that role is in another account."""
    foreign = [
        p
        for s in config.policy()["Statement"]
        if s["Effect"] == "Allow"
        for p in _as_list(s["Principal"]["AWS"])
        if p.split(":")[4] != ACCOUNT
    ]
    assert foreign == ([BREAK_GLASS] if config.break_glass == BREAK_GLASS else [])


def test_per_principal_caps_name_their_principals_in_conditions_not_in_principal(config: Config) -> None:
    """Secrets Manager refuses a policy whose Principal names a role that does not exist; the
    caps name theirs in a condition, so an absent reader or rotation role never blocks a
    rotation. (Prowler's optional per-principal check reads only Principal: it has nothing to
    object to.)"""
    for statement in config.policy()["Statement"]:
        if statement["Effect"] == "Deny":
            assert statement["Principal"] == "*"
