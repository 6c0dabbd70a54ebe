"""Delivery (issue 30): destinations the hub declares and approves, selected by a user's tag;
each rotation pushed to them, recorded and announced; a failing or foreign destination never
stops the rotation. On in-memory fakes (tests/fakes.py), in milliseconds."""

from __future__ import annotations

import json

import pytest

from rekey.domain import errors
from rekey.domain.delivery import (
    DeliveryStatus,
    DestinationsError,
    decode_status,
    parse_destinations,
    refusal,
    selected,
    undelivered,
)
from rekey.messages import WorkItem
from rekey.use_cases.scan import scan_account
from rekey.use_cases.work import OperatorRequest, WorkOutcome, run_work_item
from tests.fakes import ACCOUNT, NOW, FakePorts, FakeSecret

PARAMETER = {"kind": "ssm-parameter", "name": "/rekey/{user_name}", "allow": {"accounts": [ACCOUNT]}}
ELSEWHERE = {"kind": "ssm-parameter", "name": "/rekey/x", "allow": {"accounts": ["444455556666"]}}
ONLY_SVC = {**PARAMETER, "allow": {"accounts": [ACCOUNT], "users": ["svc-*"]}}
DESTINATIONS = json.dumps({"params": PARAMETER, "elsewhere": ELSEWHERE, "svc-only": ONLY_SVC})
OPERATOR = "arn:aws:sts::999988887777:assumed-role/rekey-operator/alice"


@pytest.fixture
def ports() -> FakePorts:
    return FakePorts({"REKEY_DESTINATIONS": DESTINATIONS})


def rotate(ports: FakePorts, user: str = "svc-app", *, operator: bool = True) -> WorkOutcome:
    """An operator's rotate-now, or (not `operator`) a sweep's item for a due key."""
    (key,) = [k.key_id for k in ports.iam.keys[user]]
    item = WorkItem(account_id=ACCOUNT, user_name=user, key_id=key, action="rotate", sweep_id="20261201T043000Z")
    return run_work_item(ports, item, request=OperatorRequest(OPERATOR) if operator else None)


def events(ports: FakePorts) -> list[str]:
    return [n.event.value for n in ports.outbox.notifications]


def test_each_rotation_is_pushed_to_the_selected_destinations_and_recorded(ports: FakePorts) -> None:
    ports.iam.add_user("svc-app", {"rekey:rotate": "true", "rekey:deliver-to": "params,svc-only"}, key_ages=(10,))

    assert rotate(ports).status == "done"

    secret = ports.secrets.secrets["rekey/svc-app"]
    assert {n: d.held for n, d in ports.destinations.items()} == {"params": secret.current, "svc-only": secret.current}
    assert {n: (s.key_id, s.synced) for n, s in secret.deliveries.items()} == {
        "params": (secret.current, True),
        "svc-only": (secret.current, True),
    }
    assert events(ports) == ["rotated", "delivered", "delivered"]


def test_a_tag_naming_a_destination_not_approved_for_the_user_sends_nothing(ports: FakePorts) -> None:
    """A principal that can tag users must not send keys to a place of its own choosing."""
    ports.iam.add_user("app", {"rekey:rotate": "true", "rekey:deliver-to": "elsewhere"}, key_ages=(91,))

    outcome = rotate(ports, "app", operator=False)

    assert outcome.status == "rejected" and "elsewhere is not approved for account" in outcome.detail
    assert ports.destinations == {} and len(ports.iam.keys["app"]) == 1
    assert events(ports) == ["misconfigured"]
    # An operator's rotate-now still rotates (a leak does not wait for a tag to be fixed), and
    # sends nothing there either.
    assert rotate(ports, "app").status == "done" and ports.destinations == {}


def test_a_destination_approved_for_other_user_names_is_not_this_users(ports: FakePorts) -> None:
    ports.iam.add_user("app", {"rekey:rotate": "true", "rekey:deliver-to": "svc-only"}, key_ages=(91,))

    outcome = rotate(ports, "app", operator=False)

    assert outcome.status == "rejected" and "not approved for user app" in outcome.detail
    assert ports.destinations == {}


def test_a_failing_destination_is_announced_recorded_and_never_stops_the_rotation(ports: FakePorts) -> None:
    ports.iam.add_user("svc-app", {"rekey:rotate": "true", "rekey:deliver-to": "params,svc-only"}, key_ages=(10,))
    ports.failures.fail("push params", errors.AccessDenied("ssm:PutParameter /rekey/svc-app: AccessDenied"))

    assert rotate(ports).status == "done"

    secret = ports.secrets.secrets["rekey/svc-app"]
    assert ports.destinations["svc-only"].held == secret.current  # the other one went on
    failed = secret.deliveries["params"]
    assert (failed.key_id, failed.synced, failed.error) == (secret.current, False, "access-denied")
    assert events(ports) == ["rotated", "delivery-failed", "delivered"]
    message = ports.outbox.notifications[1].message
    assert message.startswith("params: ") and "grant what the message names" in message
    assert not [
        v
        for v in ports.iam.secrets.values()
        if v in json.dumps([n.model_dump(mode="json") for n in ports.outbox.notifications])
    ]


