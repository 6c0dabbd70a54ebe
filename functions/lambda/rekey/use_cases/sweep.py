"""Sweep the organization: the accounts in scope, each scanned (in-process) or queued for a scan
(the Lambda's fan-out)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from ..domain.entities import Account
from ..messages import ScanRequest, WorkItem
from ..ports import Ports
from .announce import publish
from .scan import ScanResult, scan_account
from .scope import accounts_to_sweep

Done = TypeVar("Done")


def new_sweep_id(now: datetime) -> str:
    """A sweep's id: its start (rekey.metrics reads it back)."""
    return now.strftime("%Y%m%dT%H%M%SZ")


@dataclass
class SweepResult:
    sweep_id: str
    accounts: list[ScanResult]

    @property
    def failed(self) -> list[ScanResult]:
        return [a for a in self.accounts if a.error]

    @property
    def items(self) -> list[WorkItem]:
        return [i for a in self.accounts for i in a.items]


def sweep(
    ports: Ports, sweep_id: str, *, dry_run: bool = False, progress: Callable[[int, int], None] | None = None
) -> SweepResult:
    """One sweep in-process: scan every account (bounded thread pool, no deadline), queue and announce.
    One account's failure never stops the others. `progress(done, total)` is called as each
    account is done (the CLI shows it)."""

    def one(account: Account) -> ScanResult:
        if dry_run:
            return scan_account(ports, account, sweep_id)
        result = scan_account(ports, account, sweep_id, send=ports.work_queue().send)
        publish(ports, result.notifications)
        return result

    accounts = accounts_to_sweep(ports)
    return SweepResult(sweep_id, each_account(accounts, one, ports.settings.scan_concurrency, progress))


def each_account(
    accounts: Sequence[Account],
    work: Callable[[Account], Done],
    concurrency: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Done]:
    """`work` on every account, `concurrency` at a time, the results in the accounts' order;
    `progress(done, total)` as each is done. Interrupted (Ctrl-C), the accounts not yet begun
    are dropped, not waited for."""
    results: list[Done] = []
    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        for result in pool.map(work, accounts):
            results.append(result)
            if progress:
                progress(len(results), len(accounts))
    finally:
        pool.shutdown(cancel_futures=True)
    return results


def fan_out(ports: Ports, sweep_id: str) -> list[Account]:
    """The Lambda sweep: one scan request per account on the scan queue; the accounts."""
    accounts = accounts_to_sweep(ports)
    ports.scan_queue().send(
        [ScanRequest(account_id=a.account_id, account_name=a.name, sweep_id=sweep_id) for a in accounts]
    )
    return accounts
