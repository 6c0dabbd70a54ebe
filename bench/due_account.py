"""A day of production's Lambda path at IAM's pace, in simulated time: one member account where
every tagged user is due at once (a team that has just opted in), under a token bucket of
`rate` calls/s per member account with `share` of the calls it lets through throttled anyway.

The schedule's sweep queues the account; the scan function is invoked for each message on the
scan queue (its own continuations included) with Lambda's remaining time counted down from
`scan_timeout` simulated seconds; then the worker function drains the work queue. Every HTTP
attempt takes `latency` simulated seconds, and botocore's backoff and rekey's waits advance the
clock instead of sleeping (bench.throttle.VirtualClock), so hours at 10 calls/s run in minutes.
Invocations run one after another: the day's simulated length is an upper bound."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .emulated import MANAGEMENT
from .meter import Meter
from .throttle import Throttle, VirtualClock

DAY = 86_400.0
LAMBDA_TIMEOUT = 300.0  # hub/template.yaml: the scan and worker functions' Timeout


@dataclass
class Invocations:
    count: int = 0
    longest: float = 0.0  # simulated seconds
    over_timeout: int = 0
    seconds: float = 0.0


@dataclass
class Day:
    scans: Invocations = field(default_factory=Invocations)
    workers: Invocations = field(default_factory=Invocations)
    scan_failures: int = 0
    work_failures: int = 0
    outcomes: list[Any] = field(default_factory=list)
    meter: Meter = field(default_factory=Meter)
    throttle: Throttle | None = None
    clock: VirtualClock = field(default_factory=VirtualClock)

    def summary(self) -> dict[str, Any]:
        done = sum(1 for o in self.outcomes if o.status == "done")
        throttle = self.throttle
        return {
            "simulated_seconds": self.clock.seconds,
            "scan_invocations": self.scans.count,
            "scan_longest_seconds": self.scans.longest,
            "scan_seconds": self.scans.seconds,
            "worker_invocations": self.workers.count,
            "worker_longest_seconds": self.workers.longest,
            "over_timeout": self.scans.over_timeout + self.workers.over_timeout,
            "scan_failures": self.scan_failures,
            "work_failures": self.work_failures,
            "rotations": done,
            "calls": self.meter.total(),
            "throttled_responses": sum(throttle.throttled.values()) if throttle else 0,
            "http_attempts": sum(throttle.sent.values()) if throttle else 0,
        }


def run_day(
    make_runtime: Callable[[Meter], Any],
    sqs: Any,
    *,
    rate: float = 10.0,
    share: float = 0.2,
    seed: int = 6,
    scan_timeout: float = LAMBDA_TIMEOUT,
    worker_timeout: float = LAMBDA_TIMEOUT,
    pace: float | None = None,
) -> Day:
    """Sweep, scan (in parts), work: the day, through the production handlers' `process`.
    `make_runtime(meter)` builds rekey's runtime on the meter's clients; `sqs` (the hub's, not
    throttled) stands in for Lambda's event source mappings. rekey paces its calls at `pace`
    (default: REKEY_MEMBER_CALLS_PER_SECOND's default, what production does)."""
    from rekey_cli.sqs_source import drain

    from rekey.adapters.pace import Pace
    from rekey.handlers import scan, sweep, worker
    from rekey.metrics import Recorder
    from rekey.settings import Settings

    day = Day()
    day.throttle = Throttle(rate=rate, burst=rate, share=share, seed=seed, clock=day.clock.now)

    def on_client(client: Any, account: str) -> None:
        if account != MANAGEMENT:  # the member account's IAM and Secrets Manager
            day.throttle.install(client, account)  # type: ignore[union-attr]
        day.clock.install(client, account)

    day.meter = Meter(on_client=on_client)
    rt = make_runtime(day.meter)
    rt.sleep = day.clock.sleep
    rate_paced = Settings.model_fields["member_calls_per_second"].default if pace is None else pace
    rt.clients.pace = Pace(rate_paced, clock=day.clock.now, sleep=day.clock.sleep)
    recorder = Recorder()

    def timed(invocations: Invocations, timeout: float, run: Callable[[Callable[[], float]], Any]) -> Any:
        began = day.clock.now()
        try:
            return run(lambda: timeout - (day.clock.now() - began))
        finally:
            took = day.clock.now() - began
            invocations.count += 1
            invocations.seconds += took
            invocations.longest = max(invocations.longest, took)
            invocations.over_timeout += took > timeout

    sweep.process({}, rt, recorder)
    scanned = drain(
        sqs,
        rt.settings.scan_queue_url,
        lambda event: timed(day.scans, scan_timeout, lambda left: scan.process(event, rt, recorder, left)),
        retry_failed_now=True,
        batch_size=1,  # the scan function's BatchSize
    )
    worked = drain(
        sqs,
        rt.settings.work_queue_url,
        lambda event: timed(day.workers, worker_timeout, lambda _: worker.process(event, rt, recorder, day.outcomes)),
        retry_failed_now=True,
    )
    day.scan_failures, day.work_failures = scanned.failed, worked.failed
    return day
