"""How the demo looks: the timeline, the final table, the progress line. Plain text, ASCII
only (any terminal, any locale), colour only on a terminal that wants it."""

from __future__ import annotations

import os
import textwrap
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

EVENT_WIDTH = 13
# Announced by every daily scan while the condition lasts: the timeline shows a streak once.
REPEATING = frozenset({"blocked", "misconfigured", "secret-broken"})
EVENT_ORDER = (
    "rotated",
    "deactivated",
    "deleted",
    "delivered",
    "delivery-failed",
    "pickup-unconfirmed",
    "in-use",
    "blocked",
    "misconfigured",
    "failed",
    "rejected",
    "account-unreachable",
)
_COLOURS = {
    "rotated": "32",  # green
    "deactivated": "33",  # yellow
    "deleted": "36",  # cyan
    "delivered": "34",  # blue
    "delivery-failed": "1;31",
    "pickup-unconfirmed": "1;31",
    "in-use": "1;33",  # bold yellow
    "blocked": "1;31",  # bold red
    "misconfigured": "35",  # magenta
    "failed": "1;31",
    "rejected": "31",
    "account-unreachable": "1;31",
    "resolved": "2",  # dim
}


def wants_colour(stream: TextIO) -> bool:
    return _isatty(stream) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass(frozen=True)
class DemoEvent:
    """One notification as a subscriber of the topic received it, placed on its simulated day."""

    day: int
    account: str
    account_id: str
    user: str | None
    event: str
    severity: str
    owner: str | None
    key_id: str | None
    new_key_id: str | None
    secret_name: str | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class Painter:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, code: str | None) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour and code else text

    def event(self, name: str, width: int = EVENT_WIDTH) -> str:
        return self(f"{name:<{width}}", _COLOURS.get(name))

    def bold(self, text: str) -> str:
        return self(text, "1")

    def dim(self, text: str) -> str:
        return self(text, "2")


class Timeline:
    """Renders each simulated day's events; days without news print nothing. A blocked or
    misconfigured user is announced every day: shown when it starts, and when it ends."""

    def __init__(self, accounts: list[str], users: list[str], paint: Painter, width: int | None = None) -> None:
        self._order = {name: i for i, name in enumerate(accounts)}
        self._account_width = max([7, *(len(a) for a in accounts)])
        self._user_width = max([4, *(len(u) for u in users)])
        self._paint = paint
        self._width = width  # wrap messages to this many columns (a terminal's); None: never
        self._streaks: dict[tuple[str, str | None, str], tuple[int, int]] = {}  # -> (first, last day)

    def day(self, day: int, events: list[DemoEvent]) -> list[str]:
        rows: list[tuple[tuple[int, str], str]] = []
        seen_today: set[tuple[str, str | None, str]] = set()
        for e in events:
            streak_key = (e.account, e.user, e.event)
            if e.event in REPEATING:
                seen_today.add(streak_key)
                first, last = self._streaks.get(streak_key, (day, day - 2))
                if last == day - 1:
                    self._streaks[streak_key] = (first, day)
                    continue
                self._streaks[streak_key] = (day, day)
                rows.append((self._sort_key(e), self._line(e, e.event, e.message + " (announced daily)")))
            else:
                rows.append((self._sort_key(e), self._line(e, e.event, e.message)))
        for streak_key, (first, last) in list(self._streaks.items()):
            if last == day - 1 and streak_key not in seen_today:
                account, user, event = streak_key
                del self._streaks[streak_key]
                span = f"day {first}" if first == last else f"days {first}-{last}"
                ended = DemoEvent(day, account, "", user, event, "", None, None, None, None, "")
                rows.insert(0, (self._sort_key(ended), self._line(ended, "resolved", f"no longer {event} ({span})")))
        if not rows:
            return []
        rows.sort(key=lambda r: r[0])  # stable: a user's events keep their order
        return [self._paint.bold(f"Day {day}"), *(text for _, text in rows)]

    def _sort_key(self, e: DemoEvent) -> tuple[int, str]:
        return (self._order.get(e.account, len(self._order)), e.user or "")

    def _line(self, e: DemoEvent, label: str, message: str) -> str:
        head = f"  {e.account:<{self._account_width}}  {e.user or '-':<{self._user_width}}  "
        indent = len(head) + EVENT_WIDTH + 1
        if self._width and self._width - indent >= 30:
            pad = " " * indent
            message = textwrap.fill(
                message, self._width, initial_indent=pad, subsequent_indent=pad, break_on_hyphens=False
            )[indent:]
        return f"{head}{self._paint.event(label)} {message}"


