"""Rotation windows: the days and hours, in a time zone, in which rekey may change a key.

`REKEY_ROTATION_WINDOW` (hub parameter `RotationWindow`) is the organization's; a user's
`rekey:window` tag may only narrow it (fewer days, fewer hours, the same time zone). Written as
`<days> <from>-<to> [<time zone>]`:

    Mon-Fri 09:00-17:00 Europe/Berlin
    Tue,Thu 10:00-12:00
    daily 08:00-18:00 America/New_York

Days are `Mon`..`Sun`, ranges (`Mon-Fri`, `Sat-Mon` wraps) and commas, or `daily`; hours are
`HH:MM-HH:MM` on one day (`00:00-24:00` is all day); the time zone is an IANA name, UTC when
left out. Pure: `zoneinfo` reads the IANA database (the `tzdata` package where the system has
none, as on some Lambda runtimes).

Outside its window a user's key is neither created nor deactivated nor deleted: the action
waits (rekey.domain.lifecycle.decide turns it into a WAIT naming the next opening). Settling an
interrupted rotation, deliveries and warnings do not wait. Checked at the sweep's time (the
sweep runs once a day, `SweepSchedule`) and again at the worker's: a window whose hours never
contain the sweep's time is never reached, which `reach_problem` says."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAYS = tuple(d[:3].title() for d in FULL_DAYS)
ALL_DAYS = frozenset(range(7))
WINDOW_TAG = "rekey:window"
_HOURS = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")
_END_OF_DAY = 24 * 60


class WindowError(ValueError):
    """A window that cannot be read, or a user's window outside the organization's."""


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after midnight, local time
    end: int  # exclusive; 1440 = midnight at the day's end
    zone: str = "UTC"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def describe(self) -> str:
        return f"{_days_text(self.days)} {_clock(self.start)}-{_clock(self.end)} {self.zone}"

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        return local.weekday() in self.days and self.start <= minute < self.end

    def next_opening(self, at: datetime) -> datetime:
        """`at` if the window is open then, else when it next opens (aware, in the window's zone)."""
        if self.is_open(at):
            return at.astimezone(self.tz)
        local = at.astimezone(self.tz)
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            opening = datetime.combine(day, time(self.start // 60, self.start % 60), self.tz)
            if day.weekday() in self.days and opening > local:
                return opening
        raise AssertionError("a window with days opens within a week")  # days is never empty

    @property
    def wait_days(self) -> int:
        """The most days an action due on a day outside the window waits for it (a daily
        sweep inside its hours): 0 when every day is in it, 6 for one day a week."""
        gaps = [next(n for n in range(1, 8) if (d + n) % 7 in self.days) for d in self.days]
        return max(gaps) - 1

    def contains(self, other: Window) -> bool:
        return other.zone == self.zone and other.days <= self.days and self.start <= other.start < other.end <= self.end

    def reach_problem(self, sweep_at: datetime) -> str | None:
        """Why a daily sweep at `sweep_at`'s time of day never reaches the window (its hours do not
        contain that time), or None."""
        local = sweep_at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        if self.start <= minute < self.end:
            return None
        return (
            f"the sweep runs at {local:%H:%M} {self.zone}, outside the rotation window's hours "
            f"{_clock(self.start)}-{_clock(self.end)}: no key is changed until the sweep runs inside them"
        )


def parse_window(text: str, zone: str | None = None) -> Window:
    """`text` as a Window; `zone`: the time zone when `text` names none (else UTC). Raises
    WindowError with a sentence."""
    parts = text.split()
    if len(parts) not in (2, 3):
        raise WindowError(f"{text!r} is not '<days> <HH:MM-HH:MM> [<time zone>]', e.g. 'Mon-Fri 09:00-17:00 UTC'")
    days = _parse_days(parts[0])
    hours = _HOURS.fullmatch(parts[1])
    if hours is None:
        raise WindowError(f"{parts[1]!r} is not hours HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in hours.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > _END_OF_DAY or start >= end:
        raise WindowError(f"{parts[1]!r}: hours must run forward within one day (00:00-24:00 at most)")
    name = parts[2] if len(parts) == 3 else zone or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(f"{name!r} is not a time zone (an IANA name such as Europe/Berlin)") from None
    return Window(days, start, end, name)


_CRON = re.compile(r"cron\(\s*([0-9]{1,2})\s+([0-9]{1,2})\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*\)")


def sweep_time(schedule: str) -> time | None:
    """The time of day (UTC) a daily sweep runs on, from the hub's `SweepSchedule` (an EventBridge
    schedule expression, REKEY_SWEEP_SCHEDULE): `cron(30 7 * * ? *)` runs at 07:30 UTC. None
    for any other schedule (`rate(1 day)`, several hours, some days only): no single time a day.
    Raises WindowError if `schedule` is no schedule expression at all."""
    text = schedule.strip()
    if not re.fullmatch(r"(cron|rate|at)\(.+\)", text):
        raise WindowError(f"{schedule!r} is not an EventBridge schedule expression, e.g. 'cron(0 6 * * ? *)'")
    found = _CRON.fullmatch(text)
    if found is None or any(f not in ("*", "?") for f in found.groups()[2:5]):
        return None
    minute, hour = int(found.group(1)), int(found.group(2))
    if minute > 59 or hour > 23:
        raise WindowError(f"{schedule!r}: minutes 0-59 and hours 0-23")
    return time(hour, minute)


def narrowed(org: Window | None, tag: str) -> Window:
    """A user's `rekey:window` tag: inside the organization's window (its time zone if the tag
    names none). Raises WindowError."""
    user = parse_window(tag, org.zone if org else None)
    if org is not None and not org.contains(user):
        raise WindowError(
            f"{tag!r} is not inside the organization's rotation window {org.describe()}: "
            "a user's window may only narrow it"
        )
    return user


def _parse_days(text: str) -> frozenset[int]:
    if text.lower() in ("daily", "*"):
        return ALL_DAYS
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        a, b = _day(first), _day(last or first)
        days.update((a + n) % 7 for n in range((b - a) % 7 + 1))
    return frozenset(days)


def _day(text: str) -> int:
    key = text.strip().lower()
    for number, name in enumerate(FULL_DAYS):
        if key in (name, name[:3]):
            return number
    raise WindowError(f"{text!r} is not a day ({', '.join(DAYS)}, a range such as Mon-Fri, or daily)")


def _days_text(days: frozenset[int]) -> str:
    """`Mon-Fri`, `Tue,Thu`, `Sat-Mon`, or `daily`."""
    if days == ALL_DAYS:
        return "daily"
    # Runs of consecutive days, starting after a day outside the window (so Sat-Mon stays one).
    first = next(d for d in range(7) if (d - 1) % 7 not in days and d in days)
    runs: list[list[int]] = []
    for d in ((first + n) % 7 for n in range(7)):
        if d not in days:
            continue
        if runs and (runs[-1][-1] + 1) % 7 == d:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ",".join(DAYS[r[0]] if len(r) == 1 else f"{DAYS[r[0]]}-{DAYS[r[-1]]}" for r in runs)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
