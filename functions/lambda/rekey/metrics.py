"""rekey's metrics, derived from what the use cases return (scan results, notifications).

The use cases know nothing about metrics: a handler hands their results to a `Recorder`, which
counts, and publishes the counts once per invocation through a `Sink` — Powertools' EMF metrics
in Lambda (namespace `rekey`), nothing on the CLI's stdout.

Dimensions: only Powertools' `service` (= rekey). Not the account: at 1,000 accounts, 13 metrics
per account would be 13,000 custom metrics (~$3,900 a month at $0.30 each) for a view the daily
digest gives per account for free; the scan's EMF record carries the account id as metadata
(searchable in CloudWatch Logs Insights) without making it a dimension. Never a user name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from .messages import Event, Notification

if TYPE_CHECKING:
    from .use_cases.scan import ScanResult

NAMESPACE = "rekey"
SERVICE = "rekey"
# rekey.use_cases.sweep.new_sweep_id's format: the sweep's start, in its id.
SWEEP_ID_FORMAT = "%Y%m%dT%H%M%SZ"


class Metric(StrEnum):
    ACCOUNTS_LISTED = "AccountsListed"  # by the sweep: accounts to scan
    ACCOUNTS_SCANNED = "AccountsScanned"
    ACCOUNTS_UNREACHABLE = "AccountsUnreachable"  # scan attempts that failed
    USERS_IN_SCOPE = "UsersInScope"
    WORK_ITEMS_QUEUED = "WorkItemsQueued"
    KEYS_ROTATED = "KeysRotated"
    KEYS_DEACTIVATED = "KeysDeactivated"
    KEYS_DELETED = "KeysDeleted"
    BLOCKED = "Blocked"
    MISCONFIGURED = "Misconfigured"
    WORK_ITEMS_FAILED = "WorkItemsFailed"  # failed attempts, the last one included
    WORK_ITEMS_DEAD_LETTERED = "WorkItemsDeadLettered"  # failed on their last attempt
    SWEEP_DURATION = "SweepDuration"  # seconds from the sweep's start to an account's scan

    @property
    def unit(self) -> str:
        return "Seconds" if self is Metric.SWEEP_DURATION else "Count"


# What each announcement counts as. An unreachable account is counted from the scan's result
# (once per attempt), not from its announcement, so it is not counted twice.
BY_EVENT: dict[Event, tuple[Metric, ...]] = {
    Event.ROTATED: (Metric.KEYS_ROTATED,),
    Event.DEACTIVATED: (Metric.KEYS_DEACTIVATED,),
    Event.DELETED: (Metric.KEYS_DELETED,),
    Event.BLOCKED: (Metric.BLOCKED,),
    Event.MISCONFIGURED: (Metric.MISCONFIGURED,),
    Event.FAILED: (Metric.WORK_ITEMS_FAILED,),
    Event.DEAD_LETTERED: (Metric.WORK_ITEMS_FAILED, Metric.WORK_ITEMS_DEAD_LETTERED),
}

# Published by each function on every invocation, zero included, so graphs and alarms see a
# value rather than a gap on a quiet day.
SWEEP_METRICS = (Metric.ACCOUNTS_LISTED,)
SCAN_METRICS = (
    Metric.ACCOUNTS_SCANNED,
    Metric.ACCOUNTS_UNREACHABLE,
    Metric.USERS_IN_SCOPE,
    Metric.WORK_ITEMS_QUEUED,
    Metric.BLOCKED,
    Metric.MISCONFIGURED,
)
WORKER_METRICS = (
    Metric.KEYS_ROTATED,
    Metric.KEYS_DEACTIVATED,
    Metric.KEYS_DELETED,
    Metric.WORK_ITEMS_FAILED,
    Metric.WORK_ITEMS_DEAD_LETTERED,
)


class Sink(Protocol):
    def add(self, metric: Metric, value: float) -> None: ...


class PowertoolsSink:
    """Powertools' Metrics: EMF records in the function's log, flushed by `@metrics.log_metrics`."""

    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics

    def add(self, metric: Metric, value: float) -> None:
        self._metrics.add_metric(name=metric.value, unit=metric.unit, value=value)


class Recorder:
    """Counts what happened in one invocation (or one CLI command) from the use cases' results,
    and keeps the notifications it saw (the CLI's digest reads them)."""

    def __init__(self) -> None:
        self.counts: Counter[Metric] = Counter()
        self.durations: list[float] = []
        self.notifications: list[Notification] = []
        self.accounts: set[str] = set()  # scanned, reached or not

    def listed(self, accounts: int) -> None:
        self.counts[Metric.ACCOUNTS_LISTED] += accounts

    def scanned(self, result: ScanResult) -> None:
        """One account's scan (or part of one: the account and its users are counted by the
        part that finishes it): reached or not, its users in scope, its items, its findings."""
        self.accounts.add(result.account_id)
        if result.finished:
            self.counts[Metric.ACCOUNTS_UNREACHABLE if result.error else Metric.ACCOUNTS_SCANNED] += 1
            self.counts[Metric.USERS_IN_SCOPE] += result.users_in_scope
        self.counts[Metric.WORK_ITEMS_QUEUED] += len(result.items)
        self.announced(result.notifications)

    def announced(self, notifications: Iterable[Notification]) -> None:
        for n in notifications:
            self.notifications.append(n)
            for metric in BY_EVENT.get(n.event, ()):
                self.counts[metric] += 1

    def sweep_duration(self, seconds: float) -> None:
        self.durations.append(max(0.0, seconds))

    def scanned_for(self, result: ScanResult, sweep_id: str, now: datetime) -> None:
        """A scan requested by sweep `sweep_id` (its id tells when it began): counted, with how
        long the sweep has taken so far."""
        self.scanned(result)
        elapsed = seconds_since_sweep(sweep_id, now)
        if elapsed is not None:
            self.sweep_duration(elapsed)

    def publish(self, sink: Sink, always: Iterable[Metric] = ()) -> None:
        """Each counted metric once (its total), the `always` ones even when zero, and the
        longest sweep duration seen."""
        for metric in dict.fromkeys([*always, *self.counts]):
            sink.add(metric, self.counts[metric])
        if self.durations:
            sink.add(Metric.SWEEP_DURATION, max(self.durations))

    def summary(self) -> str:
        """One line for the CLI's log: `AccountsScanned=3 KeysRotated=2 ...`."""
        parts = [f"{m.value}={self.counts[m]}" for m in Metric if self.counts[m]]
        if self.durations:
            parts.append(f"{Metric.SWEEP_DURATION.value}={max(self.durations):.1f}s")
        return " ".join(parts) or "nothing to count"


def sweep_started_at(sweep_id: str) -> datetime | None:
    """When the sweep began, read from its id (None for an id of another shape, e.g. manual)."""
    try:
        return datetime.strptime(sweep_id[: len("20260101T000000Z")], SWEEP_ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def seconds_since_sweep(sweep_id: str, now: datetime) -> float | None:
    started = sweep_started_at(sweep_id)
    if started is None:
        return None
    elapsed = now - started
    # An id from a clock far off (or not a sweep at all) says nothing about this sweep.
    return elapsed.total_seconds() if timedelta(0) <= elapsed <= timedelta(days=4) else None
