"""Secrets Manager's rotation of a user's secret, step by step, on in-memory fakes: the four
steps as Secrets Manager sends them (through the member's relay) carry out rekey's protocol —
intent, create + stage in Secrets Manager's version, test by signing as the user, make current
and announce — with its refusals, its idempotency, and nothing a relay says taken as authority."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from rekey.domain import errors
from rekey.use_cases import rotation
from rekey.use_cases.rotation import StepRequest
from tests.fakes import ACCOUNT, NOW, FakePorts, FakeSecret
from tests.unit.test_work import SECRET, TAG, events, new_ports, ports, stored, work

__all__ = ["new_ports", "ports"]  # fixtures, used by name

RELAY = "rekey-rotation-relay"
RELAY_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/{RELAY}/{RELAY}"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{RELAY}"


@pytest.fixture
def native(new_ports: Callable[..., FakePorts]) -> FakePorts:
    return new_ports({"REKEY_ROTATION_RELAY": RELAY})


def started(ports: FakePorts, secret: FakeSecret) -> str:
    """What RotateSecret does before the first step: an empty version labelled AWSPENDING."""
    secret.stub = str(uuid.uuid4())
    return secret.stub


def step(ports: FakePorts, name: str, token: str, caller: str = RELAY_SESSION, secret_id: str = SECRET) -> str:
    return rotation.carry_out(ports, caller, StepRequest(name, secret_id, token)).status


def due_user(ports: FakePorts) -> tuple[str, FakeSecret]:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    return old, stored(ports, current=old, values={old: ports.iam.secrets[old]})


def test_the_four_steps_carry_out_rekeys_rotation(native: FakePorts) -> None:
    old, secret = due_user(native)
    token = started(native, secret)

    assert step(native, "createSecret", token) == "done"
    (new,) = set(native.iam.status("svc")) - {old}
    assert secret.intent is not None and secret.intent.token == token and secret.intent.known_key_ids == {old}
    assert (secret.current, secret.pending, secret.versions[token]) == (old, new, new)
    assert events(native) == []  # nothing is rotated until it is current

    assert step(native, "setSecret", token) == "noop"
    assert step(native, "testSecret", token) == "done"
    assert step(native, "finishSecret", token) == "done"

    assert (secret.current, secret.previous, secret.pending, secret.intent) == (new, old, None, None)
    assert native.iam.status("svc") == {old: "Active", new: "Active"}
    (rotated,) = native.outbox.notifications
    assert rotated.event.value == "rotated" and rotated.new_key_id == new and rotated.key_id == old
    assert "by Secrets Manager's rotation" in rotated.message and f"{old} was 91 days old" in rotated.message


def test_every_step_retried_does_nothing_twice(native: FakePorts) -> None:
    _, secret = due_user(native)
    token = started(native, secret)
    for name in rotation.STEPS:
        assert step(native, name, token) in ("done", "noop")
        assert step(native, name, token) in ("done", "noop")

    assert len(native.iam.status("svc")) == 2  # one key created
    assert events(native) == ["rotated"]  # announced once


def test_a_rotation_secrets_manager_starts_before_the_key_is_due_is_refused(native: FakePorts) -> None:
    (young,) = native.iam.add_user("svc", TAG, key_ages=(10,))
    secret = stored(native, current=young)
    token = started(native, secret)

    assert step(native, "createSecret", token) == "rejected"

    assert native.iam.status("svc") == {young: "Active"}  # nothing created
    assert secret.stub is None and secret.intent is None  # Secrets Manager may rotate again later
    (refused,) = native.outbox.notifications
    assert refused.event.value == "rejected" and "not due until" in refused.message
    assert "rekey rotate-now" in refused.message


def test_a_user_rekey_refuses_is_refused_whoever_starts_the_rotation(native: FakePorts) -> None:
    from tests.unit.test_work import ADMIN_POLICY

    (old,) = native.iam.add_user("svc", TAG, key_ages=(91,), policies={"admin": ADMIN_POLICY})
    secret = stored(native, current=old)
    token = started(native, secret)

    assert step(native, "createSecret", token) == "rejected"

    assert native.iam.status("svc") == {old: "Active"}
    assert events(native) == ["refused"]


def test_a_staged_key_that_does_not_sign_as_the_user_is_never_made_current(native: FakePorts) -> None:
    old, secret = due_user(native)
    token = started(native, secret)
    step(native, "createSecret", token)
    native.sts_answers.append(f"arn:aws:iam::{ACCOUNT}:user/someone-else")

    with pytest.raises(errors.KeyVerificationFailed):
        step(native, "testSecret", token)

    assert secret.current == old
    (failed,) = native.outbox.notifications
    assert failed.event.value == "failed" and "testSecret" in failed.message


@pytest.mark.parametrize(
    ("caller", "secret_id", "why"),
    [
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/alice", SECRET, errors.Forbidden),
        (f"arn:aws:iam::{ACCOUNT}:user/{RELAY}", SECRET, errors.Forbidden),
        (RELAY_SESSION, f"arn:aws:secretsmanager:us-east-1:999999999999:secret:{SECRET}-AbCdEf", errors.Forbidden),
        (RELAY_SESSION, "someone/else", errors.InvalidRequest),
        (RELAY_SESSION, "arn:aws:s3:::bucket", errors.InvalidRequest),
    ],
    ids=["not-the-relay", "a-user-named-like-it", "another-accounts-secret", "not-a-rekey-secret", "not-a-secret-arn"],
)
def test_nothing_but_the_relay_of_the_secrets_own_account_is_heard(
    native: FakePorts, caller: str, secret_id: str, why: type[Exception]
) -> None:
    old, secret = due_user(native)
    token = started(native, secret)

    with pytest.raises(why):
        step(native, "createSecret", token, caller=caller, secret_id=secret_id)

    assert native.iam.status("svc") == {old: "Active"} and events(native) == []


def test_the_secrets_arn_names_the_secret(native: FakePorts) -> None:
    _, secret = due_user(native)
    token = started(native, secret)
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{SECRET}-AbCdEf"

    assert step(native, "createSecret", token, secret_id=arn) == "done"


def test_an_unknown_step_or_a_hub_with_rotation_off_is_refused(
    native: FakePorts, new_ports: Callable[..., FakePorts]
) -> None:
    with pytest.raises(errors.InvalidRequest):
        step(native, "dropSecret", str(uuid.uuid4()))
    with pytest.raises(errors.Forbidden, match="REKEY_ROTATION_RELAY"):
        step(new_ports(), "createSecret", str(uuid.uuid4()))


def test_enabling_rotation_tests_the_configuration_without_a_rotation(native: FakePorts) -> None:
    old, secret = due_user(native)
    token = started(native, secret)  # RotateImmediately false: Secrets Manager runs testSecret only

    assert step(native, "testSecret", token) == "noop"
    assert native.iam.status("svc") == {old: "Active"} and events(native) == []


def test_a_sweeps_rotation_is_handed_to_secrets_manager(native: FakePorts) -> None:
    old, secret = due_user(native)

    outcome = work(native, "rotate", old)

    assert outcome.status == "done"
    assert secret.rotations == [(FUNCTION, 90, True)]  # RotateSecret: the relay, the policy's schedule
    assert native.iam.status("svc") == {old: "Active"}  # the steps create the key
    assert events(native) == []


def test_a_users_first_rotation_is_secrets_managers_into_a_secret_created_empty(native: FakePorts) -> None:
    (old,) = native.iam.add_user("svc", TAG, key_ages=(91,))

    assert work(native, "rotate", old).status == "done"

    secret = native.secrets.secrets[SECRET]
    assert secret.policy is not None and secret.current is None and secret.intent is None
    assert secret.rotations == [(FUNCTION, 90, True)]
    token = started(native, secret)
    for name in rotation.STEPS:
        step(native, name, token)
    (new,) = set(native.iam.status("svc")) - {old}
    assert (secret.current, secret.intent) == (new, None)
    assert events(native) == ["rotated"]


def test_an_operators_rotation_is_rekeys_own_then_rotation_is_enabled(native: FakePorts) -> None:
    from rekey.use_cases.work import OperatorRequest

    (young,) = native.iam.add_user("svc", TAG, key_ages=(10,))

    outcome = work(native, "rotate", young, request=OperatorRequest("arn:aws:iam::999988887777:user/alice"))

    assert outcome.status == "done" and len(native.iam.status("svc")) == 2
    assert native.secrets.secrets[SECRET].rotations == [(FUNCTION, 90, False)]  # enabled, not rotated again
    assert events(native) == ["rotated"]


def test_a_secret_whose_failed_rotation_left_an_empty_pending_version_is_rotated_again(native: FakePorts) -> None:
    old, secret = due_user(native)
    started(native, secret)  # a rotation that failed before its createSecret stored anything

    assert work(native, "rotate", old).status == "done"

    assert secret.stub is None and secret.rotations == [(FUNCTION, 90, True)]


def test_a_rotation_rekey_settles_after_secrets_manager_stopped_is_announced_once(native: FakePorts) -> None:
    old, secret = due_user(native)
    token = started(native, secret)
    step(native, "createSecret", token)
    (new,) = set(native.iam.status("svc")) - {old}
    native.now = lambda: NOW + timedelta(hours=2)  # Secrets Manager never sent the other steps

    assert work(native, "finish-rotation", new).status == "done"  # the scan's settling, hours later

    assert (secret.current, secret.pending, secret.intent) == (new, None, None)
    assert step(native, "finishSecret", token) == "noop"  # Secrets Manager's retry finds it done
    assert events(native) == ["rotated"]


def test_a_secret_from_before_rotation_was_enabled_gets_it_at_its_users_next_action(native: FakePorts) -> None:
    (old,) = native.iam.add_user("svc", TAG, key_ages=(101,))
    new = native.iam.add_key("svc", NOW - timedelta(days=11))
    secret = stored(native, current=new, previous=old)  # rotated before REKEY_ROTATION_RELAY was set

    assert work(native, "deactivate", old).status == "done"
    assert secret.rotations == [(FUNCTION, 90, False)]  # enabled, not rotated
    assert work(native, "delete", old).status in ("done", "noop")
    assert len(secret.rotations) == 1  # configured already: no call


def test_a_rotation_secrets_manager_cannot_run_is_rekeys_own_and_said(native: FakePorts) -> None:
    """No relay in the account, or the writer denied RotateSecret: the key is rotated all the
    same, and a warning says what to deploy (Secrets Manager does not record that rotation)."""
    old, secret = due_user(native)
    native.failures.fail("rotate", errors.AccessDenied("secretsmanager:RotateSecret rekey/svc: AccessDeniedException"))

    assert work(native, "rotate", old).status == "done"

    (new,) = set(native.iam.status("svc")) - {old}
    assert secret.current == new and secret.rotations == []
    unrecorded, rotated = native.outbox.notifications
    assert (unrecorded.event.value, unrecorded.severity.value) == ("secretsmanager-rotation-failed", "warning")
    assert "HubRotationUrl" in unrecorded.message and "AccessDenied" in unrecorded.message
    assert rotated.event.value == "rotated" and "by rekey itself" in rotated.message


def test_rotation_that_cannot_be_enabled_is_said_and_the_keys_rotate_all_the_same(native: FakePorts) -> None:
    from rekey.use_cases.work import OperatorRequest

    (young,) = native.iam.add_user("svc", TAG, key_ages=(10,))
    native.failures.fail("rotate", errors.AccessDenied("secretsmanager:RotateSecret rekey/svc: AccessDeniedException"))

    outcome = work(native, "rotate", young, request=OperatorRequest("arn:aws:iam::999988887777:user/alice"))

    assert outcome.status == "done" and len(native.iam.status("svc")) == 2
    assert events(native) == ["rotated", "secretsmanager-rotation-failed"]
