"""The worker's pure cuts of today's plan (rekey.domain.work_plan): what an item carries out,
what Secrets Manager's createSecret does, and why a rotation nobody planned is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rekey.domain.models import AccessKey, Action, ActionKind, KeyStatus, Policy
from rekey.domain.work_plan import first_rotation, through, why_not_due

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
POLICY = Policy(90, 100, 110)
ROTATE, DELETE, BLOCKED = ActionKind.ROTATE, ActionKind.DELETE, ActionKind.BLOCKED


def key(key_id: str, age_days: int, status: KeyStatus = KeyStatus.ACTIVE) -> AccessKey:
    return AccessKey(key_id, status, NOW - timedelta(days=age_days))


def test_an_item_carries_out_what_must_come_first_and_not_what_is_only_announced() -> None:
    room = Action(DELETE, "OLD", "inactive; deleted to make room")
    plan = [Action(BLOCKED, None, "said only"), room, Action(ROTATE, "NEW", "due"), Action(DELETE, "X", "later")]
    assert through(plan, ROTATE, "NEW") == [room, plan[2]]


def test_an_item_the_plan_does_not_hold_is_stale() -> None:
    plan = [Action(ROTATE, "NEW", "due")]
    assert through(plan, ROTATE, "OTHER") is None
    assert through(plan, ActionKind.DEACTIVATE, "NEW") is None
    assert through([], ROTATE, "NEW") is None


def test_a_rotation_whose_plan_is_only_settling_settles_it() -> None:
    settle = [Action(ActionKind.DELETE_ORPHAN, "ORPHAN", "crashed"), Action(ActionKind.CLEAR_INTENT, None, "done")]
    assert through(settle, ROTATE, "KEY") == settle
    assert through(settle, ActionKind.DEACTIVATE, "KEY") is None  # only a rotation settles


def test_createsecret_does_the_plan_up_to_its_rotation_only() -> None:
    room = Action(DELETE, "OLD", "make room")
    assert first_rotation([room, Action(ROTATE, "K", "due"), Action(DELETE, "Z", "z")]) == [
        room,
        Action(ROTATE, "K", "due"),
    ]
    assert first_rotation([room]) is None


def test_why_a_rotation_is_not_due_names_the_date_or_the_plan() -> None:
    assert why_not_due([key("K1", 10)], POLICY, []) == "K1 is not due until 2027-02-24 (rotation every 90 days)"
    assert why_not_due([key("K1", 10)], POLICY, [Action(DELETE, "K0", "x")]) == (
        "the user's keys need delete first, not a rotation"
    )
    assert "no active key" in why_not_due([key("K1", 10, KeyStatus.INACTIVE)], POLICY, [])
