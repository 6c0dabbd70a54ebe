"""Replicated secrets (REKEY_SECRET_REPLICA_REGIONS): a consumer in another region reads the
current key from its own region's replica, through every rotation."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from rekey_dev import emulator as em
from rekey_dev import templates as t

from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.sweep import new_sweep_id, sweep
from tests.conftest import Org, drain_work
from tests.faults import Faults
from tests.integration.test_permissions import organization_id, role_statements

TAG = {"rekey:rotate": "true"}
REPLICAS = ("eu-west-1", "ap-southeast-2")


def runtime(make_client: Any = None) -> Runtime:
    rt = Runtime.build(Settings.from_env(), make_client)
    rt.sleep = lambda _seconds: None
    return rt


def day(org: Org, days: float, rt: Runtime | None = None) -> None:
    """`days` later, what production runs: the sweep, then the worker over the work queue."""
    org.age(days)
    rt = rt or runtime()
    result = sweep(rt, new_sweep_id(rt.now()))
    assert not result.failed
    _, outcomes = drain_work(rt)
    assert all(o.status in ("done", "noop") for o in outcomes), outcomes


def consumer_reads(org: Org, account: str, region: str, key_id: str, secret: str) -> str:
    """What the user itself, signing with its current key like `rekey credential-process`, reads
    as the current key from the secret in `region`."""
    client = boto3.client(
        "secretsmanager",
        region_name=region,
        endpoint_url=org.emulator.url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    value = client.get_secret_value(SecretId="rekey/svc", VersionStage="AWSCURRENT")
    return json.loads(value["SecretString"])["AccessKey"]


def current(org: Org, account: str) -> dict[str, str]:
    sm = org.client("secretsmanager", account)
    return json.loads(sm.get_secret_value(SecretId="rekey/svc", VersionStage="AWSCURRENT")["SecretString"])


def replica_regions(org: Org, account: str) -> set[str]:
    status = org.client("secretsmanager", account).describe_secret(SecretId="rekey/svc").get("ReplicationStatus", [])
    return {r["Region"] for r in status if r["Status"] == "InSync"}


def rotate_again(org: Org) -> None:
    """The old key deactivated (day 100), deleted (110), the new one due (90 days after it)."""
    day(org, 10)
    day(org, 10)
    day(org, 80)


def test_a_new_secret_is_replicated_and_consumers_there_read_the_current_key_through_rotations(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REKEY_SECRET_REPLICA_REGIONS", ",".join(REPLICAS))
    account = org.accounts["payments"]
    (old,) = org.create_user("payments", "svc", TAG)

    day(org, 91)
    first = current(org, account)
    assert first["AccessKey"] != old
    assert replica_regions(org, account) == set(REPLICAS)
    for region in REPLICAS:
        assert consumer_reads(org, account, region, first["AccessKey"], first["SecretKey"]) == first["AccessKey"]

    rotate_again(org)
    second = current(org, account)
    assert second["AccessKey"] not in (old, first["AccessKey"])
    assert org.keys("payments", "svc")[second["AccessKey"]] == "Active"
    for region in REPLICAS:  # kept in sync by Secrets Manager: nothing else to do
        assert consumer_reads(org, account, region, second["AccessKey"], second["SecretKey"]) == second["AccessKey"]


def test_a_secret_from_before_the_setting_is_replicated_at_its_users_next_rotation(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = org.accounts["analytics"]
    org.create_user("analytics", "svc", TAG)
    day(org, 91)  # no replicas configured yet
    assert replica_regions(org, account) == set()

    monkeypatch.setenv("REKEY_SECRET_REPLICA_REGIONS", "eu-west-1")
    day(org, 10)  # deactivating and deleting old keys do not touch the secret
    day(org, 10)
    assert replica_regions(org, account) == set()
    day(org, 80)  # the next rotation replicates it first, then stores the new key
    assert replica_regions(org, account) == {"eu-west-1"}
    now = current(org, account)
    assert consumer_reads(org, account, "eu-west-1", now["AccessKey"], now["SecretKey"]) == now["AccessKey"]

    monkeypatch.setenv("REKEY_SECRET_REPLICA_REGIONS", "eu-west-1,ap-southeast-2")  # a region added later
    rotate_again(org)
    assert replica_regions(org, account) == {"eu-west-1", "ap-southeast-2"}


def test_each_replica_gets_its_regions_kms_key(org: Org, monkeypatch: pytest.MonkeyPatch, faults: Faults) -> None:
    # The emulator records every replica with aws/secretsmanager: the request itself is checked.
    monkeypatch.setenv("REKEY_SECRET_REPLICA_REGIONS", "eu-west-1,ap-southeast-2")
    monkeypatch.setenv("REKEY_SECRET_REPLICA_KMS_KEYS", "eu-west-1=alias/rekey-eu")
    monkeypatch.setenv("REKEY_KMS_KEY_ID", "alias/rekey")
    created: list[dict[str, Any]] = []
    faults.watch("secretsmanager", "CreateSecret", created.append)
    org.create_user("sandbox", "svc", TAG)
    day(org, 91, runtime(faults.make_client))
    (request,) = created
    assert request["KmsKeyId"] == "alias/rekey"
    assert request["AddReplicaRegions"] == [
        {"Region": "eu-west-1", "KmsKeyId": "alias/rekey-eu"},
        {"Region": "ap-southeast-2"},  # aws/secretsmanager in that region
    ]


def test_without_replica_regions_nothing_is_replicated(org: Org, faults: Faults) -> None:
    org.create_user("payments", "svc", TAG)
    day(org, 91, runtime(faults.make_client))
    assert faults.count("secretsmanager", "ReplicateSecretToRegions") == 0
    assert replica_regions(org, org.accounts["payments"]) == set()


def test_the_spoke_role_may_use_replica_keys_only_through_secrets_manager(org: Org) -> None:
    account_id = org.accounts["payments"]
    keys = [
        f"arn:aws:kms:eu-west-1:{em.MANAGEMENT_ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
        f"arn:aws:kms:ap-southeast-2:{em.MANAGEMENT_ACCOUNT}:key/66666666-7777-8888-9999-000000000000",
    ]
    t.deploy_spoke_role(
        org.emulator,
        account_id,
        hub_account_id=em.MANAGEMENT_ACCOUNT,
        organization_id=organization_id(org),
        SecretsReplicaKmsKeyArns=",".join(keys),
    )
    iam = org.client("iam", account_id)
    assert sorted(iam.list_role_policies(RoleName="rekey-spoke")["PolicyNames"]) == [
        "rekey-spoke",
        "rekey-spoke-replica-kms",
    ]
    (replica,) = [
        s for s in role_statements(iam, "rekey-spoke") if s.get("Sid") == "EncryptReplicasThroughSecretsManagerOnly"
    ]
    assert replica["Action"] == ["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"]
    assert replica["Resource"] == keys
    # ${AWS::URLSuffix}: amazonaws.com here, amazonaws.com.cn in the China partition.
    assert replica["Condition"] == {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}}
