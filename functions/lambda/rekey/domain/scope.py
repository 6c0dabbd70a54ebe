"""Who is in scope today: opt-in, per-user policy and exemptions, from a user's tags and `now`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from .models import Policy
from .policy import Bounds, OptIn, PolicyError, opt_in, resolve_policy

EXEMPT_UNTIL_TAG = "rekey:exempt-until"
EXEMPT_REASON_TAG = "rekey:exempt-reason"
NO_REASON = "no reason given"

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Scope(StrEnum):
    IN = "in scope"
    EXEMPT = "exempt"
    OUT = "out of scope"
    MISCONFIGURED = "misconfigured"
    # Tagged, but rekey may not act on it (privileged, outside the path, without the boundary).
    REFUSED = "refused"


@dataclass(frozen=True)
class Exemption:
    """`rekey:exempt-until` (last exempt day, inclusive, UTC) and `rekey:exempt-reason`.
    `until` is None for a permanent opt-out (`rekey:rotate=false`)."""

    until: date | None
    reason: str

    def active(self, today: date) -> bool:
        return self.until is None or today <= self.until


@dataclass(frozen=True)
class Assessment:
    """A user's standing on one day. `policy` is set for users tagged in (also when exempt,
    so a report can show the policy that will apply once the exemption lapses)."""

    scope: Scope
    why: str
    policy: Policy | None = None
    exemption: Exemption | None = None

    @property
    def in_scope(self) -> bool:
        return self.scope is Scope.IN


def parse_day(value: str) -> date:
    """A `YYYY-MM-DD` date, or ValueError with a sentence."""
    value = value.strip()
    if not _DAY.fullmatch(value):
        raise ValueError(f"{value!r} is not a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date") from None


def exemption(tags: Mapping[str, str], today: date | None = None, max_days: int | None = None) -> Exemption | None:
    """The user's dated exemption, if tagged; raises PolicyError for an invalid date, or one
    more than `max_days` after `today` (an exemption must end)."""
    if EXEMPT_UNTIL_TAG not in tags:
        return None
    try:
        until = parse_day(tags[EXEMPT_UNTIL_TAG])
    except ValueError as exc:
        raise PolicyError(f"tag {EXEMPT_UNTIL_TAG}: {exc}") from None
    if today is not None and max_days is not None and until > today + timedelta(days=max_days):
        raise PolicyError(
            f"tag {EXEMPT_UNTIL_TAG}={until} is more than {max_days} days away (REKEY_MAX_EXEMPT_DAYS); "
            "the exemption is ignored"
        )
    return Exemption(until, tags.get(EXEMPT_REASON_TAG, "").strip() or NO_REASON)


def assess(
    tags: Mapping[str, str],
    tag_key: str,
    default: Policy,
    bounds: Bounds,
    now: datetime,
    refused: str | None = None,
    misconfigured: str | None = None,
) -> Assessment:
    """In scope, exempt (until a date, then in scope again by itself), out, refused (`refused`:
    why rekey may not act on this user, see rekey.domain.privilege) or misconfigured (announced
    and left untouched: an invalid opt-in, policy or exemption tag, or `misconfigured`: a
    problem the caller found, such as a delivery tag naming a destination not approved)."""
    state, why = opt_in(tags, tag_key)
    if state is OptIn.OUT:
        reason = tags.get(EXEMPT_REASON_TAG, "").strip() or NO_REASON
        return Assessment(Scope.OUT, why, exemption=Exemption(None, reason) if why == "tagged false" else None)
    if state is OptIn.INVALID:
        return Assessment(Scope.MISCONFIGURED, why)
    if refused is not None:
        return Assessment(Scope.REFUSED, refused)
    if misconfigured is not None:
        return Assessment(Scope.MISCONFIGURED, misconfigured)
    today = now.date()
    try:
        policy = resolve_policy(tags, default, bounds)
        exempt = exemption(tags, today, bounds.max_exempt_days)
    except PolicyError as exc:
        return Assessment(Scope.MISCONFIGURED, str(exc))
    if exempt is not None and exempt.active(today):
        return Assessment(Scope.EXEMPT, f"exempt until {exempt.until}: {exempt.reason}", policy, exempt)
    if exempt is not None:
        return Assessment(Scope.IN, f"tagged true (exemption lapsed after {exempt.until})", policy, exempt)
    return Assessment(Scope.IN, why, policy)
