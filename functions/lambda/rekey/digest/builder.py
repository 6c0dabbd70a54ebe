"""The digest's builder: sweep starts, scan records and announcements in, one notification out.
Pure: what it is given, nothing read from AWS or the clock."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from ..domain.entities import Received
from ..messages import AccountDigest, DigestSummary, Event, NeedsHuman, Notification, Severity, publish_arguments
from .records import AccountScanned, SweepStarted
from .text import render

log = logging.getLogger(__name__)

# SNS takes up to 256 KiB per message; the digest (its JSON, and its text again for email) is
# kept well below by listing fewer accounts and items, and saying how many were left out.
MAX_PAYLOAD = 240_000
FIRST_LIMIT = 500


@dataclass
class _Account:
    account_id: str
    name: str = ""
    scans: dict[str, AccountScanned] = field(default_factory=dict)  # sweep id -> last attempt
    unreachable: str | None = None  # from an announcement, when no scan record arrived
    events: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)  # event -> distinct keys

    def latest_scan(self) -> AccountScanned | None:
        return max(self.scans.values(), key=lambda s: s.at, default=None)

    def count(self, event: Event) -> int:
        return len(self.events.get(event.value, ()))


# A user's secret that cannot take a new key, or cannot serve its consumers.
SECRET_STATES = (Event.SECRET_UNWRITABLE, Event.SECRET_BROKEN)
# A rotation Secrets Manager does not record: its relay missing, or the writer denied.
UNRECORDED = Event.SECRETS_MANAGER_ROTATION_FAILED
# A destination that does not hold the user's current key (rekey.domain.delivery).
UNDELIVERED = Event.DELIVERY_FAILED


# What makes two announcements the same fact (SNS delivers at least once; a blocked user is
# announced by the scan and maybe again by a worker). Failures count attempts: each is distinct.
def _identity(n: Notification, message_id: str | None) -> tuple[str, ...]:
    if n.event in (Event.BLOCKED, Event.MISCONFIGURED, Event.REFUSED, Event.CONFLICT, *SECRET_STATES, UNRECORDED):
        return (n.user_name or "-",)
    if n.event is UNDELIVERED:  # one a destination: the message names it
        return (n.user_name or "-", n.message.split(":", 1)[0])
    if n.event in (
        Event.ROTATED,
        Event.DEACTIVATED,
        Event.DELETED,
        Event.IN_USE,
        Event.NOT_ADOPTED,
        Event.PICKUP_UNCONFIRMED,
    ):
        return (n.user_name or "-", n.key_id or "-", n.new_key_id or "-")
    return (message_id or f"{n.user_name}|{n.key_id}|{n.at.isoformat()}|{n.message}",)


COUNTED = (
    Event.ROTATED,
    Event.DEACTIVATED,
    Event.DELETED,
    Event.BLOCKED,
    Event.MISCONFIGURED,
    Event.REFUSED,
    Event.CONFLICT,
    *SECRET_STATES,
    Event.IN_USE,
    Event.NOT_ADOPTED,
    Event.FAILED,
    Event.DEAD_LETTERED,
    UNRECORDED,
    UNDELIVERED,
    Event.PICKUP_UNCONFIRMED,
)
NEEDS_HUMAN = (
    Event.BLOCKED,
    Event.MISCONFIGURED,
    Event.REFUSED,
    Event.CONFLICT,
    *SECRET_STATES,
    Event.DEAD_LETTERED,
    UNRECORDED,
    UNDELIVERED,
    Event.PICKUP_UNCONFIRMED,
)


class DigestBuilder:
    """Collects sweep starts, scan records and announcements (in any order, duplicates
    included) and builds the digest."""

    def __init__(self) -> None:
        self.sweeps: dict[str, SweepStarted] = {}
        self.accounts: dict[str, _Account] = {}
        self.attention: dict[tuple[str, str, str], NeedsHuman] = {}  # (event, account, who) -> item
        self._message_ids: set[str] = set()
        self.unreadable = 0

    def _account(self, account_id: str, name: str = "") -> _Account:
        account = self.accounts.setdefault(account_id, _Account(account_id))
        account.name = account.name or name
        return account

    def add_sweep(self, entry: SweepStarted) -> None:
        self.sweeps[entry.sweep_id] = entry
        for ref in entry.accounts:
            self._account(ref.account_id, ref.name)

    def add_scan(self, entry: AccountScanned) -> None:
        account = self._account(entry.account_id, entry.account_name)
        known = account.scans.get(entry.sweep_id)
        if known is None or entry.at >= known.at:
            account.scans[entry.sweep_id] = entry

    def add_notification(self, n: Notification, message_id: str | None = None) -> None:
        if message_id is not None:
            if message_id in self._message_ids:
                return
            self._message_ids.add(message_id)
        if n.event is Event.DIGEST:
            return
        if n.event is Event.ACCOUNT_UNREACHABLE:
            self._account(n.account_id).unreachable = n.message
            return
        if n.event not in COUNTED:
            return
        account = self._account(n.account_id)
        account.events.setdefault(n.event.value, set()).add(_identity(n, message_id))
        # A failure without a user (the sweep's listing, the CLI's drain) is nobody's work item:
        # no queue retries it.
        hub_failure = n.event is Event.FAILED and n.user_name is None
        if n.event in NEEDS_HUMAN or hub_failure:
            who = n.user_name or "-"
            if n.event is Event.DEAD_LETTERED or hub_failure:
                who = "|".join(_identity(n, message_id))
            key = (n.event.value, n.account_id, who)
            self.attention[key] = NeedsHuman(
                event=n.event.value, account_id=n.account_id, user_name=n.user_name, message=n.message
            )

    def add_received(self, message: Received) -> None:
        """One message of the digest queue: a record, or an SNS envelope around a notification."""
        try:
            body = json.loads(message.body)
            kind = body.get("record") if isinstance(body, dict) else None
            if kind == "sweep-started":
                self.add_sweep(SweepStarted.model_validate(body))
            elif kind == "account-scanned":
                self.add_scan(AccountScanned.model_validate(body))
            elif isinstance(body, dict) and body.get("Type") == "Notification":
                self.add_notification(Notification.model_validate_json(body["Message"]), body.get("MessageId"))
            elif isinstance(body, dict) and "event" in body:  # raw delivery
                self.add_notification(Notification.model_validate(body), message.message_id)
            else:
                raise ValueError("neither a digest record nor a notification")
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            self.unreadable += 1
            log.warning("digest: skipping unreadable message %s: %s", message.message_id, type(exc).__name__)

    # -- the summary

    def summary(self, *, limit: int = FIRST_LIMIT) -> DigestSummary:
        latest = max(self.sweeps.values(), key=lambda s: s.at, default=None)
        listed = {ref.account_id for ref in latest.accounts} if latest else set()
        sweep_ids = sorted(set(self.sweeps) | {sid for a in self.accounts.values() for sid in a.scans})
        rows: list[AccountDigest] = []
        attention = dict(self.attention)
        for account in sorted(self.accounts.values(), key=lambda a: a.account_id):
            scan = account.latest_scan()
            not_scanned = latest is not None and account.account_id in listed and latest.sweep_id not in account.scans
            error = scan.error if scan else account.unreachable
            if scan is None and error is None and not not_scanned and not account.events:
                continue
            if error:
                attention[("account-unreachable", account.account_id, "-")] = NeedsHuman(
                    event="account-unreachable", account_id=account.account_id, message=error
                )
            elif not_scanned:
                attention[("not-scanned", account.account_id, "-")] = NeedsHuman(
                    event="not-scanned",
                    account_id=account.account_id,
                    message=f"listed by sweep {latest.sweep_id if latest else '?'} but no scan was recorded",
                )
            rows.append(
                AccountDigest(
                    account_id=account.account_id,
                    name=account.name,
                    scanned=bool(scan and not scan.error),
                    error=error,
                    not_scanned=not_scanned and not error,
                    users_in_scope=scan.users_in_scope if scan else 0,
                    items_queued=sum(s.items_queued for s in account.scans.values()),
                    rotated=account.count(Event.ROTATED),
                    deactivated=account.count(Event.DEACTIVATED),
                    deleted=account.count(Event.DELETED),
                    blocked=account.count(Event.BLOCKED),
                    misconfigured=account.count(Event.MISCONFIGURED),
                    in_use=account.count(Event.IN_USE) + account.count(Event.NOT_ADOPTED),
                    failed=account.count(Event.FAILED) + account.count(Event.DEAD_LETTERED),
                    dead_lettered=account.count(Event.DEAD_LETTERED),
                )
            )
        if not sweep_ids:
            attention[("no-sweep", "-", "-")] = NeedsHuman(
                event="no-sweep",
                account_id="-",
                message="no sweep was recorded since the last digest: check the sweep function and its schedule",
            )
        totals = {
            name: sum(getattr(r, name) for r in rows)
            for name in (
                "users_in_scope",
                "items_queued",
                "rotated",
                "deactivated",
                "deleted",
                "blocked",
                "misconfigured",
                "in_use",
                "failed",
                "dead_lettered",
            )
        }
        active = [r for r in rows if r.error or r.not_scanned or _activity(r)]
        order = {"no-sweep": 0, "account-unreachable": 1, "not-scanned": 2, "dead-lettered": 3, "blocked": 4}
        needs = sorted(attention.values(), key=lambda h: (order.get(h.event, 5), h.account_id, h.user_name or ""))
        left_alone = [(a, s) for a in self.accounts.values() if (s := a.latest_scan()) is not None]
        advice: Counter[str] = Counter()
        for _, scan in left_alone:
            advice.update(scan.advice)
        return DigestSummary(
            advice=dict(advice),
            exempt=sorted(f"{a.account_id} {u}" for a, s in left_alone for u in s.exempt)[:limit],
            paused=sorted(f"{a.account_id} {u}" for a, s in left_alone for u in s.paused)[:limit],
            sweep_ids=sweep_ids,
            accounts_listed=len(listed) if latest else None,
            accounts_scanned=sum(1 for r in rows if r.scanned),
            accounts_unreachable=sum(1 for r in rows if r.error),
            accounts_not_scanned=sum(1 for r in rows if r.not_scanned),
            totals=totals,
            accounts=active[:limit],
            accounts_omitted=max(0, len(active) - limit),
            quiet_accounts=len(rows) - len(active),
            needs_human_total=len(needs),
            needs_human=needs[:limit],
        )

    def notification(self, hub_account_id: str, at: datetime) -> Notification:
        """The digest, within SNS's size limit."""
        limit = FIRST_LIMIT
        while True:
            summary = self.summary(limit=limit)
            n = Notification(
                event=Event.DIGEST,
                severity=Severity.WARNING if summary.needs_human_total else Severity.INFO,
                account_id=hub_account_id,
                message=render(summary),
                at=at,
                digest=summary,
            )
            if len(json.dumps(publish_arguments(n)).encode()) <= MAX_PAYLOAD or limit == 0:
                return n
            limit //= 2


def _activity(r: AccountDigest) -> bool:
    return any((r.items_queued, r.rotated, r.deactivated, r.deleted, r.blocked, r.misconfigured, r.in_use, r.failed))
