"""rekey is each secret's Secrets Manager rotation (issue 28), end to end on the emulator: the
sweep and the worker as production runs them hand a due rotation to Secrets Manager
(RotateSecret); Secrets Manager invokes the member account's relay (the template's own code, run
by rekey_dev.rotation), which posts each step, signed with its role, to the hub's rotation URL
(rekey_dev.function_url authenticates it); the hub carries the step out as rekey's protocol.
What a user of Secrets Manager sees — rotation enabled on the user's schedule, LastRotatedDate
set by every rotation, AWSCURRENT holding the new key — and `aws secretsmanager rotate-secret`
run by the AWS CLI (a client nobody here wrote) starting rekey's rotation, refusals included."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rekey_dev import emulator as em
from rekey_dev import rotation

from tests.conftest import Org
from tests.e2e.consumer_env import consumer_env, tool
from tests.operators import current_key, items_for, run_day, runtime_from_env

TAG = {"rekey:rotate": "true"}
USER = "svc-billing"
SECRET = f"rekey/{USER}"


@pytest.fixture
def native(org: Org, monkeypatch: pytest.MonkeyPatch) -> Org:
    """The hub with Secrets Manager's rotation on, the relay deployed in payments (the StackSet's)."""
    monkeypatch.setenv("REKEY_ROTATION_RELAY", rotation.RELAY_NAME)
    rotation.deploy_relay(org.emulator, org.accounts["payments"], rotation_url=os.environ[em.ROTATION_URL])
    return org


def described(org: Org) -> dict[str, Any]:
    return org.client("secretsmanager", "payments").describe_secret(SecretId=SECRET)  # type: ignore[no-any-return]


def pending_elsewhere(meta: dict[str, Any]) -> list[str]:
    """Versions labelled AWSPENDING but not current: a rotation Secrets Manager thinks unfinished."""
    stages = meta["VersionIdsToStages"]
    return [v for v, s in stages.items() if "AWSPENDING" in s and "AWSCURRENT" not in s]


def test_every_rotation_is_secrets_managers_and_recorded(native: Org) -> None:
    org = native
    (human,) = org.create_user("payments", USER, TAG)
    org.age(91, ("payments",))

    run_day(runtime_from_env())

    meta = described(org)
    relay = f"arn:aws:lambda:us-east-1:{org.accounts['payments']}:function:{rotation.RELAY_NAME}"
    assert (meta["RotationEnabled"], meta["RotationLambdaARN"]) == (True, relay)
    assert meta["RotationRules"]["AutomaticallyAfterDays"] == 90  # the user's policy
    first_rotated = meta["LastRotatedDate"]
    (new,) = set(org.keys("payments", USER)) - {human}
    assert current_key(org, "payments", USER) == new
    current = next(v for v, s in meta["VersionIdsToStages"].items() if "AWSCURRENT" in s)
    assert f"rekey-access-key-{new}" in meta["VersionIdsToStages"][current]  # the key, without the value
    assert not pending_elsewhere(meta)
    rotated = org.events("rotated", USER)
    assert len(rotated) == 1 and "by Secrets Manager's rotation" in rotated[0]["message"]
    assert not org.events("failed") and not org.events("rejected")

    for days in (10, 10):  # the old key deactivated, then deleted: rekey's own, as before
        org.age(days, ("payments",))
        run_day(runtime_from_env())
    assert org.keys("payments", USER) == {new: "Active"}
    org.age(71, ("payments",))
    run_day(runtime_from_env())

    meta = described(org)
    (newer,) = set(org.keys("payments", USER)) - {new}
    assert current_key(org, "payments", USER) == newer
    assert meta["LastRotatedDate"] >= first_rotated and len(org.events("rotated", USER)) == 2
    previous = next(v for v, s in meta["VersionIdsToStages"].items() if "AWSPREVIOUS" in s)
    assert f"rekey-access-key-{new}" in meta["VersionIdsToStages"][previous]
    assert items_for(runtime_from_env(), USER) == []  # the scan reads the labels: nothing left to do


def aws_cli(org: Org, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The AWS CLI, as the member account's administrator (its OrganizationAccountAccessRole)."""
    creds = org.emulator.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{org.accounts['payments']}:role/OrganizationAccountAccessRole", RoleSessionName="admin"
    )["Credentials"]
    env = consumer_env(
        tmp_path,
        org.emulator.url,
        AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
        AWS_SESSION_TOKEN=creds["SessionToken"],
        AWS_DEFAULT_REGION=em.REGION,
    )
    return subprocess.run([str(tool("aws")), *args], env=env, capture_output=True, text=True, timeout=120)


