"""Rotation windows (rekey.domain.window) and what decide() does outside them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from rekey.domain.controls import PRESETS, Preset, preset_ceiling
from rekey.domain.lifecycle import decide
from rekey.domain.models import AccessKey, ActionKind, KeyStatus, Policy, SecretState
from rekey.domain.policy import Bounds, PolicyError, check_policy, resolve_policy
from rekey.domain.window import WindowError, narrowed, parse_window, sweep_time

BERLIN_WEEKDAYS = "Mon-Fri 09:00-17:00 Europe/Berlin"
# 2026-12-07 is a Monday.
MONDAY = datetime(2026, 12, 7, tzinfo=UTC)


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute)


def test_a_window_reads_as_written_and_says_itself_back() -> None:
    assert parse_window(BERLIN_WEEKDAYS).describe() == "Mon-Fri 09:00-17:00 Europe/Berlin"
    assert parse_window("tue,thu 10:00-12:00").describe() == "Tue,Thu 10:00-12:00 UTC"
    assert parse_window("Sat-Mon 00:00-24:00 UTC").describe() == "Sat-Mon 00:00-24:00 UTC"
    assert parse_window("daily 08:00-18:00 America/New_York").describe() == "daily 08:00-18:00 America/New_York"
    assert parse_window("Monday,Wed-Thu 08:00-09:30").describe() == "Mon,Wed-Thu 08:00-09:30 UTC"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mon-Fri", "is not '<days>"),
        ("Mon-Fry 09:00-17:00", "'Fry' is not a day"),
        ("Mon-Fri 9-17", "is not hours HH:MM-HH:MM"),
        ("Mon-Fri 17:00-09:00", "hours must run forward"),
        ("Mon-Fri 09:00-25:00", "hours must run forward"),
        ("Mon-Fri 09:00-17:00 Mars/Olympus", "is not a time zone"),
    ],
)
def test_a_window_that_cannot_be_read_says_why(text: str, says: str) -> None:
    with pytest.raises(WindowError, match=says):
        parse_window(text)


def test_open_in_its_own_time_zone_across_summer_time() -> None:
    window = parse_window(BERLIN_WEEKDAYS)
    assert not window.is_open(at(MONDAY, 7, 59))  # 08:59 in Berlin (CET, UTC+1)
    assert window.is_open(at(MONDAY, 8, 0))
    assert not window.is_open(at(MONDAY, 16, 0))  # 17:00 in Berlin: closed
    july_monday = datetime(2026, 7, 6, 7, 0, tzinfo=UTC)  # 09:00 CEST (UTC+2)
    assert window.is_open(july_monday)
    assert not window.is_open(at(MONDAY - timedelta(days=1), 12))  # Sunday


def test_the_next_opening_is_the_next_window_day_at_its_hour() -> None:
    window = parse_window(BERLIN_WEEKDAYS)
    friday_evening = datetime(2026, 12, 11, 18, 0, tzinfo=UTC)
    assert window.next_opening(friday_evening) == datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    monday_early = at(MONDAY, 6)
    assert window.next_opening(monday_early) == at(MONDAY, 8)
    inside = at(MONDAY, 10)
    assert window.next_opening(inside) == inside


def test_the_longest_wait_is_the_longest_run_of_days_outside() -> None:
    assert parse_window("daily 09:00-17:00").wait_days == 0
    assert parse_window("Mon-Fri 09:00-17:00").wait_days == 2
    assert parse_window("Tue 09:00-17:00").wait_days == 6
    assert parse_window("Mon,Thu 09:00-17:00").wait_days == 3


def test_a_user_window_may_only_narrow_the_organizations() -> None:
    org = parse_window(BERLIN_WEEKDAYS)
    assert narrowed(org, "Tue-Thu 10:00-12:00") == parse_window("Tue-Thu 10:00-12:00 Europe/Berlin")
    for wider in ("Mon-Sat 10:00-12:00", "Mon 08:00-10:00", "Mon 10:00-12:00 UTC"):
        with pytest.raises(WindowError, match="is not inside the organization's rotation window"):
            narrowed(org, wider)
    assert narrowed(None, "Sat 01:00-02:00").describe() == "Sat 01:00-02:00 UTC"


def test_a_users_window_tag_is_its_policy_or_misconfigured() -> None:
    org = replace(Policy(), window=parse_window(BERLIN_WEEKDAYS))
    policy = resolve_policy({"rekey:window": "Wed 13:00-15:00"}, org, Bounds())
    assert policy.window == parse_window("Wed 13:00-15:00 Europe/Berlin")
    with pytest.raises(PolicyError, match="tag rekey:window: 'Sun 13:00-15:00' is not inside"):
        resolve_policy({"rekey:window": "Sun 13:00-15:00"}, org, Bounds())


def test_under_cis_a_window_that_could_keep_a_key_active_past_the_ceiling_is_refused() -> None:
    cis = Bounds(max_active_days=preset_ceiling(Preset.CIS))
    weekdays = replace(PRESETS[Preset.CIS], window=parse_window("Mon-Fri 09:00-17:00"))
    with pytest.raises(PolicyError, match="up to 4 days waiting for the rotation window Mon-Fri"):
        check_policy(weekdays, cis)
    earlier = replace(weekdays, rotate_after_days=71, deactivate_after_days=81, delete_after_days=91)
    check_policy(earlier, cis)  # 81 + 4 = 85: the ceiling holds
    check_policy(replace(PRESETS[Preset.CIS], window=parse_window("daily 09:00-17:00")), cis)


def key(key_id: str, days_old: int, now: datetime, status: KeyStatus = KeyStatus.ACTIVE) -> AccessKey:
    return AccessKey(key_id, status, now - timedelta(days=days_old))


def test_outside_the_window_every_key_change_waits_and_says_until_when() -> None:
    window = parse_window(BERLIN_WEEKDAYS)
    policy = replace(Policy(), window=window)
    saturday = datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
    keys = [key("AKIAOLDOLDOLDOLD0001", 120, saturday, KeyStatus.INACTIVE), key("AKIANEWNEWNEWNEW0002", 95, saturday)]
    due = decide(keys, SecretState(exists=True, current_key_id="AKIANEWNEWNEWNEW0002"), Policy(), saturday)
    assert {a.kind for a in due} == {ActionKind.DELETE, ActionKind.ROTATE}
    waiting = decide(keys, SecretState(exists=True, current_key_id="AKIANEWNEWNEWNEW0002"), policy, saturday)
    assert [a.kind for a in waiting] == [ActionKind.WAIT, ActionKind.WAIT]
    assert [a.held for a in waiting] == [a.kind for a in due]
    assert all("opens next 2026-12-14 09:00 CET" in a.reason for a in waiting)
    monday = datetime(2026, 12, 14, 8, 30, tzinfo=UTC)
    assert [
        a.kind for a in decide(keys, SecretState(exists=True, current_key_id="AKIANEWNEWNEWNEW0002"), policy, monday)
    ] == [
        ActionKind.DELETE,
        ActionKind.ROTATE,
    ]


def test_settling_an_interrupted_rotation_does_not_wait() -> None:
    from rekey.domain.models import Intent

    saturday = datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
    policy = replace(Policy(), window=parse_window(BERLIN_WEEKDAYS))
    orphan = key("AKIAORPHANORPHAN0003", 0, saturday)
    intent = Intent(saturday - timedelta(hours=2), frozenset({"AKIACURRENTCURREN04"}))
    state = SecretState(exists=True, current_key_id="AKIACURRENTCURREN04", intent=intent)
    orphan = replace(orphan, created=saturday - timedelta(hours=2))
    plan = decide([key("AKIACURRENTCURREN04", 10, saturday), orphan], state, policy, saturday)
    assert [a.kind for a in plan] == [ActionKind.DELETE_ORPHAN, ActionKind.CLEAR_INTENT]


def test_a_hold_makes_every_key_change_wait_whatever_the_window() -> None:
    now = at(MONDAY, 10)
    keys = [key("AKIANEWNEWNEWNEW0002", 95, now)]
    plan = decide(keys, SecretState(exists=True, current_key_id="AKIANEWNEWNEWNEW0002"), Policy(), now, "halted")
    assert [(a.kind, a.held) for a in plan] == [(ActionKind.WAIT, ActionKind.ROTATE)]
    assert "halted" in plan[0].reason


def test_the_plan_shows_a_change_on_its_real_day_and_hour_inside_the_window() -> None:
    from rekey_cli.forecast import simulate

    saturday = datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
    policy = replace(Policy(), window=parse_window(BERLIN_WEEKDAYS))
    keys = [key("AKIANEWNEWNEWNEW0002", 95, saturday)]
    state = SecretState(exists=True, current_key_id="AKIANEWNEWNEWNEW0002")
    (rotation, *_) = simulate(keys, state, saturday, 5, lambda _moment: policy)
    assert rotation.kind is ActionKind.ROTATE
    assert rotation.first.isoformat() == "2026-12-14" and f"{rotation.at:%H:%M %Z}" == "09:00 CET"


def test_the_plan_says_which_accounts_the_hub_holds_and_why() -> None:
    from rekey_cli.plan import plan
    from rekey_cli.render_plan import plan_json, plan_text

    from rekey.domain.rollout import Halt
    from tests.fakes import ACCOUNT, FakePorts

    ports = FakePorts()
    ports.state.halted = Halt(
        datetime(2026, 12, 1, 8, 0, tzinfo=UTC), ("111122223333/svc: rotate failed: access-denied",)
    )
    result = plan(ports, 7)
    text = plan_text(result)
    assert f"held: {ACCOUNT}: rekey is halted since 2026-12-01 08:00 UTC" in text
    assert "its key changes below come only after `rekey resume`" in text
    assert plan_json(result)["held"][0]["account_id"] == ACCOUNT


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("cron(0 6 * * ? *)", "06:00"),
        ("cron(30 10 ? * * *)", "10:30"),
        ("rate(1 day)", None),  # no single time a day
        ("cron(0 6,18 * * ? *)", None),
        ("cron(0 6 ? * MON-FRI *)", None),  # not every day
    ],
)
def test_the_sweeps_time_of_day_is_read_from_its_schedule(schedule: str, expected: str | None) -> None:
    found = sweep_time(schedule)
    assert (f"{found:%H:%M}" if found else None) == expected


@pytest.mark.parametrize("schedule", ["06:00", "cron(0 25 * * ? *)", "every day"])
def test_a_schedule_that_is_no_schedule_is_refused_with_a_sentence(schedule: str) -> None:
    with pytest.raises(WindowError, match=r"schedule expression|hours 0-23"):
        sweep_time(schedule)


def test_the_plan_puts_a_change_at_the_sweeps_time_on_the_first_day_the_window_is_open_then() -> None:
    from rekey_cli.forecast import simulate

    saturday = datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
    policy = replace(Policy(), window=parse_window(BERLIN_WEEKDAYS))
    keys = [key("AKIANEWNEWNEWNEW0002", 95, saturday)]
    state = SecretState(exists=True, current_key_id="AKIANEWNEWNEWNEW0002")
    (rotation, *_) = simulate(keys, state, saturday, 5, lambda _moment: policy, sweep_at=time(10, 15))
    assert rotation.kind is ActionKind.ROTATE and rotation.at is not None
    assert f"{rotation.at:%Y-%m-%d %H:%M %Z}" == "2026-12-14 11:15 CET"  # Monday, the sweep's 10:15 UTC
    # A sweep before the window's hours never reaches it: nothing changes, and the plan says why.
    early = simulate(keys, state, saturday, 5, lambda _moment: policy, sweep_at=time(6, 0))
    assert [e for e in early if e.kind is ActionKind.ROTATE] == []


def test_the_plan_says_when_the_sweep_never_reaches_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    from rekey_cli.plan import plan
    from rekey_cli.render_plan import plan_json, plan_text

    from tests.fakes import FakePorts

    ports = FakePorts()
    ports.settings = ports.settings.model_copy(
        update={"rotation_window": parse_window(BERLIN_WEEKDAYS), "sweep_at": sweep_time("cron(0 6 * * ? *)")}
    )
    result = plan(ports, 7)
    assert "misconfigured: the sweep runs at 07:00 Europe/Berlin, outside the rotation window" in plan_text(result)
    assert "outside the rotation window" in plan_json(result)["sweep_unreached"]
