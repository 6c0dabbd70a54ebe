"""The worker's branches on in-memory fakes (tests/fakes.py): what a user would notice — keys,
the secret's stages, the announcements — in milliseconds, with no emulator."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from rekey.domain import errors
from rekey.domain.entities import ReportKey
from rekey.domain.models import Intent, KeyStatus, Policy, SecretState
from rekey.domain.quiet import quiet_today, report_view, suspect_secret
from rekey.handlers import worker
from rekey.messages import WorkItem
from rekey.use_cases.scan import scan_account
from rekey.use_cases.work import OperatorRequest, WorkOutcome, run_work_item
from tests.fakes import ACCOUNT, NOW, FakePorts, FakeSecret

TAG = {"rekey:rotate": "true"}
SECRET = "rekey/svc"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}


@pytest.fixture
def new_ports(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[..., FakePorts]]:
    """FakePorts with the given environment; after the test, no secret half may appear in any
    announcement or log line (at DEBUG) of theirs."""
    caplog.set_level(logging.DEBUG)
    made: list[FakePorts] = []

    def new(env: dict[str, str] | None = None) -> FakePorts:
        made.append(FakePorts(env))
        return made[-1]

    yield new
    for ports in made:
        said = "\n".join([n.model_dump_json() for n in ports.outbox.notifications] + [caplog.text])
        assert not [s for s in ports.iam.secrets.values() if s in said]


@pytest.fixture
def ports(new_ports: Callable[..., FakePorts]) -> FakePorts:
    return new_ports()


def work(ports: FakePorts, action: str, key_id: str | None, user: str = "svc", **kwargs: Any) -> WorkOutcome:
    item = WorkItem(account_id=kwargs.pop("account_id", ACCOUNT), user_name=user, key_id=key_id, action=action,
                    sweep_id="20261201T043000Z")  # fmt: skip
    return run_work_item(ports, item, **kwargs)


def events(ports: FakePorts) -> list[str]:
    return [n.event.value for n in ports.outbox.notifications]


def stored(ports: FakePorts, name: str = SECRET, **fields: Any) -> FakeSecret:
    """A secret rekey created for svc (its resource policy rekey's), with its tags and stages as given."""
    fields.setdefault("policy", _policy_of_svc(ports))
    secret = FakeSecret(ports.iam.users["svc"].user_id, **fields)
    ports.secrets.secrets[name] = secret
    return secret


# --------------------------------------------------------------------------- rotation


def test_a_due_key_is_replaced_intent_first_then_created_staged_verified_and_promoted(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))

    outcome = work(ports, "rotate", old)

    assert (outcome.status, outcome.detail) == ("done", "rotate")
    (new,) = set(ports.iam.status("svc")) - {old}
    assert ports.iam.status("svc") == {old: "Active", new: "Active"}
    secret = ports.secrets.secrets[SECRET]
    assert (secret.current, secret.pending, secret.intent) == (new, None, None)
    assert secret.values == {new: ports.iam.secrets[new]}  # only the new key's secret half is stored
    # A first version is stored current: nothing to promote.
    protocol = ["begin_rotation", "create_key", "stage", "caller_of", "clear_intent"]
    assert [c for c in ports.failures.calls if c in protocol] == protocol
    (rotated,) = ports.outbox.notifications
    assert (rotated.event.value, rotated.key_id, rotated.new_key_id) == ("rotated", old, new)
    assert rotated.secret_name == SECRET


