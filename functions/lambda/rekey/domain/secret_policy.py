"""The resource policy rekey puts on every user's secret: the secret is rekey's alone to change.

- The user reads its own key: GetSecretValue, and DescribeSecret (the AWS caching clients,
  aws-secretsmanager-caching among them, describe a secret before reading it).
- Nobody else reads the value but rekey's writer role.
- Nobody but the writer role (and an optional break-glass role) changes anything: value,
  version stages, tags, policy, replicas, rotation, deletion. The Deny names what stays open
  (`NotAction`) rather than the writes it closes, so an action Secrets Manager adds later is
  closed too. Metadata reads stay open to the account's own IAM policies: rekey's reader role,
  AWS Config, Security Hub and Access Analyzer describe secrets.

No other reader is admitted, e.g. an application role: a standing reader is a second path to
every key rekey stores (spoke_templates/example-opted-in-user.yaml says so). Whoever administers
IAM in the account can still create a role under the writer's name and so pass these Denys: the
policy keeps everyone else out, not the account's IAM administrators (who can create keys for
the user anyway); the hub's audit trail is CloudTrail."""

from __future__ import annotations

import json
from typing import Any

READ_VALUE = "secretsmanager:GetSecretValue"
DESCRIBE = "secretsmanager:DescribeSecret"
# Everything else is closed to all but rekey: these are the reads that stay open to identity
# policies (GetSecretValue only to the user and the writer, by its own statement).
OPEN_READS = (READ_VALUE, DESCRIBE, "secretsmanager:GetResourcePolicy", "secretsmanager:ListSecretVersionIds")
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


def secret_policy(user_arn: str, writer_role_arn: str, break_glass_role_arn: str | None = None) -> dict[str, Any]:
    """Resource policy of the secret of `user_arn`: the user reads it; only `writer_role_arn`
    (rekey's spoke writer role in the secret's account) and `break_glass_role_arn` change it."""
    changers = [writer_role_arn, *([break_glass_role_arn] if break_glass_role_arn else [])]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnerReadsOwnKey",
            "Effect": "Allow",
            "Principal": {"AWS": user_arn},
            "Action": [READ_VALUE, DESCRIBE],  # all `credential-process` and the caching clients need
            "Resource": "*",
        },
        {
            "Sid": "NobodyElseReadsTheKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": READ_VALUE,
            "Resource": "*",
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [user_arn, writer_role_arn]}},
        },
        {
            "Sid": "OnlyRekeyChangesTheSecret",
            "Effect": "Deny",
            "Principal": "*",
            "NotAction": list(OPEN_READS),
            "Resource": "*",
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": changers}},
        },
    ]
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
