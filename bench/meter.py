"""Counting and timing every AWS API call a runtime makes, and the memory a phase needs."""

from __future__ import annotations

import gc
import re
import sys
import threading
import time
import tracemalloc
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from .emulated import MANAGEMENT

OnClient = Callable[[Any, str], None]
PER_USER_OPERATIONS = frozenset(
    {"ListUserTags", "ListAccessKeys", "GetAccessKeyLastUsed", "GetUser", "ListUserPolicies", "DescribeSecret"}
)


def account_of(access_key_id: str | None) -> str:
    """The emulated account a client's credentials act in (the hub's for default credentials)."""
    if not access_key_id:
        return MANAGEMENT
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key_id)


@dataclass
class Meter:
    """A `make_client` for `Runtime.build` (or any code that builds clients): every API call is
    counted per (account, service, operation) once, however often botocore retried it, and the
    time spent inside botocore (request building, the emulator, response parsing, retries) is
    summed. `on_client(client, account)` may install more hooks (throttling)."""

    on_client: OnClient | None = None
    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    busy: float = 0.0  # seconds inside botocore calls, summed over threads
    # Security Hub findings imported (each finding of a BatchImportFindings call), per account.
    findings_imported: Counter[str] = field(default_factory=Counter)
    # The runtime's waits (the pace's, the credential report's), given to `sleep` and not slept:
    # summed over threads. `now` is the clock they advance (rekey.adapters.pace.Pace's).
    waited: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waited += max(0.0, seconds)

    def now(self) -> float:
        return time.monotonic() + self.waited

    def make_client(self, service: str, **kwargs: Any) -> Any:
        client = boto3.client(service, **kwargs)
        account = account_of(kwargs.get("aws_access_key_id"))
        # Through a weak reference: a closure holding the client (or its bound method) on the
        # client itself is a reference cycle, and every client rekey lets go of would wait for
        # the cyclic garbage collector, which the memory figures would count as rekey's.
        inner, ref = type(client)._make_api_call, weakref.ref(client)

        def timed(operation_name: str, api_params: dict[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                return inner(ref(), operation_name, api_params)
            finally:
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.calls[(account, service, operation_name)] += 1
                    self.busy += elapsed
                    if operation_name == "BatchImportFindings":
                        self.findings_imported[account] += len(api_params.get("Findings", []))

        client._make_api_call = timed  # the generated operation methods call it on the instance
        if self.on_client:
            self.on_client(client, account)
        return client

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.findings_imported.clear()
            self.busy = 0.0
            self.waited = 0.0

    def total(self, *, services: tuple[str, ...] | None = None, accounts: set[str] | None = None) -> int:
        return sum(
            n
            for (account, service, _), n in self.calls.items()
            if (services is None or service in services) and (accounts is None or account in accounts)
        )

    def per_account(self, services: tuple[str, ...] | None = None) -> Counter[str]:
        out: Counter[str] = Counter()
        for (account, service, _), n in self.calls.items():
            if services is None or service in services:
                out[account] += n
        return out

    def operations(self) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for (_, service, operation), n in self.calls.items():
            out[(service, operation)] += n
        return out


# --------------------------------------------------------------------------- memory

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(name: str) -> int:
    match = re.search(rf"^{name}:\s+(\d+) kB", _STATUS.read_text(), re.M)
    return int(match.group(1)) if match else 0


def peak_rss_resettable() -> bool:
    if not sys.platform.startswith("linux") or not _STATUS.exists():
        return False
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") > 0


@dataclass
class Memory:
    peak_mb: float = 0.0  # the phase's peak above what the process held when it began
    method: str = ""


@contextmanager
def peak_memory() -> Iterator[Memory]:
    """How much memory a phase needed at its peak, above the process's resident set when it
    began. On Linux, the kernel's peak-RSS counter is reset for the phase (no slowdown); elsewhere
    tracemalloc measures Python allocations (slower: 2-3x)."""
    gc.collect()
    result = Memory()
    if peak_rss_resettable():
        start = _status_kb("VmRSS")
        _CLEAR_REFS.write_text("5")
        try:
            yield result
        finally:
            result.peak_mb = max(0, _status_kb("VmHWM") - start) / 1024
            result.method = "peak RSS"
        return
    tracemalloc.start()
    try:
        yield result
    finally:
        result.peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        result.method = "tracemalloc"
        tracemalloc.stop()
