"""Forecast: run decide() forward one day at a time on a copy of a user's keys and secret, as
the daily sweep and the workers would, assuming nobody else touches the keys and no key is
used again. Pure: the state is copied, nothing is read or written."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from rekey.domain.controls import Failure, first_failure
from rekey.domain.lifecycle import decide
from rekey.domain.models import WARNINGS, AccessKey, Action, ActionKind, KeyStatus, Policy, SecretState
from rekey.domain.rollout import Hold
from rekey.domain.window import Window

NEW_KEY_PREFIX = "new key "
# Daily announcements that repeat while a condition lasts: forecast as one entry with a range.
REPEATING = frozenset({*WARNINGS, ActionKind.BLOCKED, ActionKind.SECRET_BROKEN})
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Planned:
    """One forecast action. `last` > `first` for a warning or block repeated daily."""

    first: date
    last: date
    kind: ActionKind
    key_id: str | None
    reason: str
    # When that day it happens: at the sweep's time if known (REKEY_SWEEP_SCHEDULE); else, under
    # a rotation window, at its opening at the earliest. None: at the sweep's time, not known.
    at: datetime | None = None

    @property
    def simulated_key(self) -> bool:
        """The key does not exist yet: the forecast created it."""
        return bool(self.key_id and self.key_id.startswith(NEW_KEY_PREFIX))


PolicyOn = Callable[[datetime], Policy | None]


def simulate(
    keys: Sequence[AccessKey],
    secret: SecretState,
    now: datetime,
    days: int,
    policy_on: PolicyOn,
    *,
    stop_when_acted: frozenset[ActionKind] | None = None,
    hold: Hold | None = None,
    sweep_at: time | None = None,
) -> list[Planned]:
    """What happens to the user's keys on each of the `days` days from `now` (today first).
    `policy_on(moment)` is the user's policy that day, or None while out of scope (exempt).
    With `stop_when_acted`, stop once every existing key has had one of those actions. With a
    `hold` that ends on a known day (the rollout's waves), no key changes before that day; a halt
    (no end day) is not forecast: it lasts until an operator resumes rekey. `sweep_at`: the time
    of day (UTC) the daily sweep runs, if known: each later day's changes happen then, or, if the
    window is closed then, on a later day."""
    state = _State(list(keys), secret)
    planned: list[Planned] = []
    open_repeats: dict[tuple[ActionKind, str | None, str], int] = {}
    waiting = {k.key_id for k in keys}
    for day in range(days):
        moment = now + timedelta(days=day)
        policy = policy_on(moment)
        window = policy.window if policy is not None else None
        if day and sweep_at is not None:
            moment = datetime.combine(moment.astimezone(UTC).date(), sweep_at, UTC)
        elif day and window is not None:
            moment = _opening(window, moment)
        held = hold.why if hold is not None and hold.until is not None and moment.date() < hold.until else None
        actions = decide(state.keys, state.secret, policy, moment, held) if policy is not None else []
        # A change the window or the hold holds happens on a later day: that day's entry says when.
        actions = [a for a in actions if a.kind is not ActionKind.WAIT]
        seen_repeats: set[tuple[ActionKind, str | None, str]] = set()
        for action in actions:
            key_id = action.key_id
            if action.kind in REPEATING:
                # The same announcement on consecutive days, whatever its counts and dates say.
                slot = (action.kind, key_id, _DIGITS.sub("", action.reason))
                seen_repeats.add(slot)
                index = open_repeats.get(slot)
                if index is not None and planned[index].last == moment.date() - timedelta(days=1):
                    planned[index] = replace(planned[index], last=moment.date())
                    continue
                open_repeats[slot] = len(planned)
            at = moment.astimezone(window.tz) if window is not None else (moment if sweep_at is not None else None)
            planned.append(Planned(moment.date(), moment.date(), action.kind, key_id, action.reason, at))
            if stop_when_acted is not None and action.kind in stop_when_acted:
                waiting.discard(key_id or "")
            state.apply(action, moment)
        for slot in set(open_repeats) - seen_repeats:
            del open_repeats[slot]
        if stop_when_acted is not None and not waiting:
            break
    return planned


def _opening(window: Window, moment: datetime) -> datetime:
    """The window's opening on `moment`'s day (in its time zone), if it opens that day: when a
    later day's change happens at the earliest (the sweep's time, if that is later)."""
    local = moment.astimezone(window.tz)
    if local.weekday() not in window.days:
        return moment
    return local.replace(hour=window.start // 60, minute=window.start % 60, second=0, microsecond=0)


def next_actions(
    keys: Sequence[AccessKey], secret: SecretState, now: datetime, horizon: int, policy_on: PolicyOn
) -> dict[str, Planned]:
    """Each existing key's next action (warnings aside) within `horizon` days, if any."""
    found: dict[str, Planned] = {}
    for entry in simulate(keys, secret, now, horizon, policy_on, stop_when_acted=_ACTIONS):
        if entry.key_id and entry.kind not in WARNINGS:
            found.setdefault(entry.key_id, entry)
    return found


def control_failures(
    keys: Sequence[AccessKey],
    secret: SecretState,
    now: datetime,
    horizon: int,
    policy_on: PolicyOn,
    hold: Hold | None = None,
    sweep_at: time | None = None,
) -> dict[str, Failure | None]:
    """When each of the user's active keys first fails the 90-day controls (CIS 2.12, IAM.3) if
    the forecast holds: the day it turns 90 if its deactivation (or deletion) comes later or not
    within `horizon` days; None if it is retired first."""
    retired: dict[str, date] = {}
    entries = simulate(
        keys, secret, now, horizon, policy_on, stop_when_acted=_RETIREMENTS, hold=hold, sweep_at=sweep_at
    )
    for entry in entries:
        if entry.key_id and entry.kind in _RETIREMENTS:
            # Retired by that day's sweep: active on that day until then.
            retired.setdefault(entry.key_id, entry.first)
    today = now.date()
    return {k.key_id: first_failure(k.created.date(), retired.get(k.key_id), today) for k in keys if k.active}


_ACTIONS = frozenset(ActionKind) - WARNINGS
_RETIREMENTS = frozenset({ActionKind.DEACTIVATE, ActionKind.DELETE, ActionKind.DELETE_ORPHAN})


class _State:
    """The simulated keys and secret, changed as the worker would change them."""

    def __init__(self, keys: list[AccessKey], secret: SecretState) -> None:
        self.keys = keys
        self.secret = secret
        self.created = 0

    def apply(self, action: Action, moment: datetime) -> None:
        kind, key_id = action.kind, action.key_id
        if kind is ActionKind.ROTATE:
            self.created += 1
            new = AccessKey(f"{NEW_KEY_PREFIX}{self.created}", KeyStatus.ACTIVE, moment)
            self.keys.append(new)
            self.secret = replace(
                self.secret,
                exists=True,
                current_key_id=new.key_id,
                previous_key_id=self.secret.current_key_id,
                current_unusable=None,  # the new version is rekey's
                current_unread=False,
            )
        elif kind is ActionKind.FINISH_ROTATION:
            self.secret = replace(self.secret, current_key_id=key_id, pending_key_id=None)
        elif kind is ActionKind.CLEAR_INTENT:
            self.secret = replace(self.secret, intent=None)
        elif kind in (ActionKind.DELETE, ActionKind.DELETE_ORPHAN):
            self.keys = [k for k in self.keys if k.key_id != key_id]
        elif kind is ActionKind.DEACTIVATE:
            self.keys = [replace(k, status=KeyStatus.INACTIVE) if k.key_id == key_id else k for k in self.keys]