def test_a_second_delivery_of_the_same_item_changes_nothing(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    work(ports, "rotate", old)
    keys = ports.iam.status("svc")

    again = work(ports, "rotate", old)

    assert again.status == "noop" and ports.iam.status("svc") == keys
    assert events(ports) == ["rotated"]


def test_an_operator_rotates_a_key_that_is_not_due(ports: FakePorts) -> None:
    (young,) = ports.iam.add_user("svc", TAG, key_ages=(10,))

    outcome = work(ports, "rotate", young, request=OperatorRequest("arn:aws:iam::999988887777:user/alice"))

    assert outcome.status == "done" and len(ports.iam.status("svc")) == 2
    assert "requested by arn:aws:iam::999988887777:user/alice" in ports.outbox.notifications[0].message


OPERATOR = "arn:aws:sts::999988887777:assumed-role/rekey-operator/alice"


def test_a_leak_of_the_replaced_key_during_the_overlap_revokes_it_and_nothing_else(ports: FakePorts) -> None:
    """`rekey rotate-now --key-id` on the key a rotation replaced, still active in its overlap:
    consumers read the current key from the secret, so the leaked one is only revoked."""
    old, new = ports.iam.add_user("svc", TAG, key_ages=(95, 5))
    secret = stored(ports, current=new, previous=old)

    outcome = work(ports, "rotate", new, request=OperatorRequest(OPERATOR, leaked_key_id=old))

    assert outcome.status == "done" and [(a.kind.value, a.key_id) for a in outcome.performed] == [("deactivate", old)]
    assert ports.iam.status("svc") == {old: "Inactive", new: "Active"} and secret.revoked == {old}
    assert events(ports) == ["deactivated"] and "leaked" in ports.outbox.notifications[0].message


def test_a_leak_of_the_current_key_during_the_overlap_replaces_it_then_revokes_it(ports: FakePorts) -> None:
    """The current key leaked while the replaced one is still active: no more room for a third
    key, so the replaced one is retired first (every step announced, the user never without an
    active key), the replacement stored current, and the leaked key revoked for good."""
    old, new = ports.iam.add_user("svc", TAG, key_ages=(95, 5))
    secret = stored(ports, current=new, previous=old, values={new: ports.iam.secrets[new]})

    outcome = work(ports, "rotate", new, request=OperatorRequest(OPERATOR, leaked_key_id=new))

    assert outcome.status == "done"
    assert [(a.kind.value, a.key_id) for a in outcome.performed] == [
        ("deactivate", old),
        ("delete", old),
        ("rotate", new),
        ("deactivate", new),
    ]
    keys = ports.iam.status("svc")
    (fresh,) = set(keys) - {new}
    assert keys == {new: "Inactive", fresh: "Active"} and secret.current == fresh and secret.revoked == {new}
    assert events(ports) == ["deactivated", "deleted", "rotated", "deactivated"]
    again = work(ports, "rotate", fresh, request=OperatorRequest(OPERATOR, leaked_key_id=new))
    assert again.status == "noop" and "inactive already" in again.detail and ports.iam.status("svc") == keys


def test_a_leaked_key_that_is_not_the_users_is_refused(ports: FakePorts) -> None:
    (key,) = ports.iam.add_user("svc", TAG, key_ages=(5,))
    stored(ports, current=key)

    outcome = work(ports, "rotate", key, request=OperatorRequest(OPERATOR, leaked_key_id="AKIANOTAKEYOFSVC0000"))

    assert outcome.status == "rejected" and "not an access key of the user" in outcome.detail
    assert ports.iam.status("svc") == {key: "Active"} and events(ports) == ["rejected"]


def _policy_of_svc(ports: FakePorts) -> dict[str, Any]:
    s = ports.settings
    return s.secret_policy(ports.iam.users["svc"].arn, ACCOUNT)


@pytest.mark.parametrize("held", ["rekey's", "another", None], ids=["rekeys-policy", "foreign-policy", "no-policy"])
def test_every_rotation_puts_rekeys_policy_before_the_key_exists(ports: FakePorts, held: str | None) -> None:
    """Whatever the secret held, and whatever its tags say: the policy is rekey's before the key exists."""
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    other = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*"}]}
    policy = {"rekey's": _policy_of_svc(ports), "another": other, None: None}[held]
    secret = stored(ports, current=old, values={old: ports.iam.secrets[old]}, policy=policy)

    assert work(ports, "rotate", old).status == "done"

    assert secret.policy_puts == 1 and secret.policy == _policy_of_svc(ports)
    calls = ports.failures.calls
    assert calls.index("begin_rotation") < calls.index("create_key")


def test_an_orphan_of_a_crashed_attempt_is_deleted_before_the_rotation_starts_again(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    started = NOW - timedelta(hours=1)
    stored(ports, current=old, intent=Intent(started, frozenset({old})))
    orphan = ports.iam.add_key("svc", started + timedelta(minutes=1))  # created, never stored, never used

    outcome = work(ports, "rotate", old)

    assert outcome.detail == "delete-orphan; clear-intent; rotate"
    keys = ports.iam.status("svc")
    assert orphan not in keys and len(keys) == 2 and keys[old] == "Active"
    assert events(ports) == ["deleted", "rotated"]
    assert ports.secrets.secrets[SECRET].intent is None


def test_a_secret_whose_policy_refuses_rekeys_writer_is_a_conflict_and_no_key_is_made(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    stored(ports, current=old, values={old: ports.iam.secrets[old]})
    denied = errors.AccessDenied("secretsmanager:PutResourcePolicy rekey/svc: AccessDeniedException (explicit deny)")
    ports.failures.fail("begin_rotation", denied)

    outcome = work(ports, "rotate", old)

    assert outcome.status == "rejected" and ports.iam.status("svc") == {old: "Active"}
    assert events(ports) == ["conflict"] and "explicit deny" in ports.outbox.notifications[0].message


@pytest.mark.parametrize("policy", [None, {"Version": "2012-10-17", "Statement": []}], ids=["none", "foreign"])
def test_an_orphan_is_deleted_only_from_a_secret_carrying_rekeys_policy(
    ports: FakePorts, policy: dict[str, Any] | None
) -> None:
    """Without rekey's policy, anyone could have written the intent: the key may be a person's."""
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    started = NOW - timedelta(hours=1)
    secret = stored(ports, current=old, intent=Intent(started, frozenset({old})), policy=policy)
    person = ports.iam.add_key("svc", started + timedelta(minutes=1))

    outcome = work(ports, "rotate", old)

    assert outcome.status == "rejected"
    assert ports.iam.status("svc") == {old: "Active", person: "Active"}
    assert events(ports) == ["conflict"] and secret.policy == policy
    assert "rekey's resource policy" in ports.outbox.notifications[0].message


def test_a_rotation_that_crashed_after_storing_its_key_is_finished(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    started = NOW - timedelta(hours=1)
    staged = ports.iam.add_key("svc", started + timedelta(minutes=1))
    secret = stored(ports, current=old, pending=staged, intent=Intent(started, frozenset({old})))
    secret.values[staged] = ports.iam.secrets[staged]

    assert work(ports, "finish-rotation", staged).status == "done"
    assert work(ports, "clear-intent", None).status == "noop"  # the finish cleared it once announced

    assert (secret.current, secret.previous, secret.pending, secret.intent) == (staged, old, None, None)
    assert ports.iam.status("svc") == {old: "Active", staged: "Active"}  # nothing created, nothing lost
    (finished,) = ports.outbox.notifications
    assert finished.event.value == "rotated" and finished.message.startswith("finished an interrupted rotation")


def test_a_rotation_in_flight_is_left_to_its_worker(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    stored(ports, current=old, intent=Intent(NOW - timedelta(minutes=2), frozenset({old})))
    ports.iam.add_key("svc", NOW - timedelta(minutes=1))

    outcome = work(ports, "rotate", old)

    assert outcome.status == "noop" and "may still be running" in outcome.detail
    assert len(ports.iam.status("svc")) == 2 and events(ports) == []


def test_an_inactive_key_is_deleted_to_make_room_for_the_rotation(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    spare = ports.iam.add_key("svc", NOW - timedelta(days=95), KeyStatus.INACTIVE)

    outcome = work(ports, "rotate", old)

    assert outcome.detail == "delete; rotate"
    assert [(a.kind.value, a.key_id) for a in outcome.performed] == [("delete", spare), ("rotate", old)]
    keys = ports.iam.status("svc")
    assert spare not in keys and len(keys) == 2 and set(keys.values()) == {"Active"}
    deleted, rotated = ports.outbox.notifications
    assert (deleted.event.value, deleted.key_id, rotated.event.value) == ("deleted", spare, "rotated")
    assert "make room" in deleted.message


def test_two_active_keys_block_the_rotation_and_the_scan_says_so(ports: FakePorts) -> None:
    other, newest = ports.iam.add_user("svc", TAG, key_ages=(95, 91))

    result = scan_account(ports, ports.org.accounts[0], "20261201T043000Z")

    assert result.items == []
    (blocked,) = result.notifications
    assert blocked.event.value == "blocked" and f"deactivate or delete {other}" in blocked.message
    assert work(ports, "rotate", newest).status == "noop"  # a forged or stale item does nothing either
    assert ports.iam.status("svc") == {other: "Active", newest: "Active"}


# --------------------------------------------------------------------------- retiring old keys


def test_an_old_key_is_deactivated_once_its_replacement_has_existed_long_enough(ports: FakePorts) -> None:
    old, new = ports.iam.add_user("svc", TAG, key_ages=(101, 11))
    stored(ports, current=new, previous=old)

    assert work(ports, "deactivate", old).status == "done"

    assert ports.iam.status("svc") == {old: "Inactive", new: "Active"}
    (deactivated,) = ports.outbox.notifications
    assert (deactivated.event.value, deactivated.key_id) == ("deactivated", old)


@pytest.mark.parametrize("action", ["deactivate", "delete"])
def test_a_redelivered_item_whose_action_was_done_unannounced_announces_it_late(ports: FakePorts, action: str) -> None:
    """The first attempt died between the action and its announcement: SQS redelivers the item,
    which finds the action done and announces it, late, with the id an on-time one would have."""
    old, new = ports.iam.add_user("svc", TAG, key_ages=(111, 21) if action == "delete" else (101, 11))
    if action == "delete":
        ports.iam.set_status("svc", old, KeyStatus.INACTIVE)
    stored(ports, current=new, previous=old)
    assert work(ports, action, old).status == "done"
    (on_time,) = ports.outbox.notifications

    fresh = FakePorts()  # the same state, as a redelivery after the crash finds it
    fresh.iam, fresh.secrets = ports.iam, ports.secrets
    assert work(fresh, action, old).status == "noop" and events(fresh) == []  # a stale duplicate: silent
    assert work(fresh, action, old, redelivered=True).status == "noop"

    (late,) = fresh.outbox.notifications
    assert (late.event, late.key_id, late.late) == (on_time.event, old, True)
    assert late.notification_id == on_time.notification_id and "announced late" in late.message


def test_a_rotation_that_died_before_announcing_is_announced_when_its_intent_is_settled(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    started = NOW - timedelta(hours=1)
    new = ports.iam.add_key("svc", started + timedelta(minutes=1))
    # Promoted, never announced, the intent still there: the worker died after UpdateSecretVersionStage.
    stored(ports, current=new, previous=old, intent=Intent(started, frozenset({old})))

    assert work(ports, "rotate", old).status == "done"

    (rotated,) = ports.outbox.notifications
    assert (rotated.event.value, rotated.key_id, rotated.new_key_id, rotated.late) == ("rotated", old, new, True)
    assert ports.secrets.secrets[SECRET].intent is None and ports.iam.status("svc") == {old: "Active", new: "Active"}


def test_an_old_key_still_in_use_is_announced_then_deactivated_under_enforce(ports: FakePorts) -> None:
    old, new = ports.iam.add_user("svc", TAG, key_ages=(101, 11))
    stored(ports, current=new, previous=old)
    ports.iam.use("svc", old, NOW - timedelta(days=1))

    assert work(ports, "deactivate", old).status == "done"

    assert ports.iam.status("svc")[old] == "Inactive"
    in_use, deactivated = ports.outbox.notifications
    assert (in_use.event.value, deactivated.event.value) == ("in-use", "deactivated")
    assert in_use.last_used_service == "s3" and "deactivating it now" in in_use.message


def test_an_old_key_still_in_use_is_deferred_and_warned_once_a_day_under_defer(
    new_ports: Callable[..., FakePorts],
) -> None:
    ports = new_ports({"REKEY_IN_USE_POLICY": "defer"})
    old, new = ports.iam.add_user("svc", TAG, key_ages=(101, 11))
    secret = stored(ports, current=new, previous=old)
    ports.iam.use("svc", old, NOW - timedelta(days=1))

    assert work(ports, "deactivate", old).status == "noop"  # deferred: no longer the plan
    assert work(ports, "warn-in-use", old).status == "done"
    assert work(ports, "warn-in-use", old).status == "noop"  # warned today already

    assert ports.iam.status("svc")[old] == "Active"
    assert events(ports) == ["in-use"] and secret.warned == (old, NOW.date())


def test_an_old_key_waits_for_its_replacement_to_be_adopted_under_adopt(new_ports: Callable[..., FakePorts]) -> None:
    ports = new_ports({"REKEY_IN_USE_POLICY": "adopt"})
    old, new = ports.iam.add_user("svc", TAG, key_ages=(101, 11))
    secret = stored(ports, current=new, previous=old)

    assert work(ports, "warn-not-adopted", old).status == "done"

    assert ports.iam.status("svc")[old] == "Active"
    (waiting,) = ports.outbox.notifications
    assert waiting.event.value == "not-adopted" and "has never been used by a consumer" in waiting.message
    assert secret.warned == (old, NOW.date())


def test_an_old_inactive_key_is_deleted(ports: FakePorts) -> None:
    old, new = ports.iam.add_user("svc", TAG, key_ages=(111, 21))
    ports.iam.set_status("svc", old, KeyStatus.INACTIVE)
    stored(ports, current=new, previous=old)

    assert work(ports, "delete", old).status == "done"

    assert ports.iam.status("svc") == {new: "Active"}
    assert events(ports) == ["deleted"]


# --------------------------------------------------------------------------- refusals


def test_a_privileged_user_is_refused_whoever_asks(ports: FakePorts) -> None:
    (key,) = ports.iam.add_user("svc", TAG, key_ages=(91,), policies=(ADMIN_POLICY,))

    assert work(ports, "rotate", key).status == "rejected"
    assert work(ports, "rotate", key, request=OperatorRequest("arn:aws:iam::999988887777:user/alice")).status == (
        "rejected"
    )

    assert ports.iam.status("svc") == {key: "Active"} and "create_key" not in ports.failures.calls
    assert events(ports) == ["refused", "refused"]
    assert ports.outbox.notifications[0].message.startswith("refused, never touched")


def test_a_user_no_longer_tagged_is_left_alone(ports: FakePorts) -> None:
    (key,) = ports.iam.add_user("svc", {"rekey:rotate": "false"}, key_ages=(91,))

    outcome = work(ports, "rotate", key)

    assert outcome.status == "rejected" and ports.iam.status("svc") == {key: "Active"}
    (rejected,) = ports.outbox.notifications
    assert rejected.event.value == "rejected" and "not opted in" in rejected.message


def test_a_secret_rekey_did_not_create_is_never_adopted(ports: FakePorts) -> None:
    (key,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    ports.secrets.secrets[SECRET] = FakeSecret(owner=None, current=key)

    assert work(ports, "rotate", key).status == "rejected"

    assert ports.iam.status("svc") == {key: "Active"}
    (conflict,) = ports.outbox.notifications
    assert conflict.event.value == "conflict" and f"rekey:user-id={ports.iam.users['svc'].user_id}" in conflict.message


def test_a_secret_of_another_user_under_the_same_name_blocks_the_user(ports: FakePorts) -> None:
    (key,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    ports.secrets.secrets[SECRET] = FakeSecret(owner="AIDASOMEONEELSE", current="AKIAOTHERUSERSKEY000")

    outcome = work(ports, "rotate", key)

    assert (outcome.status, outcome.detail) == ("rejected", "secret name collision")
    assert events(ports) == ["blocked"] and ports.iam.status("svc") == {key: "Active"}


def test_a_secret_scheduled_for_deletion_stops_a_rotation_before_any_key_exists(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    secret = stored(ports, current=old, deleted=NOW - timedelta(days=2))
    operator = OperatorRequest("arn:aws:iam::999988887777:user/alice")

    assert work(ports, "rotate", old).status == "rejected"
    assert work(ports, "rotate", old, request=operator).status == "rejected"  # an operator's too

    assert ports.iam.status("svc") == {old: "Active"}
    assert not {"begin_rotation", "create_key", "stage"} & set(ports.failures.calls)
    assert events(ports) == ["secret-unwritable", "secret-unwritable"]
    unwritable = ports.outbox.notifications[0]
    assert (unwritable.severity.value, unwritable.key_id, unwritable.secret_name) == ("error", old, SECRET)
    assert "scheduled for deletion (DeletedDate 2026-11-29T09:00:00Z)" in unwritable.message
    assert f"aws secretsmanager restore-secret --secret-id {SECRET}" in unwritable.message

    secret.deleted = None  # restored
    assert work(ports, "rotate", old).status == "done"
    assert events(ports)[-1] == "rotated" and secret.current != old


def test_the_scan_announces_a_secret_scheduled_for_deletion_instead_of_queueing_its_rotation(ports: FakePorts) -> None:
    old, retired = ports.iam.add_user("svc", TAG, key_ages=(95, 200))
    ports.iam.set_status("svc", retired, KeyStatus.INACTIVE)
    stored(ports, current=old, deleted=NOW - timedelta(days=2))

    result = scan_account(ports, ports.org.accounts[0], "20261201T043000Z")

    # Making room needs no secret: queued. The rotation is announced, once this sweep.
    assert [(i.action.value, i.key_id) for i in result.items] == [("delete", retired)]
    (unwritable,) = result.notifications
    assert (unwritable.event.value, unwritable.severity.value, unwritable.key_id) == ("secret-unwritable", "error", old)
    assert unwritable.sweep_id == "20261201T043000Z" and "restore-secret" in unwritable.message


def test_an_item_naming_another_users_key_is_rejected(ports: FakePorts) -> None:
    ports.iam.add_user("svc", TAG, key_ages=(91,))
    (theirs,) = ports.iam.add_user("other", TAG, key_ages=(91,))

    outcome = work(ports, "deactivate", theirs)

    assert (outcome.status, outcome.detail) == ("rejected", "the key belongs to another user")
    assert ports.iam.status("other") == {theirs: "Active"}


def test_an_excluded_account_is_refused_before_any_role_is_assumed(new_ports: Callable[..., FakePorts]) -> None:
    ports = new_ports({"REKEY_EXCLUDED_ACCOUNTS": ACCOUNT})
    (key,) = ports.iam.add_user("svc", TAG, key_ages=(91,))

    outcome = work(ports, "rotate", key)

    assert outcome.status == "rejected" and "REKEY_EXCLUDED_ACCOUNTS" in outcome.detail
    assert ports.failures.calls == [] and ports.iam.status("svc") == {key: "Active"}


def test_an_account_outside_the_organization_is_refused(ports: FakePorts) -> None:
    outcome = work(ports, "rotate", "AKIAAAAAAAAAAAAAAAAA", account_id="444455556666")

    assert outcome.status == "rejected" and "not an ACTIVE account of the organization" in outcome.detail
    assert events(ports) == ["rejected"] and ports.failures.calls == []


# --------------------------------------------------------------------------- failures and races


def test_a_key_whose_secret_cannot_be_stored_is_deleted_at_once(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    ports.failures.fail("stage", errors.Unavailable("secretsmanager:PutSecretValue: InternalServiceError"))

    with pytest.raises(errors.Unavailable):
        work(ports, "rotate", old)

    assert ports.iam.status("svc") == {old: "Active"}  # the new key is gone: nobody ever held it
    assert ports.secrets.secrets[SECRET].intent is not None  # the next attempt knows a rotation began
    assert events(ports) == []


def test_a_key_that_signs_as_someone_else_is_never_promoted(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    stored(ports, current=old)
    ports.sts_answers.append("arn:aws:iam::111122223333:user/someone-else")

    with pytest.raises(errors.KeyVerificationFailed, match="signs as arn:aws:iam::111122223333:user/someone-else"):
        work(ports, "rotate", old)

    secret = ports.secrets.secrets[SECRET]
    assert secret.current == old and secret.pending is not None and events(ports) == []


def test_a_key_is_verified_again_while_iam_propagates_it(ports: FakePorts) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    slept: list[float] = []
    ports.sleep = slept.append
    ports.failures.fail("caller_of", errors.AccessDenied("sts:GetCallerIdentity: InvalidClientTokenId"), times=2)

    assert work(ports, "rotate", old).status == "done"
    assert slept == [0, 1, 2]


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ("begin_rotation", errors.Conflict("rekey/svc exists")),  # another worker created the secret
        ("create_key", errors.LimitExceeded("AccessKeysPerUser")),  # someone made a second key meanwhile
    ],
)
def test_a_worker_that_lost_a_race_stops_quietly(ports: FakePorts, operation: str, error: Exception) -> None:
    (old,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    ports.failures.fail(operation, error)

    outcome = work(ports, "rotate", old)

    assert outcome.status == "noop" and ports.iam.status("svc") == {old: "Active"} and events(ports) == []


# --------------------------------------------------------------------------- the worker Lambda's batches


def sqs_event(*bodies: str, attempt: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{n}",
                "receiptHandle": f"r{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(attempt), "MessageGroupId": f"g{n}"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:999988887777:rekey-work.fifo",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies)
        ]
    }


def item_body(key_id: str, user: str = "svc") -> str:
    item = WorkItem(account_id=ACCOUNT, user_name=user, key_id=key_id, action="rotate", sweep_id="s")
    return item.model_dump_json()


@pytest.mark.parametrize(
    ("attempt", "event", "wording"),
    [(1, "failed", "rotate failed (attempt 1), will be retried"), (3, "dead-lettered", "last attempt (3 of 3)")],
)
def test_a_failing_item_is_announced_and_redelivered_while_the_others_go_on(
    ports: FakePorts, attempt: int, event: str, wording: str
) -> None:
    (failing,) = ports.iam.add_user("svc", TAG, key_ages=(91,))
    (fine,) = ports.iam.add_user("ok", TAG, key_ages=(91,))
    ports.failures.fail("stage", errors.Unavailable("secretsmanager:PutSecretValue: InternalServiceError"))
    outcomes: list[WorkOutcome] = []

    response = worker.process(sqs_event(item_body(failing), item_body(fine, "ok"), attempt=attempt), ports,
                              outcomes=outcomes)  # fmt: skip

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert [o.item.user_name for o in outcomes] == ["ok"] and len(ports.iam.status("ok")) == 2
    failure = next(n for n in ports.outbox.notifications if n.user_name == "svc")
    assert failure.event.value == event and wording in failure.message
    assert failure.message.endswith("unavailable: secretsmanager:PutSecretValue: InternalServiceError")


@pytest.mark.parametrize(("attempt", "announced"), [(1, ["rejected"]), (2, []), (3, ["dead-lettered"])])
def test_a_malformed_item_is_never_acted_upon_and_announced_first_and_last(
    ports: FakePorts, attempt: int, announced: list[str]
) -> None:
    body = json.dumps({"account_id": ACCOUNT, "user_name": "svc", "action": "explode"})
    # With an item that stays (a batch that fails entirely is failed as a whole).
    ports.iam.add_user("ok", TAG, key_ages=(10,))
    outcomes: list[WorkOutcome] = []

    response = worker.process(sqs_event(body, item_body("AKIANOLONGERTHERE000", "ok"), attempt=attempt), ports,
                              outcomes=outcomes)  # fmt: skip

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert events(ports) == announced and [o.item.user_name for o in outcomes] == ["ok"]
    for n in ports.outbox.notifications:
        assert "malformed work item m0 (action: enum; sweep_id: missing)" in n.message and "explode" not in n.message


@pytest.mark.parametrize(
    ("listed", "report", "suspect"),
    [
        (None, [], False),  # no secret yet: nothing to serve
        (SecretState(exists=True, current_key_id="K1"), [(True, 10)], False),
        (SecretState(exists=True, current_key_id="K1"), [], True),  # every key deleted
        (SecretState(exists=True, current_key_id="K1"), [(False, 10)], True),  # the only key inactive
        (SecretState(exists=True, current_key_id="K2"), [(True, 40), (False, 10)], True),  # the newest inactive
        (SecretState(exists=True, current_key_id="K2"), [(False, 40), (True, 10)], False),  # the old one retired
        (SecretState(exists=True, current_unread=True), [(True, 10)], True),  # someone else's version
        (SecretState(exists=True), [(True, 10)], False),  # someone else's version, checked
    ],
)
def test_the_scan_reads_a_user_whose_secret_may_be_broken(
    listed: SecretState | None, report: list[tuple[bool, int]], suspect: bool
) -> None:
    keys = [ReportKey(active, NOW - timedelta(days=age), slot) for slot, (active, age) in enumerate(report, 1)]
    assert suspect_secret(listed, keys) is suspect


def test_the_report_names_the_newest_key_rekey_s_current_and_the_other_the_one_it_replaced() -> None:
    old, new = ReportKey(True, NOW - timedelta(days=95), 1), ReportKey(True, NOW - timedelta(days=5), 2)
    listed = SecretState(exists=True, current_key_id="K2", previous_key_id="K1")
    assert [k.key_id for k in report_view([new, old], listed) or []] == ["K1", "K2"]
    assert [k.key_id for k in report_view([old], None) or []] == ["access-key-1"]
    twins = [ReportKey(True, NOW, 1), ReportKey(True, NOW, 2)]
    assert report_view(twins, listed) is None  # which one is current cannot be told: read


def test_a_user_is_read_only_when_the_report_and_the_listing_leave_something_to_do_or_doubt() -> None:
    policy = Policy(90, 100, 110)
    young = [ReportKey(True, NOW - timedelta(days=30), 1)]
    due = [ReportKey(True, NOW - timedelta(days=90), 1)]
    mine = SecretState(exists=True, current_key_id="K1")
    assert quiet_today(policy, young, mine, 30, NOW)
    assert not quiet_today(policy, due, mine, 30, NOW)
    in_flight = replace(mine, intent=Intent(NOW - timedelta(days=2), frozenset()))
    assert not quiet_today(policy, young, in_flight, 30, NOW)
    assert not quiet_today(policy, young, replace(mine, current_key_id=None, current_unread=True), 30, NOW)
    # no key, and rekey creates first keys: that is today's action
    assert not quiet_today(replace(policy, create_first_key=True), [], None, 30, NOW)
