"""Delivery on the emulator (issue 30): the hub declares an SSM parameter destination for one
account; a user there selects it and each rotation's key lands in its own account's parameter,
through the production sweep, work queue and worker; a user elsewhere selecting it gets
nothing sent; a parameter someone else owns is never overwritten."""

from __future__ import annotations

import json

import pytest
from rekey_cli.compliance import report
from rekey_cli.render_report import report_text

from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.sweep import new_sweep_id, sweep
from tests.conftest import Org, drain_work
from tests.invariants import assert_secret_matches_an_active_key, current_secret

TAG = {"rekey:rotate": "true"}


@pytest.fixture
def delivering(org: Org, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    destinations = {
        "params": {
            "kind": "ssm-parameter",
            "name": "/rekey/{user_name}/aws",
            "allow": {"accounts": [org.accounts["payments"]]},
        }
    }
    monkeypatch.setenv("REKEY_DESTINATIONS", json.dumps(destinations))
    rt = Runtime.build(Settings.from_env())
    rt.sleep = lambda _seconds: None
    return rt


def run_day(org: Org, rt: Runtime) -> None:
    sweep(rt, new_sweep_id(rt.now()))
    drain_work(rt)


def parameter(org: Org, account: str, name: str) -> tuple[dict[str, str], dict[str, str]] | None:
    ssm = org.client("ssm", account)
    try:
        value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    except ssm.exceptions.ParameterNotFound:
        return None
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    return json.loads(value["Value"]), {t["Key"]: t["Value"] for t in tags}


def test_each_rotation_lands_in_the_users_parameter_and_is_recorded(org: Org, delivering: Runtime) -> None:
    org.create_user("payments", "svc", {**TAG, "rekey:deliver-to": "params"})
    org.age(91)
    run_day(org, delivering)

    new = assert_secret_matches_an_active_key(org, "payments", "svc")
    value, tags = parameter(org, "payments", "/rekey/svc/aws") or ({}, {})
    assert value == current_secret(org, "payments", "rekey/svc")  # the same JSON consumers read from the secret
    assert value["AccessKey"] == new and tags["rekey:user-id"]
    secret_tags = org.client("secretsmanager", "payments").describe_secret(SecretId="rekey/svc")["Tags"]
    status = next(t["Value"] for t in secret_tags if t["Key"] == "rekey:delivery:params")
    assert status.startswith(f"{new} synced ") and status.endswith("/rekey/svc/aws version 1")
    (delivered,) = org.events("delivered")
    assert delivered["key_id"] == new and new not in json.dumps(org.events("failed"))
    assert value["SecretKey"] not in json.dumps(org.notifications())
    # `rekey report` says where each managed user's key is delivered, and whether it is current.
    lines = report_text(report(delivering)).splitlines()
    assert f"    {org.accounts['payments']} svc -> params: synced at" in "\n".join(lines)


def test_a_user_of_an_account_the_destination_is_not_approved_for_gets_nothing_sent(
    org: Org, delivering: Runtime
) -> None:
    (old,) = org.create_user("analytics", "svc", {**TAG, "rekey:deliver-to": "params"})
    org.age(91)
    run_day(org, delivering)

    assert org.keys("analytics", "svc") == {old: "Active"}  # misconfigured: left untouched
    assert parameter(org, "analytics", "/rekey/svc/aws") is None
    (misconfigured,) = org.events("misconfigured", user="svc")
    assert "params is not approved for account" in misconfigured["message"]


def test_a_parameter_someone_else_owns_is_never_overwritten_and_the_rotation_stands(
    org: Org, delivering: Runtime
) -> None:
    ssm = org.client("ssm", "payments")
    ssm.put_parameter(Name="/rekey/svc/aws", Value="a person's value", Type="SecureString")
    (old,) = org.create_user("payments", "svc", {**TAG, "rekey:deliver-to": "params"})
    org.age(91)
    run_day(org, delivering)

    new = assert_secret_matches_an_active_key(org, "payments", "svc")
    assert new != old
    assert ssm.get_parameter(Name="/rekey/svc/aws", WithDecryption=True)["Parameter"]["Value"] == "a person's value"
    (failed,) = org.events("delivery-failed")
    assert "not rekey's" in failed["message"] and "rename or remove it" in failed["message"]
    (line,) = report(delivering).deliveries
    assert (line.user_name, line.destination, line.state) == ("svc", "params", "failed: conflict")
    # The next day's scan queues it again, and it fails again the same way until a human acts.
    run_day(org, delivering)
    assert len(org.events("delivery-failed")) == 2