def test_rotate_secret_in_the_aws_cli_runs_rekeys_rotation_refusals_included(native: Org, tmp_path: Path) -> None:
    org = native
    org.create_user("payments", USER, TAG)
    org.age(91, ("payments",))
    run_day(runtime_from_env())
    (key,) = set(org.keys("payments", USER)) & {current_key(org, "payments", USER)}
    before = described(org)["LastRotatedDate"]
    org.notifications()

    # The console's "Rotate secret immediately" for a key rotated minutes ago: refused, announced.
    done = aws_cli(org, tmp_path, "secretsmanager", "rotate-secret", "--secret-id", SECRET)

    assert done.returncode == 0, done.stderr  # RotateSecret answers before the steps, as on AWS
    assert current_key(org, "payments", USER) == key and len(org.keys("payments", USER)) == 2
    meta = described(org)
    assert meta["LastRotatedDate"] == before and not pending_elsewhere(meta)  # free to rotate later
    (refused,) = org.events("rejected", USER)
    assert "not due until" in refused["message"] and "rekey rotate-now" in refused["message"]

    # Once the key is due (its replaced key retired meanwhile), the same command rotates it, as
    # rekey's sweep would have the same day.
    for days in (10, 10):
        org.age(days, ("payments",))
        run_day(runtime_from_env())
    org.age(71, ("payments",))
    done = aws_cli(org, tmp_path, "secretsmanager", "rotate-secret", "--secret-id", SECRET)

    assert done.returncode == 0, done.stderr
    (newer,) = set(org.keys("payments", USER)) - {key}
    assert current_key(org, "payments", USER) == newer
    assert described(org)["LastRotatedDate"] > before
    assert org.events("rotated", USER)[-1]["new_key_id"] == newer


def test_a_step_from_anyone_but_the_secrets_own_relay_is_refused(native: Org) -> None:
    """The hub's rotation URL authenticates every caller of the organization; only the relay's
    role of the secret's own account is heard."""
    from tests.operators import signed_post

    org = native
    org.create_user("payments", USER, TAG)
    org.age(91, ("payments",))
    run_day(runtime_from_env())
    keys = org.keys("payments", USER)
    step = {"Step": "createSecret", "SecretId": SECRET, "ClientRequestToken": "0" * 36}
    analytics = org.accounts["analytics"]
    creds = org.emulator.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{analytics}:role/OrganizationAccountAccessRole", RoleSessionName="intruder"
    )["Credentials"]

    status, body = signed_post(os.environ[em.ROTATION_URL], json.dumps(step), creds)

    assert status == 403 and "rotation relay" in body["message"]
    assert org.keys("payments", USER) == keys
    assert isinstance(described(org)["LastRotatedDate"], datetime)


def test_secrets_managers_rotation_delivers_the_new_key_too(native: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """finishSecret makes the key current, then pushes it to the user's destinations."""
    org = native
    allow = {"accounts": [org.accounts["payments"]]}
    destinations = {"params": {"kind": "ssm-parameter", "name": "/rekey/{user_name}", "allow": allow}}
    monkeypatch.setenv("REKEY_DESTINATIONS", json.dumps(destinations))
    org.create_user("payments", USER, {**TAG, "rekey:deliver-to": "params"})
    org.age(91, ("payments",))

    run_day(runtime_from_env())

    new = current_key(org, "payments", USER)
    assert "by Secrets Manager's rotation" in org.events("rotated", USER)[0]["message"]
    value = org.client("ssm", "payments").get_parameter(Name=f"/rekey/{USER}", WithDecryption=True)["Parameter"]
    assert json.loads(value["Value"])["AccessKey"] == new
    assert [e["key_id"] for e in org.events("delivered", USER)] == [new]
