"""Who is in scope and with which policy, from a user's tags."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from .models import InUsePolicy, Policy
from .window import WINDOW_TAG, WindowError, narrowed

ROTATE_TAG = "rekey:rotate-after-days"
DEACTIVATE_TAG = "rekey:deactivate-after-days"
DELETE_TAG = "rekey:delete-after-days"
OWNER_TAG = "rekey:owner"
OVERRIDE_TAGS = (ROTATE_TAG, DEACTIVATE_TAG, DELETE_TAG)

_INTEGER = re.compile(r"[0-9]{1,5}")


class OptIn(StrEnum):
    IN = "in"
    OUT = "out"
    INVALID = "invalid"


@dataclass(frozen=True)
class Bounds:
    """Organisation-wide limits a per-user override must stay inside: floors as well as
    ceilings, so tags cannot take an in-use key away within days."""

    min_rotate_after_days: int = 30
    max_rotate_after_days: int = 90
    max_delete_after_days: int = 365
    # The least time between a rotation and the old key's deactivation (deactivate - rotate).
    min_overlap_days: int = 7
    # The furthest an exemption (rekey:exempt-until) may reach from today.
    max_exempt_days: int = 90
    # The oldest a replaced key may be while still active (Policy.latest_deactivation_days);
    # the cis preset's, so no tag can make a key fail the 90-day controls. None: no ceiling.
    max_active_days: int | None = None


class PolicyError(ValueError):
    """A user's tags do not describe a valid policy; the user is misconfigured and untouched."""


def opt_in(tags: Mapping[str, str], tag_key: str) -> tuple[OptIn, str]:
    """Read the opt-in tag. `true`/`false` in any case opt in/out; anything else is invalid,
    because the spoke role's IAM condition only lets rekey write keys of users tagged `true`."""
    if tag_key not in tags:
        return OptIn.OUT, "not tagged"
    value = tags[tag_key]
    lowered = value.lower()
    if lowered == "true":
        return OptIn.IN, "tagged true"
    if lowered == "false":
        return OptIn.OUT, "tagged false"
    return OptIn.INVALID, f"tag {tag_key}={value!r} is neither 'true' nor 'false'"


def resolve_policy(tags: Mapping[str, str], default: Policy, bounds: Bounds) -> Policy:
    """The user's policy: the org default with per-user overrides applied, validated.

    Raises PolicyError with a sentence a user can act on."""
    values = {
        ROTATE_TAG: default.rotate_after_days,
        DEACTIVATE_TAG: default.deactivate_after_days,
        DELETE_TAG: default.delete_after_days,
    }
    for tag in OVERRIDE_TAGS:
        if tag in tags:
            raw = tags[tag]
            if not _INTEGER.fullmatch(raw):
                raise PolicyError(f"tag {tag}={raw!r} is not a whole number of days")
            values[tag] = int(raw)
    window = default.window
    if WINDOW_TAG in tags:
        try:
            window = narrowed(default.window, tags[WINDOW_TAG])
        except WindowError as exc:
            raise PolicyError(f"tag {WINDOW_TAG}: {exc}") from None
    policy = replace(
        default,
        rotate_after_days=values[ROTATE_TAG],
        deactivate_after_days=values[DEACTIVATE_TAG],
        delete_after_days=values[DELETE_TAG],
        window=window,
    )
    check_policy(policy, bounds)
    return policy


def check_policy(policy: Policy, bounds: Bounds) -> None:
    """Raise PolicyError unless rotate < deactivate < delete, inside the bounds."""
    rotate, deactivate, delete = (
        policy.rotate_after_days,
        policy.deactivate_after_days,
        policy.delete_after_days,
    )
    if not rotate < deactivate < delete:
        raise PolicyError(
            "need rotate < deactivate < delete, got rotate-after-days="
            f"{rotate}, deactivate-after-days={deactivate}, delete-after-days={delete}"
        )
    if not bounds.min_rotate_after_days <= rotate <= bounds.max_rotate_after_days:
        raise PolicyError(
            f"rotate-after-days {rotate} is outside the allowed "
            f"{bounds.min_rotate_after_days}..{bounds.max_rotate_after_days}"
        )
    if deactivate - rotate < bounds.min_overlap_days:
        raise PolicyError(
            f"deactivate-after-days {deactivate} leaves the replacement only {deactivate - rotate} day(s) "
            f"before the old key is deactivated; the allowed minimum overlap is {bounds.min_overlap_days}"
        )
    latest = policy.latest_deactivation_days
    if bounds.max_active_days is not None and latest > bounds.max_active_days:
        causes = [f"deactivate-after-days {deactivate}"]
        if policy.in_use_policy is InUsePolicy.DEFER:
            causes.append(f"up to {policy.max_defer_days} days deferred")
        elif policy.in_use_policy is InUsePolicy.ADOPT:
            causes = ["the adopt policy's deadline, REKEY_MAX_DEACTIVATE_AFTER_DAYS"]
        if policy.window is not None and policy.window_wait_days:
            causes.append(
                f"up to {policy.window_wait_days} days waiting for the rotation window {policy.window.describe()} "
                "(its rotation and its deactivation may each wait; widen the window or lower the ages)"
            )
        raise PolicyError(
            f"a replaced key could stay active until {latest} days old ({'; '.join(causes)}); the cis preset "
            f"deactivates it by {bounds.max_active_days} days, so that no active key reaches 90"
        )
    if delete > bounds.max_delete_after_days:
        raise PolicyError(f"delete-after-days {delete} exceeds the allowed maximum {bounds.max_delete_after_days}")


def owner(tags: Mapping[str, str]) -> str | None:
    value = tags.get(OWNER_TAG, "").strip()
    return value or None
