"""The daily digest: once per sweep, one notification (`event=digest`) with the counts per
account and what needs a human, so a subscriber gets one message a day instead of hundreds.

Production: the sweep fans out to scan functions asynchronously, and workers act for hours
after (retries), so no function sees the whole day. Each part leaves a record on the hub's
*digest queue* (a standard SQS queue): the sweep the accounts it listed (`SweepStarted`), each
scan its account's result (`AccountScanned`), and every announcement arrives there through a
subscription of the queue to the topic (SNS envelopes; the digest itself filtered out). A
scheduled digest function, some hours after the sweep, empties the queue, builds the digest,
publishes it, and deletes what it read. The CLI builds the same digest in-process from the
sweep's results and the worker's announcements. One builder serves both.

Chosen over a DynamoDB table (a table, its capacity and its cleanup for one read a day) and
over counting in the functions (scans run in parallel Lambdas with no shared memory): the
queue keeps each record until it is read (4 days), costs nothing when idle, and holds exactly
what subscribers were told."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import Field, ValidationError

from .adapters.organizations import Account
from .adapters.sns import publish_arguments
from .adapters.sqs import Received
from .domain import errors
from .messages import (
    ACCOUNT_ID,
    AccountDigest,
    DigestSummary,
    Event,
    NeedsHuman,
    Notification,
    Severity,
    _Message,
)
from .runtime import Runtime
from .service import ScanResult, SweepResult

log = logging.getLogger(__name__)

# SNS takes up to 256 KiB per message; the digest (its JSON, and its text again for email) is
# kept well below by listing fewer accounts and items, and saying how many were left out.
MAX_PAYLOAD = 240_000
FIRST_LIMIT = 500


# --------------------------------------------------------------------------- records on the digest queue


class AccountRef(_Message):
    account_id: str = Field(pattern=ACCOUNT_ID)
    name: str = Field(default="", max_length=256)


class SweepStarted(_Message):
    """Recorded by the sweep: the accounts it queued a scan for."""

    schema_version: Literal[1] = 1
    record: Literal["sweep-started"] = "sweep-started"
    sweep_id: str = Field(min_length=1, max_length=64)
    at: datetime
    accounts: list[AccountRef]


class AccountScanned(_Message):
    """Recorded by a scan, once per attempt: the last attempt's record is the account's state."""

    schema_version: Literal[1] = 1
    record: Literal["account-scanned"] = "account-scanned"
    sweep_id: str = Field(min_length=1, max_length=64)
    at: datetime
    account_id: str = Field(pattern=ACCOUNT_ID)
    account_name: str = Field(default="", max_length=256)
    users_in_scope: int = 0
    users_checked: int = 0
    items_queued: int = 0
    error: str | None = None
    # Tagged users rekey left alone, `name (until YYYY-MM-DD)`: listed in the digest.
    exempt: list[str] = Field(default_factory=list)
    paused: list[str] = Field(default_factory=list)


def sweep_started(sweep_id: str, accounts: Iterable[Account], at: datetime) -> SweepStarted:
    return SweepStarted(
        sweep_id=sweep_id, at=at, accounts=[AccountRef(account_id=a.account_id, name=a.name) for a in accounts]
    )


def account_scanned(result: ScanResult, sweep_id: str, at: datetime) -> AccountScanned:
    return AccountScanned(
        sweep_id=sweep_id,
        at=at,
        account_id=result.account_id,
        account_name=result.account_name,
        users_in_scope=result.users_in_scope,
        users_checked=result.users_checked,
        items_queued=len(result.items),
        error=result.error,
        exempt=result.exempt,
        paused=result.paused,
    )


def record(rt: Runtime, entry: SweepStarted | AccountScanned) -> None:
    """Leave a record for the digest, if the hub has a digest queue. A failure is logged, not
    raised: the digest then reports the account as not scanned, which is what it will look like."""
    queue = rt.digest_queue()
    if queue is None:
        return
    try:
        queue.record(entry.model_dump_json())
    except errors.RekeyError as exc:
        log.error("could not record %s of sweep %s for the digest: %s", entry.record, entry.sweep_id, exc)


# --------------------------------------------------------------------------- the builder


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


# What makes two announcements the same fact (SNS delivers at least once; a blocked user is
# announced by the scan and maybe again by a worker). Failures count attempts: each is distinct.
def _identity(n: Notification, message_id: str | None) -> tuple[str, ...]:
    if n.event in (Event.BLOCKED, Event.MISCONFIGURED, Event.REFUSED, Event.CONFLICT):
        return (n.user_name or "-",)
    if n.event in (Event.ROTATED, Event.DEACTIVATED, Event.DELETED, Event.IN_USE, Event.NOT_ADOPTED):
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
    Event.IN_USE,
    Event.NOT_ADOPTED,
    Event.FAILED,
    Event.DEAD_LETTERED,
)
NEEDS_HUMAN = (Event.BLOCKED, Event.MISCONFIGURED, Event.REFUSED, Event.CONFLICT, Event.DEAD_LETTERED)


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
        if n.event in NEEDS_HUMAN:
            who = n.user_name or "-"
            if n.event is Event.DEAD_LETTERED:
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
        return DigestSummary(
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


# --------------------------------------------------------------------------- the text


def render(d: DigestSummary) -> str:
    t = d.totals
    listed = f"{d.accounts_listed} account(s) listed" if d.accounts_listed is not None else "no sweep start recorded"
    lines = [
        f"rekey digest for sweep {', '.join(d.sweep_ids) or '(none)'}",
        f"{listed}: {d.accounts_scanned} scanned, {d.accounts_unreachable} unreachable, "
        f"{d.accounts_not_scanned} not scanned; {t.get('users_in_scope', 0)} user(s) in scope.",
        f"Keys: {t.get('rotated', 0)} rotated, {t.get('deactivated', 0)} deactivated, {t.get('deleted', 0)} deleted; "
        f"{t.get('items_queued', 0)} work item(s) queued, {t.get('failed', 0)} failed attempt(s), "
        f"{t.get('dead_lettered', 0)} dead-lettered.",
        "",
    ]
    if d.needs_human_total:
        lines.append(f"Needs a human ({d.needs_human_total}):")
        for h in d.needs_human:
            who = f" {h.user_name}" if h.user_name else ""
            lines.append(f"  {h.event:<20} {h.account_id}{who}: {h.message}")
        if d.needs_human_total > len(d.needs_human):
            lines.append(f"  ... and {d.needs_human_total - len(d.needs_human)} more (see the day's notifications)")
    else:
        lines.append("Nothing needs a human.")
    lines.append("")
    if d.accounts:
        header = "rotated deactivated deleted blocked misconf in-use failed dead"
        lines.append(f"  {'account':<32} {'in scope':>8} {'queued':>6} {header}")
        for r in d.accounts:
            label = f"{r.account_id} {r.name}".strip()[:32]
            state = " UNREACHABLE" if r.error else " NOT SCANNED" if r.not_scanned else ""
            lines.append(
                f"  {label:<32} {r.users_in_scope:>8} {r.items_queued:>6} {r.rotated:>7} {r.deactivated:>11} "
                f"{r.deleted:>7} {r.blocked:>7} {r.misconfigured:>7} {r.in_use:>6} {r.failed:>6} {r.dead_lettered:>4}"
                f"{state}"
            )
        if d.accounts_omitted:
            lines.append(f"  ... and {d.accounts_omitted} more account(s) with activity")
    lines.append(f"{d.quiet_accounts} account(s) scanned with nothing to do.")
    for title, users in (("Exempt", d.exempt), ("Paused by a rollback", d.paused)):
        if users:
            lines += ["", f"{title} ({len(users)}):", *(f"  {u}" for u in users)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the use cases


@dataclass
class DigestRun:
    notification: Notification
    received: int
    unreadable: int


def run_digest(rt: Runtime, *, wait_seconds: int = 2) -> DigestRun:
    """Production: empty the digest queue, publish the digest, then delete what was read.
    If publishing fails, nothing is deleted (the records come back after the queue's
    visibility timeout) and the error is raised, so the function's error alarm fires."""
    queue = rt.digest_queue()
    if queue is None:
        raise errors.ConfigurationError("REKEY_DIGEST_QUEUE_URL is not set")
    messages = queue.receive_all(wait_seconds=wait_seconds)
    builder = DigestBuilder()
    for message in messages:
        builder.add_received(message)
    digest = builder.notification(rt.settings.hub_account_id, rt.now())
    rt.notifier().publish(digest)
    queue.delete(messages)
    log.info("digest published: %s (%d record(s) read)", digest.subject(), len(messages))
    return DigestRun(digest, len(messages), builder.unreadable)


def cli_digest(rt: Runtime, result: SweepResult, announced: Iterable[Notification]) -> Notification:
    """The CLI: the digest of one in-process sweep and whatever the worker announced after it."""
    now = rt.now()
    builder = DigestBuilder()
    builder.add_sweep(
        sweep_started(result.sweep_id, (Account(a.account_id, a.account_name) for a in result.accounts), now)
    )
    for scan in result.accounts:
        builder.add_scan(account_scanned(scan, result.sweep_id, now))
        for n in scan.notifications:
            builder.add_notification(n)
    for n in announced:
        builder.add_notification(n)
    return builder.notification(rt.settings.hub_account_id, now)
