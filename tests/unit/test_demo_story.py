"""The demo's pure parts: the seeded cast, and the timeline a person reads."""

from __future__ import annotations

import pytest
from rekey_dev.demo_cast import ACCOUNT_NAMES, Case, Usage, make_plan
from rekey_dev.demo_render import DemoEvent, Painter, Timeline


def test_a_seed_always_gives_the_same_organization() -> None:
    assert make_plan(7, 3, 3) == make_plan(7, 3, 3)
    assert make_plan(7, 3, 3) != make_plan(8, 3, 3)


@pytest.mark.parametrize("accounts", [1, 3, len(ACCOUNT_NAMES)])
def test_every_case_is_in_the_organization_once(accounts: int) -> None:
    plan = make_plan(1, accounts, 2)
    cases = [u.case for u in plan.users if u.case is not Case.SERVICE]
    assert sorted(cases) == sorted(set(Case) - {Case.SERVICE})
    assert len([u for u in plan.users if u.case is Case.SERVICE]) == 2 * accounts
    assert {u.account for u in plan.users} == set(ACCOUNT_NAMES[:accounts])
    names = [(u.account, u.name) for u in plan.users]
    assert len(names) == len(set(names))


def test_the_special_cases_start_where_they_show_up() -> None:
    for seed in range(20):
        users = {u.case: u for u in make_plan(seed, 3, 0).users}
        older, newer = users[Case.TWO_KEYS].key_ages
        assert 90 <= newer < older < 100  # both due, neither old enough to retire: blocked on day 0
        assert not users[Case.HUMAN].tagged
        assert users[Case.OWNED].tags["rekey:owner"] == "data-team"
        assert users[Case.OVERDUE].key_ages[0] > 110
        # Rotated within the first days, its old key retired within the first three weeks.
        assert 80 <= users[Case.DELIVERED].key_ages[0] < 90
        assert users[Case.DELIVERED].tags["rekey:deliver-to"] == "params,ci"
        assert users[Case.DELIVERED].usage is Usage.GITHUB


def test_the_delivered_user_joined_without_changing_anyone_elses_story() -> None:
    """It is drawn last: for a seed, every other user is what it was before it joined."""
    plan = make_plan(1, 3, 3)
    others = {(u.account, u.name, u.key_ages) for u in plan.users if u.case is not Case.DELIVERED}
    # As make_plan(1, 3, 3) drew them before (docs/demo.md's story).
    assert len(others) == 16 and {("payments", "deploy-bot", (94, 92)), ("sandbox", "legacy-ftp", (82,))} <= others
    assert {("analytics", "reporting-cron", (180,)), ("sandbox", "nightly-backup", (266,))} <= others


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        make_plan(1, 0, 1)
    with pytest.raises(ValueError):
        make_plan(1, len(ACCOUNT_NAMES) + 1, 1)


def event(day: int, kind: str, user: str = "deploy-bot", message: str = "m") -> DemoEvent:
    return DemoEvent(day, "payments", "111111111111", user, kind, "info", None, None, None, None, message)


def test_a_daily_announcement_is_shown_when_it_starts_and_when_it_ends() -> None:
    timeline = Timeline(["payments"], ["deploy-bot", "api"], Painter(colour=False))
    first = timeline.day(0, [event(0, "blocked", message="both keys are active")])
    assert first[0] == "Day 0"
    assert "blocked" in first[1] and "both keys are active (announced daily)" in first[1]
    assert timeline.day(1, [event(1, "blocked")]) == []  # nothing new: the day is not shown
    assert timeline.day(2, [event(2, "blocked")]) == []
    ended = timeline.day(3, [event(3, "deactivated", message="deactivated K1")])
    assert "no longer blocked (days 0-2)" in ended[1]
    assert "deactivated K1" in ended[2]


def test_a_quiet_day_prints_nothing_and_events_keep_their_order_per_user() -> None:
    timeline = Timeline(["payments", "sandbox"], ["a", "b"], Painter(colour=False))
    assert timeline.day(0, []) == []
    lines = timeline.day(1, [event(1, "in-use", "b"), event(1, "deactivated", "b"), event(1, "rotated", "a")])
    assert [line.split()[2] for line in lines[1:]] == ["rotated", "in-use", "deactivated"]


def test_long_messages_wrap_under_the_message_column() -> None:
    timeline = Timeline(["payments"], ["deploy-bot"], Painter(colour=False), width=80)
    lines = timeline.day(0, [event(0, "rotated", message="word " * 30)])
    body = "\n".join(lines[1:]).splitlines()
    assert len(body) > 1 and all(len(line) <= 80 for line in body)
    column = body[0].index("word")
    assert all(line[:column].strip() == "" and line[column] != " " for line in body[1:])
