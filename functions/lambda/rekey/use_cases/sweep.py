"""Sweep the organization: the accounts in scope, each scanned (in-process) or queued for a scan
(the Lambda's fan-out); and one account's scan as a scan request asks it, whoever runs it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError

from ..domain.entities import Account
from ..domain.errors import RekeyError
from ..messages import ScanRequest, WorkItem
from ..ports import Ports
from .announce import publish
from .digest import account_scanned, record_for_digest
from .rollout import at_sweep
from .scan import Resume, ScanResult, scan_account
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
        return scan_requested(
            ports, ScanRequest(account_id=account.account_id, account_name=account.name, sweep_id=sweep_id)
        )

    accounts = accounts_to_sweep(ports)
    if not dry_run:
        at_sweep(ports, ports.now())
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
    at_sweep(ports, ports.now())
    ports.scan_queue().send(
        [ScanRequest(account_id=a.account_id, account_name=a.name, sweep_id=sweep_id) for a in accounts]
    )
    return accounts


def scan_requested(ports: Ports, request: ScanRequest, *, time_left: Callable[[], float] | None = None) -> ScanResult:
    """One account's scan as `request` asks it (the Lambda's scan queue, the CLI's sweep): its
    work items queued as they are found, its findings announced; with `time_left` (the
    invocation's remaining seconds), a scan that stops before its deadline queues the rest of the
    account as a continuation on the scan queue; once the account is done, its result is
    recorded for the digest. An account outside rekey's scope is refused (announced), not
    entered; a failure is the result's `error`."""
    account = Account(request.account_id, request.account_name)
    send = ports.work_queue().send
    result = scan_account(ports, account, request.sweep_id, resume=Resume.of(request), send=send, time_left=time_left)
    publish(ports, result.notifications)
    if result.refused is not None:
        return result
    _continue(ports, request, result)
    if result.finished:
        record_for_digest(ports, account_scanned(result, request.sweep_id, ports.now()))
    return result


def _continue(ports: Ports, request: ScanRequest, result: ScanResult) -> None:
    """Queue the rest of the account's scan, if it stopped early; if that fails, this part fails
    (and is retried from where it began)."""
    try:
        rest = result.continuation(request)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        result.error = f"the scan of this account cannot go on after {result.stopped_after}: {where}: {problem['msg']}"
        return
    if rest is None:
        return
    try:
        ports.scan_queue().send([rest])
    except RekeyError as exc:
        result.error = f"{exc.code}: could not queue the rest of the scan (after {rest.after}): {exc}"
