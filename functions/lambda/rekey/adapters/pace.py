"""Pacing rekey's own calls into member accounts, so that they stay under IAM's rate.

IAM throttles each account at a rate it does not publish, shared with every other caller there.
botocore retries a throttled call with backoff, but each retry draws on the client's retry quota
(500, 5 per throttled retry, given back slowly by calls that succeed): a process that calls
faster than the account's rate drains it within a few hundred calls, and from then on every
throttled call fails at once (bench.due_account: a scan of 1,000 due users dead-lettered). Calls
spaced at `rate` per second per account and service meet only the throttling that other callers
cause, which the retries ride out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class Pace:
    """At most `rate` HTTP attempts per second per (account, service) from this process, retries
    included, spaced evenly; 0 or less: no pacing. Thread-safe: threads reserve slots in turn."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def install(self, client: Any, account_id: str) -> None:
        """Pace `client`'s attempts (before each is signed: every retry is signed anew)."""
        if self.rate <= 0:
            return
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-sign.{service}", lambda **_: self.wait((account_id, service)))

    def wait(self, key: tuple[str, str]) -> None:
        with self._lock:
            now = self._clock()
            at = max(now, self._next.get(key, now))
            self._next[key] = at + 1 / self.rate
        if at > now:
            self._sleep(at - now)