def test_a_destination_holding_someone_elses_value_is_never_overwritten(ports: FakePorts) -> None:
    ports.iam.add_user("svc-app", {"rekey:rotate": "true", "rekey:deliver-to": "params"}, key_ages=(10,))
    rotate(ports)  # makes the fake destination
    ports.destinations["params"].owner, ports.destinations["params"].held = "a person", "THEIRS"
    ports.outbox.notifications.clear()
    ports.iam.keys["svc-app"] = [
        k for k in ports.iam.keys["svc-app"] if k.key_id == ports.secrets.secrets["rekey/svc-app"].current
    ]

    assert rotate(ports).status == "done"

    assert ports.destinations["params"].held == "THEIRS"
    assert events(ports) == ["rotated", "delivery-failed"]
    assert "not written by rekey" in ports.outbox.notifications[1].message


def test_destinations_are_declared_by_the_hub_in_one_line_each() -> None:
    (parsed,) = parse_destinations(json.dumps({"params": PARAMETER}))
    assert (parsed.name, parsed.kind, parsed.option("name")) == ("params", "ssm-parameter", "/rekey/{user_name}")
    for spec, problem in [
        ({"x": {"kind": "s3"}}, "kind must be one of"),
        ({"x": {**PARAMETER, "name": "/other/x"}}, "starts with /rekey/"),
        ({"x": {k: v for k, v in PARAMETER.items() if k != "allow"}}, "allow must name"),
        ({"X Y": PARAMETER}, "name is 1-32"),
        ({"x": {"kind": "github-actions", "allow": {"accounts": [ACCOUNT]}}}, "missing app_id"),
    ]:
        with pytest.raises(DestinationsError, match=problem):
            parse_destinations(json.dumps(spec))
    with pytest.raises(DestinationsError, match="not JSON"):
        parse_destinations("{")


def test_a_github_option_that_cannot_be_used_stops_the_start_in_one_line() -> None:
    """Checked where REKEY_DESTINATIONS is read (Settings.from_env, at every Lambda's start), not
    at the first push: a misspelt visibility never waits for a rotation to be found out."""
    github = {
        "kind": "github-actions",
        "app_id": "1",
        "installation_id": "2",
        "private_key_secret": "rekey-delivery/app",
        "repository": "acme/deploy",
        "allow": {"accounts": [ACCOUNT]},
    }
    FakePorts({"REKEY_DESTINATIONS": json.dumps({"ci": {**github, "secrets": "dependabot"}})})  # usable
    with pytest.raises(errors.ConfigurationError) as refused:
        FakePorts({"REKEY_DESTINATIONS": json.dumps({"ci": {**github, "visibility": "public"}})})
    assert "REKEY_DESTINATIONS" in str(refused.value) and "ci: visibility must be one of" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_approval_by_ou_asks_the_organization_only_when_needed() -> None:
    (by_ou,) = parse_destinations(json.dumps({"d": {**PARAMETER, "allow": {"ous": ["ou-ab12-cdefgh34"]}}}))
    assert refusal(by_ou, ACCOUNT, "svc", lambda ous: {ACCOUNT}) is None
    assert "not approved for account" in (refusal(by_ou, ACCOUNT, "svc", lambda ous: set()) or "")
    assert selected({"rekey:deliver-to": "nope"}, [by_ou])[1] is not None


def test_a_status_reads_back_and_a_hand_edited_one_is_ignored() -> None:
    status = DeliveryStatus("AKIA1", NOW.replace(microsecond=0), "/rekey/svc version 3", "throttled")
    assert decode_status(status.encode()) == status
    assert decode_status("AKIA1 maybe yesterday") is None
    synced = DeliveryStatus("AKIA2", NOW.replace(microsecond=0), "v1")
    assert undelivered(["a", "b", "c"], "AKIA2", {"a": synced, "b": status}) == ["b", "c"]


