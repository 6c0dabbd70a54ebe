"""decide(): the lifecycle table, over 0/1/2 keys x status x age band, plus its invariants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rekey.domain.lifecycle import decide
from rekey.domain.models import (
    AccessKey,
    Action,
    ActionKind,
    Intent,
    InUsePolicy,
    KeyStatus,
    KeyUse,
    Policy,
    SecretState,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = Policy(90, 100, 110)
A, I = KeyStatus.ACTIVE, KeyStatus.INACTIVE  # noqa: E741
ROTATE, DEACTIVATE, DELETE = ActionKind.ROTATE, ActionKind.DEACTIVATE, ActionKind.DELETE
BLOCKED, BROKEN, FINISH, ORPHAN, CLEAR = (
    ActionKind.BLOCKED,
    ActionKind.SECRET_BROKEN,
    ActionKind.FINISH_ROTATION,
    ActionKind.DELETE_ORPHAN,
    ActionKind.CLEAR_INTENT,
)


def key(key_id: str, status: KeyStatus, age_days: float, used_days_ago: float | None = None) -> AccessKey:
    use = KeyUse(NOW - timedelta(days=used_days_ago), "s3", "eu-west-1") if used_days_ago is not None else None
    return AccessKey(key_id, status, NOW - timedelta(days=age_days), use)


def plan(keys: list[AccessKey], secret: SecretState | None = None, policy: Policy = POLICY) -> list[tuple]:
    return [(a.kind, a.key_id) for a in decide(keys, secret or SecretState(), policy, NOW)]


# Age bands: below rotate, rotate..deactivate, deactivate..delete, beyond delete.
@pytest.mark.parametrize(
    ("keys", "secret_current", "expected"),
    [
        # 0 keys: nothing to rotate (a first key is not created by default)
        ([], None, []),
        # 1 active key, by age band
        ([key("K1", A, 10)], None, []),
        ([key("K1", A, 89.9)], None, []),
        ([key("K1", A, 90)], None, [(ROTATE, "K1")]),
        ([key("K1", A, 105)], None, [(ROTATE, "K1")]),
        ([key("K1", A, 400)], None, [(ROTATE, "K1")]),
        # 1 inactive key: deleted at delete age, never rotated (no active key to replace)
        ([key("K1", I, 50)], None, []),
        ([key("K1", I, 109)], None, []),
        ([key("K1", I, 110)], None, [(DELETE, "K1")]),
        # ...unless it is the secret's current key: the secret is broken, and no key is created
        ([key("K1", I, 200)], "K1", [(BROKEN, "K1")]),
        # 2 keys, old active + fresh replacement: the overlap rule
        ([key("OLD", A, 95), key("NEW", A, 5)], "NEW", []),
        ([key("OLD", A, 100), key("NEW", A, 9)], "NEW", []),
        ([key("OLD", A, 100), key("NEW", A, 10)], "NEW", [(DEACTIVATE, "OLD")]),
        ([key("OLD", A, 150), key("NEW", A, 3)], "NEW", []),
        # 2 keys, old inactive: deleted at delete age only
        ([key("OLD", I, 105), key("NEW", A, 15)], "NEW", []),
        ([key("OLD", I, 110), key("NEW", A, 20)], "NEW", [(DELETE, "OLD")]),
        # the secret's current key is never deactivated or deleted (inactive: see test_repair)
        ([key("OLD", A, 120), key("NEW", A, 30)], "OLD", []),
        ([key("OLD", I, 120), key("NEW", A, 30)], "OLD", [(BROKEN, "OLD")]),
        # 2 keys, newest due: inactive other deleted early to make room, then rotate
        ([key("OLD", I, 95), key("NEW", A, 92)], None, [(DELETE, "OLD"), (ROTATE, "NEW")]),
        ([key("OLD", I, 300), key("NEW", A, 92)], None, [(DELETE, "OLD"), (ROTATE, "NEW")]),
        # ...but not when that inactive key is the secret's current key: the secret is broken
        ([key("OLD", I, 95), key("NEW", A, 92)], "OLD", [(BROKEN, "OLD")]),
        # 2 active keys, newest due, other not retirable: blocked, nothing touched
        ([key("K1", A, 95), key("K2", A, 92)], None, [(BLOCKED, "K2")]),
        ([key("K1", A, 92), key("K2", A, 92)], None, [(BLOCKED, "K2")]),
        # 2 active keys, newest due, the other retirable today: deactivate now, rotate later
        ([key("K1", A, 130), key("K2", A, 95)], None, [(DEACTIVATE, "K1")]),
        # 2 inactive keys: both deleted once old enough
        ([key("K1", I, 111), key("K2", I, 50)], None, [(DELETE, "K1")]),
        ([key("K1", I, 111), key("K2", I, 110)], None, [(DELETE, "K1"), (DELETE, "K2")]),
        # inactive newer than the active one
        ([key("K1", A, 20), key("K2", I, 10)], None, []),
        ([key("K1", A, 91), key("K2", I, 10)], None, [(DELETE, "K2"), (ROTATE, "K1")]),
    ],
)
def test_lifecycle_table(keys: list[AccessKey], secret_current: str | None, expected: list[tuple]) -> None:
    secret = SecretState(exists=secret_current is not None, current_key_id=secret_current)
    assert plan(keys, secret) == expected


def test_default_lifecycle_rotates_at_90_deactivates_at_100_deletes_at_110() -> None:
    assert plan([key("OLD", A, 90)]) == [(ROTATE, "OLD")]
    after_rotation = SecretState(exists=True, current_key_id="NEW")
    assert plan([key("OLD", A, 100), key("NEW", A, 10)], after_rotation) == [(DEACTIVATE, "OLD")]
    assert plan([key("OLD", I, 110), key("NEW", A, 20)], after_rotation) == [(DELETE, "OLD")]
    assert plan([key("NEW", A, 20)], after_rotation) == []


def test_per_user_policy_is_honoured() -> None:
    short = Policy(30, 35, 40)
    assert plan([key("K", A, 30)], policy=short) == [(ROTATE, "K")]
    current = SecretState(exists=True, current_key_id="NEW")
    assert plan([key("OLD", A, 35), key("NEW", A, 5)], current, short) == [(DEACTIVATE, "OLD")]


def test_deactivation_reports_use_after_replacement() -> None:
    old = key("OLD", A, 101, used_days_ago=1)  # used yesterday; the replacement is 11 days old
    (action,) = decide([old, key("NEW", A, 11)], SecretState(True, "NEW"), POLICY, NOW)
    assert action.kind is DEACTIVATE and action.in_use is not None
    assert action.in_use.service == "s3"
    quiet = key("OLD", A, 101, used_days_ago=20)  # last used before the replacement existed
    (action,) = decide([quiet, key("NEW", A, 11)], SecretState(True, "NEW"), POLICY, NOW)
    assert action.in_use is None


def test_blocked_reason_tells_the_human_what_to_do() -> None:
    (action,) = decide([key("K1", A, 95), key("K2", A, 92)], SecretState(), POLICY, NOW)
    assert "K1" in action.reason and "both keys are active" in action.reason


def _intent(known: set[str], minutes_ago: float = 5) -> Intent:
    return Intent(NOW - timedelta(minutes=minutes_ago), frozenset(known))


def test_interrupted_rotation_with_unstored_key_deletes_the_orphan_then_rotates_again() -> None:
    secret = SecretState(exists=True, current_key_id="OLD", intent=_intent({"OLD"}))
    keys = [key("OLD", A, 95), key("ORPHAN", A, 0)]
    assert plan(keys, secret) == [(ORPHAN, "ORPHAN"), (CLEAR, None), (ROTATE, "OLD")]


def test_interrupted_rotation_with_staged_key_is_finished_not_discarded() -> None:
    secret = SecretState(exists=True, current_key_id="OLD", pending_key_id="NEW", intent=_intent({"OLD"}))
    keys = [key("OLD", A, 95), key("NEW", A, 0)]
    assert plan(keys, secret) == [(FINISH, "NEW"), (CLEAR, None)]


def test_interrupted_first_rotation_of_a_user_without_secret() -> None:
    secret = SecretState(exists=True, intent=_intent({"OLD"}))
    assert plan([key("OLD", A, 95), key("X", A, 0)], secret) == [(ORPHAN, "X"), (CLEAR, None), (ROTATE, "OLD")]


def test_a_key_created_long_before_or_after_the_intent_is_not_an_orphan() -> None:
    secret = SecretState(exists=True, current_key_id="OLD", intent=_intent({"OLD"}, minutes_ago=60 * 24))
    assert plan([key("OLD", A, 20), key("HUMAN", A, 0)], secret) == [(CLEAR, None)]


def test_a_used_unknown_key_is_never_treated_as_an_orphan() -> None:
    secret = SecretState(exists=True, current_key_id="OLD", intent=_intent({"OLD"}))
    keys = [key("OLD", A, 20), key("HUMAN", A, 0, used_days_ago=0)]
    assert plan(keys, secret) == [(CLEAR, None)]


def test_stale_intent_after_a_finished_rotation_is_just_cleared() -> None:
    secret = SecretState(exists=True, current_key_id="NEW", intent=_intent({"OLD"}))
    assert plan([key("OLD", A, 95), key("NEW", A, 0)], secret) == [(CLEAR, None)]


# ----------------------------------------------------------------- a broken secret

GARBAGE = SecretState(exists=True, current_unusable="the secret's current version is not JSON")


@pytest.mark.parametrize(
    ("keys", "secret", "expected"),
    [
        # unusable value, one young active key: rotated today to repair it
        ([key("K1", A, 10)], GARBAGE, [(ROTATE, "K1")]),
        # the current key deleted (by a person), another key active: repaired
        ([key("K2", A, 30)], SecretState(exists=True, current_key_id="K1"), [(ROTATE, "K2")]),
        # the current key gone, an old inactive key: deleted as due, then repaired
        (
            [key("K1", I, 120), key("K2", A, 30)],
            SecretState(exists=True, current_key_id="K3"),
            [(DELETE, "K1"), (ROTATE, "K2")],
        ),
        # a young inactive other key makes room, as for any rotation
        ([key("K1", I, 20), key("K2", A, 10)], GARBAGE, [(DELETE, "K1"), (ROTATE, "K2")]),
        # no active key at all: announced, no key created
        ([key("K1", I, 10)], SecretState(exists=True, current_key_id="K1"), [(BROKEN, "K1")]),
        ([], GARBAGE, [(BROKEN, None)]),
        # two active keys, neither retirable: announced, nothing touched
        ([key("K1", A, 50), key("K2", A, 10)], GARBAGE, [(BROKEN, None)]),
        # the other key is deactivated today first; the repair follows once its slot is free
        ([key("K1", A, 130), key("K2", A, 95)], GARBAGE, [(DEACTIVATE, "K1"), (BROKEN, None)]),
        # a usable secret holding an active key is left alone
        ([key("K1", A, 10)], SecretState(exists=True, current_key_id="K1"), []),
    ],
)
def test_a_broken_secret_is_repaired_by_a_rotation_today(
    keys: list[AccessKey], secret: SecretState, expected: list[tuple]
) -> None:
    assert plan(keys, secret) == expected


def test_a_broken_secret_says_what_is_wrong_and_what_to_do() -> None:
    (rotation,) = decide([key("K1", A, 10)], GARBAGE, POLICY, NOW)
    assert rotation.repairs == GARBAGE.current_unusable
    assert rotation.reason == "repair: the secret's current version is not JSON"
    (none_active,) = decide([key("K1", I, 10)], SecretState(exists=True, current_key_id="K1"), POLICY, NOW)
    assert none_active.reason == (
        "the secret's current version holds K1, which is inactive; the user has no active key, so rekey creates "
        "none: reactivate a key, or run rekey rotate-now"
    )
    (both_active,) = decide([key("K1", A, 50), key("K2", A, 10)], GARBAGE, POLICY, NOW)
    assert both_active.reason.endswith("a rotation would repair it, but both keys are active and neither can be "
                                       "retired yet; deactivate or delete K1 to let rekey rotate")  # fmt: skip


def test_a_paused_user_s_broken_secret_waits_for_the_pause_and_says_so() -> None:
    paused = replace(GARBAGE, paused_until=NOW.date() + timedelta(days=3))
    (broken,) = decide([key("K1", A, 10)], paused, POLICY, NOW)
    assert broken.kind is BROKEN
    assert f"paused until {paused.paused_until}: rekey repairs it after" in broken.reason


# ----------------------------------------------------------------- property tests

key_ids = st.sampled_from(["AKIA1", "AKIA2", "AKIA3"])


@st.composite
def situations(draw: st.DrawFn) -> tuple[list[AccessKey], SecretState, Policy]:
    rotate = draw(st.integers(1, 90))
    deactivate = rotate + draw(st.integers(1, 30))
    delete = deactivate + draw(st.integers(1, 30))
    policy = Policy(rotate, deactivate, delete, in_use_policy=draw(st.sampled_from(list(InUsePolicy))))
    ids = draw(st.lists(key_ids, max_size=2, unique=True))
    keys = [
        key(
            i,
            draw(st.sampled_from([A, I])),
            draw(st.floats(0, 400)),
            draw(st.none() | st.floats(0, 400)),
        )
        for i in ids
    ]
    current = draw(st.none() | st.sampled_from([*ids, "AKIAGONE"]))
    pending = draw(st.none() | st.sampled_from(ids)) if ids else None
    intent = draw(st.none() | st.builds(lambda known: _intent(set(known)), st.lists(key_ids, max_size=2)))
    secret = SecretState(current is not None or intent is not None, current, pending, intent)
    if draw(st.booleans()):  # a current version someone else wrote, unusable
        secret = replace(secret, exists=True, current_key_id=None, current_unusable="not JSON")
    return keys, secret, policy


def _apply(keys: list[AccessKey], actions: list[Action]) -> list[AccessKey]:
    """The keys after the plan is carried out (a rotation adds a fresh active key)."""
    by_id = {k.key_id: k for k in keys}
    for a in actions:
        if a.kind in (DELETE, ORPHAN):
            by_id.pop(a.key_id)
        elif a.kind is DEACTIVATE:
            by_id[a.key_id] = AccessKey(a.key_id, I, by_id[a.key_id].created)
        elif a.kind is ROTATE:
            by_id["AKIANEW"] = AccessKey("AKIANEW", A, NOW)
    return list(by_id.values())


def _created_by_unfinished_attempt(k: AccessKey, secret: SecretState) -> bool:
    intent = secret.intent
    return (
        intent is not None
        and k.key_id not in intent.known_key_ids
        and k.key_id not in (secret.current_key_id, secret.pending_key_id)
        and k.last_used is None
        and abs((k.created - intent.started_at).total_seconds()) < 3600
    )


@settings(max_examples=1500, deadline=None)
@given(situations())
def test_invariants_hold_for_every_situation(situation: tuple[list[AccessKey], SecretState, Policy]) -> None:
    keys, secret, policy = situation
    actions = decide(keys, secret, policy, NOW)
    by_id = {k.key_id: k for k in keys}
    after = _apply(keys, actions)
    # A key an unfinished attempt created and nobody used does not count: nobody holds its secret.
    had_active = any(k.active and not _created_by_unfinished_attempt(k, secret) for k in keys)

    # never more than two keys, at any step of the plan
    for n in range(len(actions) + 1):
        assert len(_apply(keys, actions[:n])) <= 2
    # never zero active keys for a user who had one
    if had_active:
        assert any(k.active for k in after)
    current = secret.current_key_id  # the secret's current key as each action runs
    for a in actions:
        if a.kind is FINISH:
            current = a.key_id
        if a.kind is DELETE:
            # never delete an active key, never the secret's current key
            assert not by_id[a.key_id].active
            assert a.key_id != current
        if a.kind is ORPHAN:
            # an orphan is only ever a key nobody can have used, created by an attempt
            assert secret.intent is not None and a.key_id not in secret.intent.known_key_ids
            assert _created_by_unfinished_attempt(by_id[a.key_id], secret)
        if a.kind is DEACTIVATE:
            assert by_id[a.key_id].active and a.key_id != current
    # no key is created for a user whose every key is inactive (perhaps a person's containment)
    if keys and not any(k.active for k in keys):
        assert not any(a.kind is ROTATE for a in actions)
    # blocked means nothing else is rotated: touch nothing to make room
    if any(a.kind is BLOCKED for a in actions):
        assert not any(a.kind is ROTATE for a in actions)
    # each key is acted on at most once per kind
    assert len({(a.kind, a.key_id) for a in actions}) == len(actions)


@settings(max_examples=500, deadline=None)
@given(situations())
def test_decide_is_pure_and_deterministic(situation: tuple[list[AccessKey], SecretState, Policy]) -> None:
    keys, secret, policy = situation
    assert decide(keys, secret, policy, NOW) == decide(list(keys), secret, policy, NOW)
    assert decide(keys, secret, policy, NOW) == decide(list(reversed(keys)), secret, policy, NOW)


def test_a_consumer_that_moved_to_the_new_key_is_not_reported_in_use() -> None:
    old = key("OLD", A, 101, used_days_ago=5)  # one last use after the replacement appeared...
    new = key("NEW", A, 11, used_days_ago=1)  # ...and the new key signs everything since
    (action,) = decide([old, new], SecretState(True, "NEW"), POLICY, NOW)
    assert action.kind is DEACTIVATE and action.in_use is None
    straggler = key("OLD", A, 101, used_days_ago=0.5)  # used again after the new key: still in use
    (action,) = decide([straggler, new], SecretState(True, "NEW"), POLICY, NOW)
    assert action.in_use is not None


# --------------------------------------------------------------------------- the adopt policy

ADOPT = Policy(90, 100, 110, in_use_policy=InUsePolicy.ADOPT)


def verified_only(key_id: str, age_days: float) -> AccessKey:
    """A replacement only rekey's own verification signed with (STS, minutes after creation)."""
    created = NOW - timedelta(days=age_days)
    return AccessKey(key_id, A, created, KeyUse(created + timedelta(minutes=1), "sts", "us-east-1"))


