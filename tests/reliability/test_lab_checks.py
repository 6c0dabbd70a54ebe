"""The lab's own checks can fail: a retirement without proof of pickup and unannounced, a secret
said anywhere, GitHub's calls logged and faulted as the matrix arms them, a key changed while the
rotation window is closed."""

from __future__ import annotations

import pytest

from tests.conftest import Org
from tests.reliability.github import SERVICE
from tests.reliability.lab import Lab, LabWindow
from tests.reliability.phases import _deactivation, _picked_up


@pytest.mark.parametrize("deliver", ["ssm", "github"])
def test_a_deactivation_without_proof_of_pickup_or_its_announcement_is_a_violation(org: Org, deliver: str) -> None:
    lab = Lab(org, deliver=deliver)
    named = _deactivation(lab)
    params = {"UserName": lab.user, "AccessKeyId": named["human"], "Status": "Inactive"}
    lab._before_deactivation(params)
    assert len(lab.violations) == 1 and "before its replacement" in lab.violations[0]
    lab.published.append({"event": "pickup-unconfirmed", "key_id": named["human"]})  # announced: allowed
    lab._before_deactivation(params)
    assert len(lab.violations) == 1


def test_a_deactivation_after_pickup_is_no_violation(org: Org) -> None:
    lab = Lab(org, deliver="github")
    named = _picked_up(lab)
    lab._before_deactivation({"UserName": lab.user, "AccessKeyId": named["human"], "Status": "Inactive"})
    assert lab.violations == []


def test_a_secret_in_a_notification_or_the_log_is_found(org: Org) -> None:
    lab = Lab(org, deliver="github")
    _deactivation(lab)
    lab.sweep("a day")  # the lab learns the keys' secrets as it checks the invariants
    assert lab.secrets and lab.leaks() == []
    secret = next(iter(lab.secrets))
    assert lab.leaks(f"oops {secret}") == ["a secret access key in the log"]
    lab.published.append({"event": "x", "message": secret})
    assert "a secret access key in a notification" in lab.leaks()


def test_githubs_calls_are_the_injectors_calls(org: Org) -> None:
    lab = Lab(org, deliver="github")
    lab.faults.fail(SERVICE, "PutSecret", status=500, times=0)
    _deactivation(lab)  # its rotation's push fails past the adapter's retries
    assert [op for s, op in lab.faults.log if s == SERVICE] == [
        "CreateInstallationToken",
        "GetPublicKey",
        "GetSecret",
        "GetSecret",
        "PutSecret",
    ]
    assert lab.faults.sends[(SERVICE, "PutSecret")] == 3  # one call, three attempts
    assert lab.delivered_key() is None


@pytest.mark.parametrize("window", ["closed", "closes"])
def test_a_closed_window_changes_no_key_and_the_next_open_day_does(org: Org, window: str) -> None:
    lab = Lab(org, rollout=True)
    (human,) = lab.create_user()
    lab.age(95)
    lab.day("closed day", window)
    assert lab.keys() == {human: "Active"} and lab.violations == []
    if window == "closes":  # the sweep queued the rotation; the worker found the window closed
        (waited,) = lab.steps[-1].outcomes
        assert waited.status == "waiting" and "rotation window" in waited.detail
    lab.day("open day")
    assert len(lab.keys()) == 2 and lab.violations == []


def test_a_key_changed_while_the_window_is_closed_is_a_violation(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = Lab(org, rollout=True)
    lab.create_user()
    lab.age(95)
    monkeypatch.setattr(LabWindow, "is_open", lambda self, at: True)  # rekey no longer sees it closed
    lab.day("closed day", "closed")
    assert any("CreateAccessKey" in v and "window is closed" in v for v in lab.violations), lab.violations
