"""A user's secret whose current version cannot serve its consumers, seen the day it happens
though no key is due: announced, and repaired by a rotation when the invariants allow (issue 16.3)."""

from __future__ import annotations

import json
from typing import Any

from rekey.runtime import Runtime
from rekey.use_cases.sweep import sweep
from tests.conftest import Org, drain_work
from tests.invariants import assert_secret_matches_an_active_key, current_secret

TAG = {"rekey:rotate": "true"}
NAME = "rekey/svc"


def a_day(org: Org, runtime: Runtime, day: str) -> list[dict[str, Any]]:
    """One day of the production sweep and worker; what it announced."""
    org.notifications().clear()
    sweep(runtime, day)
    drain_work(runtime)
    return org.notifications()


def rotated_once_and_settled(org: Org, runtime: Runtime) -> str:
    """svc rotated once by the sweep, its old key retired and deleted: its current key, 21 days old."""
    org.create_user("payments", "svc", TAG)
    org.age(91)
    a_day(org, runtime, "d1")
    org.age(20)
    a_day(org, runtime, "d2")  # the old key deactivated
    org.age(1)
    a_day(org, runtime, "d3")  # and deleted
    (current,) = org.keys("payments", "svc")
    assert current == assert_secret_matches_an_active_key(org, "payments", "svc")
    return current


def test_a_value_someone_overwrote_is_announced_and_repaired_the_same_day(org: Org, runtime: Runtime) -> None:
    """Someone puts a value by hand (a typo, a tool writing its own format): every consumer of
    the secret breaks. Before, nothing was announced until the key was due, up to 69 days later."""
    current = rotated_once_and_settled(org, runtime)
    sm = org.client("secretsmanager", "payments")
    sm.put_secret_value(SecretId=NAME, SecretString="AKIA-not-json-at-all")
    org.age(1)

    events = a_day(org, runtime, "d4")

    assert [e["event"] for e in events] == ["secret-broken", "rotated"]
    broken, rotated = events
    assert broken["severity"] == "error" and broken["secret_name"] == NAME
    assert broken["message"] == "the secret's current version is not JSON; rotating now to repair it"
    assert rotated["key_id"] == current and "repair: the secret's current version is not JSON" in rotated["message"]
    assert assert_secret_matches_an_active_key(org, "payments", "svc") == rotated["new_key_id"]
    # The key the broken value replaced stays active for the overlap: nothing else changed.
    assert org.keys("payments", "svc") == {current: "Active", rotated["new_key_id"]: "Active"}

    org.age(1)
    assert a_day(org, runtime, "d5") == []  # repaired: nothing more to say


def test_a_value_without_its_secret_key_is_repaired_and_never_quoted(org: Org, runtime: Runtime) -> None:
    """A tool rewrites the secret with its own field names: the secret half is there, under a
    name consumers do not read. rekey names what is missing and never what is there."""
    rotated_once_and_settled(org, runtime)
    stored = current_secret(org, "payments", NAME)
    sm = org.client("secretsmanager", "payments")
    sm.put_secret_value(
        SecretId=NAME, SecretString=json.dumps({"AccessKey": stored["AccessKey"], "secret_key": stored["SecretKey"]})
    )
    org.age(1)

    events = a_day(org, runtime, "d4")

    assert [e["event"] for e in events] == ["secret-broken", "rotated"]
    assert "has no AccessKey or no SecretKey" in events[0]["message"]
    assert stored["SecretKey"] not in json.dumps(events)
    assert assert_secret_matches_an_active_key(org, "payments", "svc") == events[1]["new_key_id"]


def test_a_current_key_deactivated_by_hand_is_announced_and_no_key_is_minted(org: Org, runtime: Runtime) -> None:
    """A person deactivates the only key (perhaps containing a leak): the secret no longer works.
    rekey says so every day and creates no key behind the person's back."""
    current = rotated_once_and_settled(org, runtime)
    org.client("iam", "payments").update_access_key(UserName="svc", AccessKeyId=current, Status="Inactive")
    org.age(1)

    for day in ("d4", "d5"):
        (broken,) = a_day(org, runtime, day)
        assert broken["event"] == "secret-broken" and broken["key_id"] == current
        assert broken["message"] == (
            f"the secret's current version holds {current}, which is inactive; the user has no active key, so "
            "rekey creates none: reactivate a key, or run rekey rotate-now"
        )
        assert org.keys("payments", "svc") == {current: "Inactive"}
        org.age(1)

    # The person reactivates it: the secret serves its consumers again, and rekey is quiet.
    org.client("iam", "payments").update_access_key(UserName="svc", AccessKeyId=current, Status="Active")
    assert a_day(org, runtime, "d6") == []


def test_a_handed_over_secret_is_checked_once_then_left_to_its_due_date(org: Org, runtime: Runtime) -> None:
    """A secret in the classic recipe's format, handed over to rekey: the scan cannot read its
    value, so the worker checks it once and marks the version checked; after that the user
    costs the scan nothing until a key is due or a new version appears."""
    (key,) = org.create_user("payments", "svc", TAG)
    iam, sm = org.client("iam", "payments"), org.client("secretsmanager", "payments")
    user_id = iam.get_user(UserName="svc")["User"]["UserId"]
    value = json.dumps({"AccessKey": key, "SecretKey": "x" * 40})
    sm.create_secret(Name=NAME, SecretString=value, Tags=[{"Key": "rekey:user-id", "Value": user_id}])

    sweep(runtime, "d1")
    _, outcomes = drain_work(runtime)
    assert [(o.status, o.item.reason) for o in outcomes] == [
        ("noop", "checks the secret's current version (written by someone else)")
    ]
    assert org.notifications() == []
    org.age(1)
    assert sweep(runtime, "d2").items == []

    sm.put_secret_value(SecretId=NAME, SecretString="{}")  # a new version, by hand: checked again
    org.age(1)
    events = a_day(org, runtime, "d3")
    assert [e["event"] for e in events] == ["secret-broken", "rotated"]
    assert assert_secret_matches_an_active_key(org, "payments", "svc") == events[1]["new_key_id"]
