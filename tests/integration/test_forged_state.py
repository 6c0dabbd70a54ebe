"""rekey's state cannot be forged (issue 27.1), played as an attacker inside a member account with
ordinary Secrets Manager rights (SecretsManagerReadWrite is not privileged for rekey): the attacker
pre-creates the user's secret before its rotation, with rekey's own tags forged from public
inputs, and its own resource policy. The key must never go where the attacker reads it, and a
forged rotation intent must not make rekey delete a key a person made.

moto stores resource policies without enforcing them: who may read the secret afterwards is
judged by tests/policy_eval.py from the policy the secret really carries."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from rekey.settings import Settings
from tests.conftest import Org
from tests.operators import TAG, current_key, run_day, runtime_from_env
from tests.policy_eval import Request, decide

# What SecretsManagerReadWrite grants on secrets: everything.
READ_WRITE = [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]


def attacker_arn(org: Org) -> str:
    return f"arn:aws:iam::{org.accounts['payments']}:role/app-admin"


def forge_secret(org: Org, user: str, *, tags: dict[str, str] | None = None) -> str:
    """Create `rekey/<user>` as the attacker would: rekey's owner tag (the user's UserId, which
    `iam:GetUser` shows), the digest of the very policy rekey would put (every input is a public
    ARN), and a resource policy of the attacker's. Returns the secret's ARN."""
    account = org.accounts["payments"]
    user_id = org.client("iam", "payments").get_user(UserName=user)["User"]["UserId"]
    s = Settings.from_env()
    policy = s.secret_policy(f"arn:aws:iam::{account}:user/{user}", account)
    forged = {
        "rekey:user-id": user_id,
        "rekey:policy-digest": hashlib.sha256(json.dumps(policy, sort_keys=True).encode()).hexdigest()[:32],
        **(tags or {}),
    }
    sm = org.client("secretsmanager", "payments")
    arn = sm.create_secret(Name=f"rekey/{user}", Tags=[{"Key": k, "Value": v} for k, v in forged.items()])["ARN"]
    mine = {"Effect": "Allow", "Principal": {"AWS": attacker_arn(org)}, "Action": "secretsmanager:*", "Resource": "*"}
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [mine]}))
    return str(arn)


def attacker_may(org: Org, action: str, arn: str) -> bool:
    policy = json.loads(org.client("secretsmanager", "payments").get_resource_policy(SecretId=arn)["ResourcePolicy"])
    return decide(Request(action, arn, principal=attacker_arn(org)), policy, READ_WRITE) == "Allow"


@pytest.mark.parametrize("first_key", [False, True], ids=["rotation", "first key"])
def test_a_pre_created_secret_never_receives_a_key_its_creator_can_read(
    org: Org, monkeypatch: pytest.MonkeyPatch, first_key: bool
) -> None:
    if first_key:  # REKEY_CREATE_FIRST_KEY gives a console-only user its first key
        monkeypatch.setenv("REKEY_CREATE_FIRST_KEY", "true")
    keys = org.create_user("payments", "svc", TAG, keys=0 if first_key else 1)
    arn = forge_secret(org, "svc")
    assert attacker_may(org, "secretsmanager:GetSecretValue", arn)  # the attack's premise
    org.age(91)
    run_day(runtime_from_env())

    stored = current_key(org, "payments", "svc")
    assert stored in org.keys("payments", "svc") and stored not in keys  # a new key, stored there
    for action in ("secretsmanager:GetSecretValue", "secretsmanager:PutResourcePolicy", "secretsmanager:TagResource"):
        assert not attacker_may(org, action, arn), action
    assert [n["user_name"] for n in org.events("rotated")] == ["svc"]


def test_a_forged_rotation_intent_does_not_delete_a_key_a_person_made(org: Org) -> None:
    """A person makes the user a second key (not used yet). The attacker reads its CreateDate and
    forges an intent saying a rotation began minutes before, knowing only the first key: the
    person's key looks like the orphan of a crashed rotation. rekey deletes an orphan only from a
    secret whose resource policy it reads back as its own."""
    (first,) = org.create_user("payments", "svc", TAG)
    second = org.client("iam", "payments").create_access_key(UserName="svc")["AccessKey"]["AccessKeyId"]
    started = (datetime.now(UTC) - timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    forge_secret(org, "svc", tags={"rekey:rotation-started": started, "rekey:rotation-known-keys": first})
    run_day(runtime_from_env(days_later=1 / 24))  # an hour later: no rotation could still be running

    assert org.keys("payments", "svc") == {first: "Active", second: "Active"}
    assert not org.events("deleted")
    conflicts = org.events("conflict")  # each item of the plan re-decides: one fact, said once a day
    assert len({n["notification_id"] for n in conflicts}) == 1
    conflict = conflicts[0]
    assert conflict["user_name"] == "svc" and conflict["severity"] == "error"
    assert "resource policy" in conflict["message"]
