"""The daily digest (rekey.digest): the sweep and scans record what they did, the scheduled
digest function publishes the day's digest from its queue, the CLI from its in-process sweep."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..digest.builder import DigestBuilder
from ..digest.records import AccountRef, AccountScanned, SweepStarted
from ..domain import errors
from ..domain.entities import Account
from ..messages import Notification
from ..ports import Ports
from .scan import ScanResult

if TYPE_CHECKING:  # the sweep records for the digest (rekey.use_cases.sweep imports this module)
    from .sweep import SweepResult

log = logging.getLogger(__name__)


def sweep_started(sweep_id: str, accounts: Iterable[Account], at: datetime) -> SweepStarted:
    """The sweep's record: the accounts it queued a scan for."""
    return SweepStarted(
        sweep_id=sweep_id, at=at, accounts=[AccountRef(account_id=a.account_id, name=a.name) for a in accounts]
    )


def account_scanned(result: ScanResult, sweep_id: str, at: datetime) -> AccountScanned:
    """A scan's record of its result: the account's, with what its earlier parts did."""
    return AccountScanned(
        sweep_id=sweep_id,
        at=at,
        account_id=result.account_id,
        account_name=result.account_name,
        users_in_scope=result.users_in_scope,
        users_checked=result.total_checked,
        items_queued=result.total_queued,
        error=result.error,
        exempt=result.exempt,
        paused=result.paused,
        advice=result.advice,
    )


def record_for_digest(ports: Ports, entry: SweepStarted | AccountScanned) -> None:
    """Leave a record for the digest, if the hub has a digest queue. A failure is logged, not
    raised: the digest then reports the account as not scanned, which is what it will look like."""
    queue = ports.digest_queue()
    if queue is None:
        return
    try:
        queue.record(entry.model_dump_json())
    except errors.RekeyError as exc:
        log.error("could not record %s of sweep %s for the digest: %s", entry.record, entry.sweep_id, exc)


@dataclass
class DigestRun:
    """What the scheduled digest published, and how many records it read."""

    notification: Notification
    received: int
    unreadable: int


def run_digest(ports: Ports, *, wait_seconds: int = 2) -> DigestRun:
    """Production: empty the digest queue, publish the digest, then delete what was read.
    If publishing fails, nothing is deleted (the records come back after the queue's
    visibility timeout) and the error is raised, so the function's error alarm fires."""
    queue = ports.digest_queue()
    if queue is None:
        raise errors.ConfigurationError("REKEY_DIGEST_QUEUE_URL is not set")
    messages = queue.receive_all(wait_seconds=wait_seconds)
    builder = DigestBuilder()
    for message in messages:
        builder.add_received(message)
    digest = builder.notification(ports.settings.hub_account_id, ports.now())
    ports.notifier().publish(digest)
    queue.delete(messages)
    log.info("digest published: %s (%d record(s) read)", digest.subject(), len(messages))
    return DigestRun(digest, len(messages), builder.unreadable)


def cli_digest(ports: Ports, result: SweepResult, announced: Iterable[Notification]) -> Notification:
    """The CLI: the digest of one in-process sweep and whatever the worker announced after it."""
    now = ports.now()
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
    return builder.notification(ports.settings.hub_account_id, now)