def test_the_next_scan_queues_what_a_destination_missed_and_the_worker_delivers_it(ports: FakePorts) -> None:
    ports.iam.add_user("svc-app", {"rekey:rotate": "true", "rekey:deliver-to": "params"}, key_ages=(10,))
    ports.failures.fail("push params", errors.Unavailable("ssm:PutParameter: InternalError"))
    rotate(ports)
    current = ports.secrets.secrets["rekey/svc-app"].current

    result = scan_account(ports, ports.org.accounts[0], "20261202T043000Z")

    (item,) = [i for i in result.items if i.action.value == "deliver"]
    assert (item.key_id, item.reason) == (current, f"{current} is not yet at params")
    ports.outbox.notifications.clear()
    outcome = run_work_item(ports, item)
    assert (outcome.status, outcome.detail) == ("done", "delivered to 1 of 1 destination(s)")
    assert (
        ports.destinations["params"].held == current
        and ports.secrets.secrets["rekey/svc-app"].deliveries["params"].synced
    )
    assert events(ports) == ["delivered"]
    # Once it holds the current key, nothing more is queued, and a repeated item does nothing.
    assert not [
        i for i in scan_account(ports, ports.org.accounts[0], "20261203T043000Z").items if i.action.value == "deliver"
    ]
    assert run_work_item(ports, item).status == "noop" and ports.destinations["params"].pushes == 1


def _rotated_with_old_key_due(ports: FakePorts, env_tags: dict[str, str]) -> tuple[str, str]:
    """svc-app rotated 10 days ago (old key 100 days old, due for deactivation): (old, new)."""
    old, new = ports.iam.add_user("svc-app", {"rekey:rotate": "true", **env_tags}, key_ages=(100, 10))
    secret = FakeSecret(ports.iam.users["svc-app"].user_id, current=new, previous=old)
    secret.policy = ports.settings.secret_policy(ports.iam.users["svc-app"].arn, ACCOUNT)
    ports.secrets.secrets["rekey/svc-app"] = secret
    return old, new


def deactivate(ports: FakePorts, old: str) -> WorkOutcome:
    item = WorkItem(
        account_id=ACCOUNT, user_name="svc-app", key_id=old, action="deactivate", sweep_id="20261201T043000Z"
    )
    return run_work_item(ports, item)


def test_an_old_key_reaching_its_deadline_without_proof_of_pickup_is_deactivated_loudly(ports: FakePorts) -> None:
    old, new = _rotated_with_old_key_due(ports, {"rekey:deliver-to": "params"})

    assert deactivate(ports, old).status == "done"

    assert ports.iam.status("svc-app")[old] == "Inactive"
    unconfirmed, deactivated = ports.outbox.notifications
    assert (unconfirmed.event.value, deactivated.event.value) == ("pickup-unconfirmed", "deactivated")
    assert f"params does not hold {new}" in unconfirmed.message and unconfirmed.severity.value == "error"


def test_with_proof_of_pickup_the_old_key_is_retired_quietly(ports: FakePorts) -> None:
    old, new = _rotated_with_old_key_due(ports, {"rekey:deliver-to": "params"})
    ports.secrets.secrets["rekey/svc-app"].deliveries["params"] = DeliveryStatus(new, NOW, "v1")
    ports.iam.use("svc-app", new, NOW, "s3")

    assert deactivate(ports, old).status == "done"

    assert events(ports) == ["deactivated"]


def test_under_adopt_the_old_key_waits_for_proof_of_pickup_until_its_deadline() -> None:
    ports = FakePorts({"REKEY_DESTINATIONS": DESTINATIONS, "REKEY_IN_USE_POLICY": "adopt"})
    old, new = _rotated_with_old_key_due(ports, {"rekey:deliver-to": "params"})
    ports.iam.use("svc-app", new, NOW, "s3")  # used, but the destination never synced

    outcome = deactivate(ports, old)

    assert outcome.status == "noop" and ports.iam.status("svc-app")[old] == "Active"
    result = scan_account(ports, ports.org.accounts[0], "20261202T043000Z")
    (waiting,) = [i for i in result.items if i.action.value == "warn-not-adopted"]
    assert f"while its replacement {new}'s pickup is unconfirmed (params does not hold {new})" in waiting.reason


# --------------------------------------------------------------------------- Security Hub says so


def _finding(ports: FakePorts, user: str = "svc-app") -> dict:
    (found,) = [f for f in ports.findings.by_id.values() if f["Resources"][0]["Id"].endswith(f":user/{user}")]
    return found


def _standing(ports: FakePorts) -> tuple[str, str, str]:
    found = _finding(ports)
    return found["ProductFields"]["rekey/state"], found["Compliance"]["Status"], found["RecordState"]