@dataclass(frozen=True)
class KeyView:
    key_id: str
    status: str
    age_days: int

    def short(self) -> str:
        return f"..{self.key_id[-4:]} {self.status.lower()} {self.age_days}d"


@dataclass(frozen=True)
class UserView:
    account: str
    account_id: str
    name: str
    case: str
    keys: list[KeyView]
    secret: str | None  # secret name, if rekey created one
    secret_key_id: str | None  # the key id its AWSCURRENT version holds
    notifications: Counter[str]
    tagged: bool = True
    deliveries: tuple[str, ...] = ()  # `destination: state`, as `rekey report` says it

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "account_id": self.account_id,
            "user": self.name,
            "case": self.case,
            "keys": [{"key_id": k.key_id, "status": k.status, "age_days": k.age_days} for k in self.keys],
            "secret": {"name": self.secret, "current_key_id": self.secret_key_id} if self.secret else None,
            "notifications": dict(sorted(self.notifications.items())),
            **({"deliveries": list(self.deliveries)} if self.deliveries else {}),
        }


def counts(counter: Counter[str]) -> str:
    ordered = sorted(counter.items(), key=lambda kv: (_rank(kv[0]), kv[0]))
    return ", ".join(f"{name} {n}" for name, n in ordered) or "-"


def _rank(event: str) -> int:
    return EVENT_ORDER.index(event) if event in EVENT_ORDER else len(EVENT_ORDER)


def table(users: Iterable[UserView], account_ids: dict[str, str], paint: Painter) -> list[str]:
    """Per account, per user: their keys (status, age), where the secret lives and which key it
    holds, and the notifications received about them, by type."""
    users = list(users)
    name_width = max([4, *(len(u.name) for u in users)])
    case_width = max([4, *(len(u.case) for u in users)])
    pad = " " * (2 + name_width + 2 + case_width + 2)
    lines: list[str] = []
    current = None
    for u in users:
        if u.account != current:
            current = u.account
            if lines:
                lines.append("")
            lines.append(paint.bold(f"{u.account} ({account_ids[u.account]})"))
        details = [("keys", ",  ".join(k.short() for k in u.keys) or "(none)")]
        if u.secret:
            held = f" (holds ..{u.secret_key_id[-4:]})" if u.secret_key_id else ""
            details.append(("secret", f"{u.secret}{held}"))
        if u.deliveries:
            details.append(("pushed", ", ".join(u.deliveries)))
        if u.notifications:
            details.append(("notified", counts(u.notifications)))
        elif not u.tagged:
            details.append(("notified", "nothing: not tagged, so never touched"))
        for i, (label, value) in enumerate(details):
            head = f"  {u.name:<{name_width}}  {u.case:<{case_width}}  " if i == 0 else pad
            lines.append(f"{head}{paint.dim(f'{label:<9}')}{value}")
    return lines


class Progress:
    """A one-line progress bar on a terminal; on anything else a start and an end line only,
    so logs and CI output stay tidy."""

    WIDTH = 30

    def __init__(self, stream: TextIO, total_days: int) -> None:
        self._stream = stream
        self._total = total_days
        self._live = _isatty(stream)
        self._shown = False

    def start(self, text: str) -> None:
        if not self._live:
            self._stream.write(f"{text}\n")
            self._stream.flush()

    def update(self, day: int) -> None:
        if not self._live:
            return
        done = (day + 1) / (self._total + 1)
        filled = int(done * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._stream.write(f"\r  simulating day {day:>3}/{self._total} [{bar}] {done:4.0%}")
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the bar before other output appears on the same terminal."""
        if self._live and self._shown:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._shown = False

    def finish(self, text: str) -> None:
        self.clear()
        if not self._live:
            self._stream.write(f"{text}\n")
            self._stream.flush()
