"""The resource policy rekey puts on every user's secret: deny by default; the secret is rekey's
alone to change, and the user's alone (with rekey) to read.

One statement denies every action to every principal but those named (`DenyAllButRekey`, in the
shape Prowler's `secretsmanager_has_restrictive_resource_policy` accepts: Principal "*", Action
`secretsmanager:*`, `StringNotEquals` on `aws:PrincipalArn`, `ArnNotLike` with its `ArnLike`
twin). The named ones, and what the other statements leave each of them:

- the user: GetSecretValue and DescribeSecret (the AWS caching clients, aws-secretsmanager-caching
  among them, describe a secret before reading it), granted by this policy (the user needs no
  identity policy);
- rekey's writer role: whatever its identity policy grants (spoke-role.yaml);
- rekey's reader role, and auditor roles if given: the metadata reads only (DescribeSecret,
  GetResourcePolicy, ListSecretVersionIds: the scan describes rekey's secrets; a scanner reads
  the policy to judge it);
- the account's service-linked roles (`role/aws-service-role/*`: AWS Config, Security Hub, Access
  Analyzer...): the metadata reads only. Nobody can assume one or change what it may do;
- the break-glass role, if given: anything its identity policy grants except reading the value;
  from another account, the repairs this policy allows (a resource policy must name a
  cross-account principal).

Nobody else reads the value: the user and the writer. Secrets Manager's rotation of the secret
needs no principal of its own here: its function (the member's relay) never touches the secret,
the hub carries each step out as the writer (rekey.use_cases.rotation). Actions
Secrets Manager adds later are closed to all but the writer and the break-glass role, since each
cap names what stays open (`NotAction`). With the organization's id, a second statement denies
everything to principals outside it (`aws:PrincipalOrgID`): the break-glass role must be in the
organization.

No other reader is admitted, e.g. an application role: a standing reader is a second path to
every key rekey stores (spoke_templates/example-opted-in-user.yaml says so). Whoever administers
IAM in the account can still create a role under the writer's name and so pass these Denys: the
policy keeps everyone else out, not the account's IAM administrators (who can create keys for
the user anyway); the hub's audit trail is CloudTrail. The conditions name principals by
`aws:PrincipalArn` rather than in `Principal`, so a role that does not exist (yet) leaves the
policy valid: Secrets Manager refuses a policy whose Principal names an unknown role."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

READ_VALUE = "secretsmanager:GetSecretValue"
DESCRIBE = "secretsmanager:DescribeSecret"
# The reads that tell about a secret without its value: the scan's, the auditors', AWS Config's.
READS_METADATA = (DESCRIBE, "secretsmanager:GetResourcePolicy", "secretsmanager:ListSecretVersionIds")
# What the user does with its secret: all `credential-process` and the caching clients need.
USER_READS = (READ_VALUE, DESCRIBE)
# What the break-glass role may do when it is in another account (a resource policy must allow
# a cross-account principal): repair or remove the secret, never read its value.
REPAIRS = (
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
    "secretsmanager:DeleteSecret",
    "secretsmanager:RestoreSecret",
    "secretsmanager:RemoveRegionsFromReplication",
    "secretsmanager:StopReplicationToReplica",
    DESCRIBE,
)
PRINCIPAL_ARN = "aws:PrincipalArn"


def service_linked_roles(account_arn: str) -> str:
    """The ARN pattern of every service-linked role in the account of `account_arn` (any ARN there)."""
    _, partition, _, _, account, _ = account_arn.split(":", 5)
    return f"arn:{partition}:iam::{account}:role/aws-service-role/*"


def secret_policy(
    user_arn: str,
    writer_role_arn: str,
    break_glass_role_arn: str | None = None,
    *,
    reader_role_arn: str | None = None,
    auditor_role_arns: Sequence[str] = (),
    organization_id: str | None = None,
) -> dict[str, Any]:
    """Resource policy of the secret of `user_arn`: the user reads it; only `writer_role_arn`
    (rekey's spoke writer role in the secret's account) and `break_glass_role_arn` change it;
    `reader_role_arn` (rekey's
    spoke reader role), `auditor_role_arns` and the account's service-linked roles read its
    metadata; nobody outside `organization_id` (if given) does anything."""
    capped = [a for a in (reader_role_arn, *auditor_role_arns) if a]
    uncapped = [a for a in (user_arn, writer_role_arn, break_glass_role_arn) if a]
    if len(set(capped)) != len(capped) or set(capped) & set(uncapped):
        # A cap on the writer (a reader role under the writer's name...) would stop rekey.
        raise ValueError(f"a role is named twice in a secret's policy, with different rights: {uncapped + capped}")
    named = list(dict.fromkeys([*uncapped, *capped]))
    slr = service_linked_roles(user_arn)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnerReadsOwnKey",
            "Effect": "Allow",
            "Principal": {"AWS": user_arn},
            "Action": list(USER_READS),
            "Resource": "*",
        },
        {
            "Sid": "DenyAllButRekey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "secretsmanager:*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {PRINCIPAL_ARN: named}, "ArnNotLike": {PRINCIPAL_ARN: slr}},
        },
        {
            "Sid": "NobodyElseReadsTheKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": READ_VALUE,
            "Resource": "*",
            "Condition": {"StringNotEquals": {PRINCIPAL_ARN: [user_arn, writer_role_arn]}},
        },
        _only("TheUserOnlyReadsItsKey", "StringEquals", user_arn, USER_READS),
        _only("ServiceLinkedRolesOnlyReadMetadata", "ArnLike", slr, READS_METADATA),
    ]
    if readers := [a for a in (reader_role_arn, *auditor_role_arns) if a]:
        statements.append(_only("ScannersOnlyReadMetadata", "StringEquals", readers, READS_METADATA))
    if organization_id:
        statements.append(
            {
                "Sid": "DenyOutsideTheOrganization",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": organization_id}},
            }
        )
    if break_glass_role_arn:
        statements.append(
            {
                "Sid": "BreakGlassMayRepair",
                "Effect": "Allow",
                "Principal": {"AWS": break_glass_role_arn},
                "Action": list(REPAIRS),
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _only(sid: str, operator: str, principals: str | list[str], actions: Sequence[str]) -> dict[str, Any]:
    """A Deny of everything but `actions` to `principals` (ARNs compared with `operator`)."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "NotAction": list(actions),
        "Resource": "*",
        "Condition": {operator: {PRINCIPAL_ARN: principals}},
    }


def is_rekeys(held: Any, expected: dict[str, Any]) -> bool:
    """Whether the policy a secret holds is the one rekey puts (`expected`), up to how a service
    may store a document: key order, a one-item list as its item, the order of a list's items.
    Only a secret carrying rekey's policy has been rekey's alone to change since it was put."""
    return held is not None and _canonical(held) == _canonical(expected)


def _canonical(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _canonical(v) for k, v in sorted(node.items())}
    if isinstance(node, list):
        items = sorted((_canonical(v) for v in node), key=lambda v: json.dumps(v, sort_keys=True))
        return items[0] if len(items) == 1 else items
    return node
