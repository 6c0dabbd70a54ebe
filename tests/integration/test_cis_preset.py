"""The cis preset (REKEY_POLICY_PRESET=cis): a year of daily sweeps and workers in which no
active key of an opted-in user is ever 90 days old or older, where the recipe's defaults fail
the user 11 days of every cycle; and `rekey plan` says, per key, when the 90-day controls
(CIS 2.12, Security Hub IAM.3) would first fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rekey.domain.controls import MAX_KEY_AGE_DAYS, PRESETS, Preset, failing_days
from rekey.domain.models import ActionKind
from rekey.use_cases.sweep import sweep
from tests.conftest import Org, drain_work, runtime_in_one_account
from tests.faults import Faults
from tests.operators import TAG, run_cli, run_json, today

LIMIT = timedelta(days=MAX_KEY_AGE_DAYS)


def _new_day(org: Org) -> None:
    """The credential report AWS keeps 4 hours has to be generated again the next day."""
    from moto.iam.models import iam_backends

    for account in org.accounts.values():
        iam_backends[account]["global"].credential_report = None


def _days(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch, preset: Preset, days: int
) -> tuple[list[int], int]:
    """`days` days of sweep and worker for one opted-in user under `preset`, its key 60 days old on
    the first: the days on which an active key was 90 days old or older at some moment (checked
    just before each next sweep, when every key is oldest), and the rotations."""
    monkeypatch.setenv("REKEY_POLICY_PRESET", preset.value)
    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)
    org.create_user("payments", "svc", TAG)
    org.age(60)
    iam = org.client("iam", "payments")
    failing, rotations = [], 0
    for day in range(1, days + 1):
        org.age(1)
        _new_day(org)
        assert not sweep(rt, f"d{day}").failed
        _, outcomes = drain_work(rt)
        rotations += sum(a.kind is ActionKind.ROTATE for o in outcomes for a in o.performed)
        # Until the next sweep, a day from now, nothing changes the keys: each is oldest then.
        next_sweep = datetime.now(UTC) + timedelta(days=1)
        keys = iam.list_access_keys(UserName="svc")["AccessKeyMetadata"]
        assert [k for k in keys if k["Status"] == "Active"], f"day {day}: the user has no active key"
        if any(k["Status"] == "Active" and next_sweep - k["CreateDate"] >= LIMIT for k in keys):
            failing.append(day)
    return failing, rotations


def test_under_the_cis_preset_no_active_key_reaches_90_days_on_any_day_of_a_year(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing, rotations = _days(org, faults, monkeypatch, Preset.CIS, 365)
    assert failing == []
    assert failing_days(PRESETS[Preset.CIS]) == 0
    # A rotation every 75 days: on days 15, 90, 165, 240, 315 of the year.
    assert rotations == 5


def test_the_recipe_defaults_fail_the_90_day_controls_11_days_a_cycle(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the README says of the defaults, played: from the day the replaced key turns 90 to
    the sweep that deactivates it at 100, at each of the 3 rotations of 225 days."""
    failing, rotations = _days(org, faults, monkeypatch, Preset.RECIPE, 225)
    assert rotations == 3
    assert failing_days(PRESETS[Preset.RECIPE]) == 11
    assert [len(r) for r in _runs(failing)] == [11, 11, 11]


def _runs(days: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


@pytest.mark.parametrize(
    ("preset", "age", "first", "until"),
    [
        (Preset.RECIPE, 85, 5, 15),  # turns 90 in 5 days, rotated then, deactivated at 100
        # Rotated today (due at 75), deactivated 10 days later at 95: the first cycle under the
        # preset of a key already past its age still fails for those days.
        (Preset.CIS, 85, 5, 10),
        (Preset.CIS, 70, None, None),  # rotated at 75, deactivated at 85
    ],
)
def test_plan_shows_when_each_key_first_fails_the_90_day_controls(
    org: Org, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, preset: Preset, age, first, until
) -> None:
    monkeypatch.setenv("REKEY_POLICY_PRESET", preset.value)
    (key,) = org.create_user("payments", "svc", TAG)
    (old,) = org.create_user("analytics", "svc-old", TAG)
    org.age(age, ("payments",))
    org.age(97, ("analytics",))
    code, plan = run_json(capsys, "plan", "--days", "30")
    assert code == 0
    keys = {k["key_id"]: k for k in plan["controls"]["keys"]}
    day = today()
    if first is None:
        assert keys[key]["first_failure"] is None
    else:
        assert keys[key]["first_failure"] == str(day + timedelta(days=first))
        assert keys[key]["failing_until"] == str(day + timedelta(days=until))
    # A key already past 90 fails today, whatever the policy.
    assert keys[old]["first_failure"] == str(day)
    assert plan["controls"]["failing_days_per_cycle"] == failing_days(PRESETS[preset])

    code, out, _ = run_cli(capsys, "plan", "--days", "30")
    assert code == 0 and f"{key}" in out
    assert ("passes: deactivated before it turns 90" in out) == (first is None)