def test_adopt_waits_for_the_replacements_first_use_and_says_so_each_day() -> None:
    old = key("AKIAOLD", A, 100, used_days_ago=0.5)
    for new in (key("AKIANEW", A, 10), verified_only("AKIANEW", 10)):
        (warning,) = decide([old, new], SecretState(True, "AKIANEW"), ADOPT, NOW)
        assert (warning.kind, warning.key_id) == (ActionKind.WARN_NOT_ADOPTED, "AKIAOLD")
        assert "never been used" in warning.reason and "2026-12-07" in warning.reason  # at 109 days
    warned = SecretState(True, "AKIANEW", in_use_warned=("AKIAOLD", NOW.date()))
    assert decide([old, key("AKIANEW", A, 10)], warned, ADOPT, NOW) == []  # once a day


def test_adopt_deactivates_once_a_consumer_used_the_new_key() -> None:
    old, new = key("AKIAOLD", A, 100), key("AKIANEW", A, 10, used_days_ago=2)
    assert plan([old, new], SecretState(True, "AKIANEW"), ADOPT) == [(DEACTIVATE, "AKIAOLD")]


def test_adopt_deactivates_at_the_deadline_whatever_happened() -> None:
    old, new = key("AKIAOLD", A, 109), key("AKIANEW", A, 19)
    (action,) = decide([old, new], SecretState(True, "AKIANEW"), ADOPT, NOW)
    assert (action.kind, action.key_id) == (DEACTIVATE, "AKIAOLD") and "never used" in action.reason
    earlier = replace(ADOPT, max_deactivate_after_days=104)
    assert plan([key("AKIAOLD", A, 104), new], SecretState(True, "AKIANEW"), earlier) == [(DEACTIVATE, "AKIAOLD")]
    # The deadline stays between the deactivation age and the day before deletion.
    assert replace(ADOPT, max_deactivate_after_days=500).deactivate_deadline == 109
    assert replace(ADOPT, max_deactivate_after_days=50).deactivate_deadline == 100


def test_enforce_and_defer_do_not_wait_for_adoption() -> None:
    old, new = key("AKIAOLD", A, 100), key("AKIANEW", A, 10)
    for policy in (POLICY, replace(POLICY, in_use_policy=InUsePolicy.DEFER)):
        assert plan([old, new], SecretState(True, "AKIANEW"), policy) == [(DEACTIVATE, "AKIAOLD")]
