"""The controls an auditor holds access keys to, and the policy preset that keeps them passing.

CIS AWS Foundations 2.12, AWS Security Hub IAM.3 and Prowler's iam_rotate_access_key_90_days
all fail a user with an *active* key 90 days old or older. Under the recipe's defaults
(rotate 90, deactivate 100, delete 110) the replaced key stays active from 90 days to 100: a
daily scanner fails every rotated user on 11 days of each cycle (90 to 100: on the deactivation
day the key is active until the sweep). The `cis` preset moves the
whole cycle earlier so the old key is deactivated well before 90 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from .models import Policy

# The age at which the 90-day controls fail an active key.
MAX_KEY_AGE_DAYS = 90
# Sweeps the `cis` preset survives missing in a row (an account unreachable over a long
# weekend, a failed deployment) before a key it should have deactivated turns 90. One more
# day goes to the sweep's own timing: a key created minutes after one day's sweep is a day
# younger at the same hour on its deactivation day.
MISSED_SWEEPS_TOLERATED = 4


class Control(StrEnum):
    CIS_2_12 = "cis-2.12"
    IAM_3 = "securityhub-iam.3"
    ORG_POLICY = "org-policy"


CONTROL_TITLES = {
    Control.CIS_2_12: "CIS AWS Foundations 2.12",
    Control.IAM_3: "Security Hub IAM.3",
    Control.ORG_POLICY: "org policy",
}


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "n/a"  # the org policy, for a user rekey does not manage


def too_old(active: bool, age_days: int) -> bool:
    """What the 90-day controls fail: an active key 90 days old or older."""
    return active and age_days >= MAX_KEY_AGE_DAYS


def verdicts(active: bool, age_days: int, policy: Policy | None) -> dict[Control, Verdict]:
    """One key's standing under each control. The org policy holds a managed user's keys to its
    own policy: no active key past its deactivation age, no key at all past its deletion age."""
    old = Verdict.FAIL if too_old(active, age_days) else Verdict.PASS
    if policy is None:
        org = Verdict.NOT_APPLICABLE
    elif (active and age_days >= policy.latest_deactivation_days) or age_days >= policy.delete_after_days:
        org = Verdict.FAIL
    else:
        org = Verdict.PASS
    return {Control.CIS_2_12: old, Control.IAM_3: old, Control.ORG_POLICY: org}


def failing_days(policy: Policy) -> int:
    """Days of each cycle on which a rotated user's old key is active at 90 days or older under
    `policy` when every sweep runs, its deactivation day included (it is active until that
    day's sweep); 0: the 90-day controls pass every day."""
    return max(0, policy.latest_deactivation_days - MAX_KEY_AGE_DAYS + 1)


@dataclass(frozen=True)
class Failure:
    """When a key first fails the 90-day controls, and until when (None: until it is retired
    outside the forecast's horizon)."""

    first: date
    last: date | None


def first_failure(created: date, active_until: date | None, today: date) -> Failure | None:
    """A key's first day failing the 90-day controls: the day it turns 90 if it is still active
    then (`active_until`: the last day it is active, at least until that day's sweep; None if it
    stays active), or today if it already fails; None if it is deactivated first."""
    turns = created + timedelta(days=MAX_KEY_AGE_DAYS)
    if active_until is not None and active_until < turns:
        return None
    return Failure(max(turns, today), active_until)


# --------------------------------------------------------------------------- the cis preset


class Preset(StrEnum):
    RECIPE = "recipe"  # 90/100/110, AWS's sample's ages: fails the 90-day controls 11 days a cycle
    CIS = "cis"


# The cis preset's deactivation age: the last age at which a key may still be deactivated in
# time, less the sweeps it may miss.
CIS_DEACTIVATE_AFTER_DAYS = MAX_KEY_AGE_DAYS - 1 - MISSED_SWEEPS_TOLERATED
# The recipe's 10 days for consumers to move to the new key, and 10 more before deletion
# while the deactivated key can still be switched back on.
CIS_OVERLAP_DAYS = 10
CIS_ROLLBACK_DAYS = 10

PRESETS = {
    Preset.RECIPE: Policy(90, 100, 110),
    Preset.CIS: Policy(
        CIS_DEACTIVATE_AFTER_DAYS - CIS_OVERLAP_DAYS,
        CIS_DEACTIVATE_AFTER_DAYS,
        CIS_DEACTIVATE_AFTER_DAYS + CIS_ROLLBACK_DAYS,
    ),
}


def preset_ceiling(preset: Preset) -> int | None:
    """The latest deactivation age a policy may have under `preset` (None: no ceiling)."""
    return CIS_DEACTIVATE_AFTER_DAYS if preset is Preset.CIS else None