def test_under_adopt_the_finding_says_the_pickup_is_unconfirmed_with_what_to_do_until_it_is() -> None:
    """A 60/70/80 policy: the old key (75 days) is past its deactivation age but not 90, so only
    the wait for proof of pickup makes the finding active (WARNING), every scan of the day, also
    once the day's warning was given; the proof ends it."""
    ports = FakePorts(
        {
            "REKEY_DESTINATIONS": DESTINATIONS,
            "REKEY_IN_USE_POLICY": "adopt",
            "REKEY_ROTATE_AFTER_DAYS": "60",
            "REKEY_DEACTIVATE_AFTER_DAYS": "70",
            "REKEY_DELETE_AFTER_DAYS": "80",
        }
    )
    old, new = ports.iam.add_user("svc-app", {"rekey:rotate": "true", "rekey:deliver-to": "params"}, key_ages=(75, 15))
    secret = FakeSecret(ports.iam.users["svc-app"].user_id, current=new, previous=old)
    ports.secrets.secrets["rekey/svc-app"] = secret
    account = ports.org.accounts[0]

    items = scan_account(ports, account, "20261201T043000Z").items
    assert sorted(i.action.value for i in items) == ["deliver", "warn-not-adopted"]  # params is behind
    (warn,) = [i for i in items if i.action.value == "warn-not-adopted"]
    assert _standing(ports) == ("pickup-unconfirmed", "WARNING", "ACTIVE")
    description = _finding(ports)["Description"]
    assert f"{old} stays active while its replacement {new}'s pickup is unconfirmed" in description
    assert f"{new} has never been used by a consumer" in description
    assert "make params hold the new key" in description and "rekey report" in description
    assert _finding(ports)["Severity"]["Label"] == "MEDIUM"

    # The worker gives the day's warning; a second scan that day is quiet, and still says so.
    assert run_work_item(ports, warn).status == "done" and secret.warned is not None
    assert [i.action.value for i in scan_account(ports, account, "20261201T120000Z").items] == ["deliver"]
    assert _standing(ports) == ("pickup-unconfirmed", "WARNING", "ACTIVE")

    # A consumer signed with the new key, but params does not hold it: still waiting, for that.
    ports.iam.use("svc-app", new, NOW, "s3")
    scan_account(ports, account, "20261201T130000Z")
    assert _standing(ports)[0] == "pickup-unconfirmed"
    assert f"(params does not hold {new})" in _finding(ports)["Description"]

    # Proof: the finding stops saying so (the old key's deactivation is queued today).
    secret.deliveries["params"] = DeliveryStatus(new, NOW, "v1")
    (item,) = scan_account(ports, account, "20261201T140000Z").items
    assert item.action.value == "deactivate"
    assert _standing(ports) == ("compliant", "PASSED", "ARCHIVED")


def test_without_destinations_an_adopt_wait_says_to_move_the_consumers() -> None:
    ports = FakePorts({"REKEY_IN_USE_POLICY": "adopt"})
    old, new = ports.iam.add_user("svc-app", {"rekey:rotate": "true"}, key_ages=(100, 10))
    ports.secrets.secrets["rekey/svc-app"] = FakeSecret(ports.iam.users["svc-app"].user_id, current=new, previous=old)

    scan_account(ports, ports.org.accounts[0], "20261201T043000Z")

    assert _standing(ports) == ("pickup-unconfirmed", "FAILED", "ACTIVE")  # the old key is 100 days old
    assert "move the key's consumers to the new key" in _finding(ports)["Description"]


def test_under_the_cis_preset_the_ceiling_wins_over_adopt_and_the_conflict_is_announced() -> None:
    """cis + adopt: the adopt deadline may not pass the preset's deactivation age (85 days, so no
    active key reaches 90), so the old key does not wait for proof of pickup: it is deactivated at
    85 days, the unconfirmed pickup announced as an error, and the finding never says it waits."""
    ports = FakePorts(
        {
            "REKEY_DESTINATIONS": DESTINATIONS,
            "REKEY_POLICY_PRESET": "cis",
            "REKEY_IN_USE_POLICY": "adopt",
            "REKEY_MAX_DEACTIVATE_AFTER_DAYS": "85",
        }
    )
    old, new = ports.iam.add_user("svc-app", {"rekey:rotate": "true", "rekey:deliver-to": "params"}, key_ages=(85, 10))
    ports.secrets.secrets["rekey/svc-app"] = FakeSecret(ports.iam.users["svc-app"].user_id, current=new, previous=old)

    items = scan_account(ports, ports.org.accounts[0], "20261201T043000Z").items
    (item,) = [i for i in items if i.action.value != "deliver"]
    assert (item.action.value, item.key_id) == ("deactivate", old)
    assert _standing(ports) == ("compliant", "PASSED", "ARCHIVED")  # 85 days: not failing, and not waiting

    assert run_work_item(ports, item).status == "done"
    assert ports.iam.status("svc-app")[old] == "Inactive"
    (loud,) = ports.outbox.events("pickup-unconfirmed")
    assert loud.severity.value == "error" and f"params does not hold {new}" in loud.message
    (deactivated,) = ports.outbox.events("deactivated")
    assert "85 days is the most it waits" in deactivated.message
