"""Delivery on the emulator (issue 30): the hub declares an SSM parameter destination for one
account; a user there selects it and each rotation's key lands in its own account's parameter,
through the production sweep, work queue and worker; a user elsewhere selecting it gets
nothing sent; a parameter someone else owns is never overwritten."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from rekey_cli.compliance import report
from rekey_cli.render_html import report_html
from rekey_cli.render_report import report_text
from rekey_dev.github_fake import GitHubFake

from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.sweep import new_sweep_id, sweep
from tests.conftest import Org, drain_work
from tests.destinations import REPOSITORY, github_and_parameter
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
    # So does `rekey report --html`: a row per destination, its state, and the current key.
    html = report_html(report(delivering))
    row = _html_row(html, "params")
    assert '<span class="tag pass">synced</span>' in row and f"<code>{new}</code>" in row and "svc" in row
    assert "<b>0</b>deliveries not holding the current key" in html
    assert value["SecretKey"] not in html


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
    html = report_html(report(delivering))
    assert _html_row(html, "params").startswith(' class="flag">') and "tag fail" in _html_row(html, "params")
    assert "failed: conflict" in _html_row(html, "params")
    assert '<div class="tile bad"><b>1</b>deliveries not holding the current key' in html
    # The next day's scan queues it again, and it fails again the same way until a human acts.
    run_day(org, delivering)
    assert len(org.events("delivery-failed")) == 2


def _html_row(html: str, destination: str) -> str:
    """The HTML report's row of the Deliveries table for `destination`."""
    section = html.split("<h2>Deliveries</h2>", 1)[1].split("</table>", 1)[0]
    (row,) = [r for r in section.split("<tr") if f"<td>{destination}</td>" in r]
    return row


@pytest.fixture
def github() -> Iterator[GitHubFake]:
    with GitHubFake() as fake:
        fake.add_installation("acme")
        fake.add_repository(REPOSITORY)
        yield fake


@pytest.fixture
def both(org: Org, monkeypatch: pytest.MonkeyPatch, github: GitHubFake) -> Runtime:
    """The hub declares a GitHub repository and an SSM parameter, both approved for payments;
    the GitHub App's private key is in the hub's Secrets Manager, where the worker reads it."""
    monkeypatch.setenv("REKEY_DESTINATIONS", github_and_parameter(org, github))
    rt = Runtime.build(Settings.from_env())
    rt.sleep = lambda _seconds: None
    return rt


def test_a_rotation_reaches_github_and_ssm_and_the_old_key_is_retired_on_proof(
    org: Org, both: Runtime, github: GitHubFake
) -> None:
    (old,) = org.create_user("payments", "svc", {**TAG, "rekey:deliver-to": "ci,params"})
    org.age(91)
    run_day(org, both)

    new = assert_secret_matches_an_active_key(org, "payments", "svc")
    stored = current_secret(org, "payments", "rekey/svc")
    access, secret = (
        github.secret("AWS_ACCESS_KEY_ID", repository="acme/deploy"),
        github.secret("AWS_SECRET_ACCESS_KEY", repository="acme/deploy"),
    )
    assert access is not None and secret is not None
    assert (access.value, secret.value) == (new, stored["SecretKey"])  # what GitHub decrypted
    assert (parameter(org, "payments", "/rekey/svc/aws") or ({}, {}))[0] == stored
    assert sorted(e["message"].split(":")[0] for e in org.events("delivered")) == ["ci", "params"]
    assert stored["SecretKey"] not in json.dumps(org.notifications())

    # Both synced, and a consumer signed with the new key: the old key retires quietly.
    org.emulator.use_key(org.accounts["payments"], new, "s3")
    org.age(10)
    run_day(org, both)
    assert org.keys("payments", "svc") == {old: "Inactive", new: "Active"}
    assert not org.events("pickup-unconfirmed")


def test_without_proof_of_pickup_the_old_key_is_retired_at_its_deadline_loudly(org: Org, both: Runtime) -> None:
    (old,) = org.create_user("payments", "svc", {**TAG, "rekey:deliver-to": "ci,params"})
    org.age(91)
    run_day(org, both)
    new = assert_secret_matches_an_active_key(org, "payments", "svc")

    org.age(10)  # nobody has signed with the new key
    run_day(org, both)

    assert org.keys("payments", "svc") == {old: "Inactive", new: "Active"}
    (loud,) = org.events("pickup-unconfirmed")
    assert f"no consumer has signed with {new} yet" in loud["message"] and loud["severity"] == "error"
