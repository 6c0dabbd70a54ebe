"""One organization size, measured in this process: rekey's sweep with nothing due (every
account), the naive scan, and a rotation wave (sweep + worker). `bench.run` starts one process
per size, so each size's memory and emulator state start from nothing.

Sampling (to keep `make bench` to minutes on a shared 2-core machine): the naive scan and the
rotation wave run on `sample` evenly spaced accounts; in accounts of more than 1,000 users the
naive scan reads about one user in `users // 1000`, chosen by a hash of the name (its per-user
calls are the same for every user, so its totals are scaled by the call count and marked as
estimates), and the wave makes at most WAVE_USERS tagged users due. `sample=None` measures
everything."""

from __future__ import annotations

import gc
import math
import os
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .emulated import MANAGEMENT, REGION, TAG_KEY, Organization, build, is_tagged, use_in_process_emulator, user_name
from .meter import PER_USER_OPERATIONS, Memory, Meter, peak_memory
from .naive import naive_scan
from .paging import aws_paging, indexed_access_keys
from .throttle import Throttle

ACCOUNT_SERVICES = ("iam", "sts")  # the per-account API budget counts these
ROTATE_AGE_DAYS = 91  # every key past the default 90-day rotation age
NAIVE_USERS_READ = 1000  # per account, when sampling
WAVE_USERS = 100  # due users per account at most, when sampling


@dataclass
class Clock:
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time (every thread; the emulator's too)


@contextmanager
def stopwatch() -> Iterator[Clock]:
    clock = Clock()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield clock
    finally:
        clock.seconds = time.perf_counter() - wall
        clock.cpu_seconds = time.process_time() - cpu


def _quiet() -> None:
    """Powertools' JSON logs stay on (they are part of the worker's cost) but go nowhere."""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this measuring process


def _new_day(org: Organization) -> None:
    """A day passes: the credential report AWS keeps for 4 hours has to be generated again."""
    from moto.iam.models import iam_backends

    for account in org.accounts:
        iam_backends[account]["global"].credential_report = None


def _warm_up() -> None:
    """Load botocore's models for every service before measuring, so that no phase's memory
    or time includes what the first client of a service costs once per process."""
    import boto3

    from .emulated import REGION

    boto3.client("iam", region_name=REGION).list_users(MaxItems=1)
    boto3.client("sts", region_name=REGION).get_caller_identity()
    boto3.client("secretsmanager", region_name=REGION).list_secrets(MaxResults=1)
    boto3.client("organizations", region_name=REGION).list_accounts(MaxResults=1)
    boto3.client("sqs", region_name=REGION).list_queues()
    boto3.client("sns", region_name=REGION).list_topics()


def _runtime(meter: Meter) -> Any:
    """rekey's runtime as production builds it, with its waits (the pace's between calls into an
    account, the credential report's) going to the meter's clock: counted, never slept."""
    from rekey.adapters.pace import Pace
    from rekey.runtime import Runtime
    from rekey.settings import Settings

    rt = Runtime.build(Settings.from_env(), make_client=meter.make_client)
    rt.sleep = meter.sleep
    rt.clients.pace = Pace(rt.settings.member_calls_per_second, clock=meter.now, sleep=meter.sleep)
    return rt


def _phase(meter: Meter, accounts: int, clock: Clock, memory: Memory) -> dict[str, Any]:
    """What a phase cost: all API calls, and the IAM/STS calls inside each member account (the
    hub's sts:AssumeRole into that account counted with it)."""
    per_account = meter.per_account(ACCOUNT_SERVICES)
    assume = meter.calls.get((MANAGEMENT, "sts", "AssumeRole"), 0)
    members = [n for a, n in per_account.items() if a != MANAGEMENT]
    operations = meter.operations()
    return {
        "total": meter.total(),
        "per_account": meter.total() / accounts,
        "iam_sts_max_per_account": (max(members) if members else 0) + math.ceil(assume / accounts),
        "per_user_calls": sum(n for (_, o), n in operations.items() if o in PER_USER_OPERATIONS),
        "findings_imported": sum(meter.findings_imported.values()),
        "waited_seconds": meter.waited,
        "operations": {f"{s}:{o}": n for (s, o), n in sorted(operations.items())},
        "seconds": clock.seconds,
        "cpu_seconds": clock.cpu_seconds,
        "peak_mb": memory.peak_mb,
        "memory": memory.method,
    }


def _rekey_sweep(sweep_id: str, meter: Meter, accounts: int) -> tuple[dict[str, Any], Any]:
    from rekey.use_cases.sweep import sweep

    rt = _runtime(meter)
    with peak_memory() as memory, stopwatch() as clock:
        result = sweep(rt, sweep_id)
    phase = _phase(meter, accounts, clock, memory)
    phase.update(
        accounts_swept=len(result.accounts),
        accounts_failed=[a.account_id for a in result.failed],
        accounts_with_items=len({i.account_id for i in result.items}),
        items=len(result.items),
    )
    return phase, result


def _retained_kb(sweep_id: str) -> float:
    """What a sweep leaves allocated once it is over and its garbage collected (tracemalloc: live
    Python memory, not the resident set, which neither shrinks when memory is freed nor tells
    garbage waiting for the cyclic collector from memory still held): a leak shows here."""
    from rekey.use_cases.sweep import sweep

    rt = _runtime(Meter())
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sweep(rt, sweep_id)
        gc.collect()  # `rt` is still held, as a warm Lambda or a CLI run holds it
        return (tracemalloc.get_traced_memory()[0] - before) / 1024
    finally:
        tracemalloc.stop()


def _naive(accounts: list[str], users: int, user_stride: int) -> dict[str, Any]:
    from rekey.settings import Settings

    settings = Settings.from_env()
    meter = Meter()
    with peak_memory() as memory, stopwatch() as clock:
        scans = naive_scan(
            meter.make_client,
            accounts,
            settings.spoke_role_name,
            concurrency=settings.scan_concurrency,
            user_stride=user_stride,
        )
    phase = _phase(meter, len(accounts), clock, memory)
    # Scale a user sample to every user: per-user calls x (listed / read), the rest as measured.
    users_read = sum(s.users for s in scans)
    scale = sum(s.listed for s in scans) / users_read if users_read else 1.0
    scaled = round(phase["total"] + phase["per_user_calls"] * (scale - 1))
    factor = scaled / phase["total"]
    untagged_key_calls = sum(s.calls_on_untagged_keys for s in scans) * scale
    phase.update(
        estimated=user_stride > 1,
        users_read=users_read,
        total=scaled,
        per_account=scaled / len(accounts),
        seconds=phase["seconds"] * factor,
        cpu_seconds=phase["cpu_seconds"] * factor,
        accounts_failed=[s.account_id for s in scans if s.error],
        due=sum(len(s.due) for s in scans),
        tagged=round(sum(s.tagged for s in scans) * scale),
        tag_first_total=round(scaled - untagged_key_calls),
    )
    return phase


def _worker(accounts: int) -> dict[str, Any]:
    """The production worker handler over the work queue, as Lambda's event source would call it.
    The stand-in's own SQS receive/delete calls are not the worker's and are not counted."""
    import boto3
    from rekey_cli.sqs_source import drain

    from rekey.handlers import worker
    from rekey.metrics import Recorder

    meter = Meter()
    rt = _runtime(meter)  # a worker container of its own: assumes the spoke roles again
    outcomes: list[Any] = []
    recorder = Recorder()
    handler_seconds = 0.0

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        nonlocal handler_seconds
        started = time.perf_counter()
        try:
            return worker.process(event, rt, recorder, outcomes)
        finally:
            handler_seconds += time.perf_counter() - started

    sqs = boto3.client("sqs", region_name=rt.settings.region)
    with peak_memory() as memory, stopwatch() as clock:
        drained = drain(sqs, rt.settings.work_queue_url, handler)
    phase = _phase(meter, accounts, clock, memory)
    phase.update(
        seconds=handler_seconds,
        seconds_in_aws_calls=meter.busy,
        overhead_ratio=handler_seconds / meter.busy if meter.busy else 0.0,
        received=drained.received,
        failed=drained.failed,
        done=sum(1 for o in outcomes if o.status == "done"),
    )
    return phase


def measure(accounts: int, users: int, *, sample: int | None = 10) -> dict[str, Any]:
    """Build the organization, then: rekey's sweep with nothing due (every account); make every
    tagged key due (in the sample); the naive scan; rekey's sweep and worker (the wave)."""
    from moto import mock_aws

    use_in_process_emulator()
    _quiet()
    with mock_aws(), aws_paging(), indexed_access_keys():
        with stopwatch() as setup:
            org = build(accounts, users)
        os.environ.update(org.environment())
        _warm_up()
        subset = org.accounts
        if sample and sample < accounts:
            subset = [org.accounts[int(i * accounts / sample)] for i in range(sample)]
        tagged = [user_name(i) for i in range(users) if is_tagged(i)]
        due = tagged
        stride = 1
        if sample:
            stride = max(1, users // NAIVE_USERS_READ)
            due = tagged[:: max(1, math.ceil(len(tagged) / WAVE_USERS))]
        out: dict[str, Any] = {
            "accounts": accounts,
            "users": users,
            "tagged_per_account": len(tagged),
            "sampled_accounts": len(subset),
            "due_per_account": len(due),
            "naive_user_stride": stride,
            "setup_seconds": setup.seconds,
        }

        # The first day after deploying: every user's Security Hub finding is new (not measured).
        _new_day(org)
        out["first_day"] = _rekey_sweep("bench-first", Meter(), accounts)[0]["findings_imported"]
        _new_day(org)
        out["quiet_rekey"], _ = _rekey_sweep("bench-quiet", Meter(), accounts)
        _new_day(org)
        out["quiet_rekey"]["retained_kb"] = _retained_kb("bench-retained")
        # Beside it, labelled: the same quiet day with REKEY_SECURITY_HUB_FINDINGS=false.
        os.environ.update(org.environment(findings=False))
        _new_day(org)
        out["quiet_findings_off"], _ = _rekey_sweep("bench-quiet-off", Meter(), accounts)
        os.environ.update(org.environment())

        for account in subset:
            org.age_user_keys(account, due, ROTATE_AGE_DAYS)
        # The naive scan reads every user whatever is due: its calls are the same before and
        # after; run after, so it also shows it finds the same due keys as rekey.
        out["naive"] = _naive(subset, users, stride)

        _new_day(org)
        excluded = [a for a in org.accounts if a not in set(subset)]
        os.environ.update(org.environment(excluded))
        out["wave_sweep"], _ = _rekey_sweep("bench-wave", Meter(), len(subset))
        out["wave_worker"] = _worker(len(subset))
        # Proof the wave happened: every due user, and only those, now has a second key.
        out["wave_users_with_two_keys"] = sum(
            1 for a in subset for keys in Organization.key_counts(a).values() if keys == 2
        )
    return out


def measure_throttled(
    accounts: int, users: int, *, rate: float, burst: float, share: float, seed: int = 6
) -> dict[str, Any]:
    """The no-action sweep of every account, unthrottled, then with IAM-like throttling in every
    account (the hub's too)."""
    from moto import mock_aws

    use_in_process_emulator()
    _quiet()
    with mock_aws(), aws_paging(), indexed_access_keys():
        org = build(accounts, users)
        os.environ.update(org.environment())
        _warm_up()
        out: dict[str, Any] = {"accounts": accounts, "users": users, "rate": rate, "burst": burst, "share": share}
        for label, throttle in (
            ("plain", None),
            ("throttled", Throttle(rate=rate, burst=burst, share=share, seed=seed)),
        ):
            _new_day(org)
            meter = Meter(on_client=throttle.install if throttle else None)
            phase, result = _rekey_sweep(f"bench-{label}", meter, accounts)
            phase["accounts_in_scope"] = sum(1 for a in result.accounts if a.users_in_scope and not a.error)
            if throttle:
                phase["throttled_responses"] = sum(throttle.throttled.values())
                phase["http_attempts"] = sum(throttle.sent.values())
            out[label] = phase
    return out


def measure_due_account(users: int, *, rate: float, share: float, seed: int = 6) -> dict[str, Any]:
    """One member account of `users` users, every one tagged and due (a team that has just opted
    in), rotated through production's Lambda path at IAM's pace in simulated time
    (bench.due_account)."""
    import boto3
    from moto import mock_aws
    from moto.iam.models import iam_backends

    from .due_account import run_day

    use_in_process_emulator()
    _quiet()
    with mock_aws(), aws_paging(), indexed_access_keys():
        org = build(1, 0)
        (account,) = org.accounts
        backend = iam_backends[account]["global"]
        names = [user_name(i) for i in range(users)]
        for name in names:
            backend.create_user(REGION, name, tags=[{"Key": TAG_KEY, "Value": "true"}])
            backend.create_access_key(name)
        org.age_user_keys(account, names, ROTATE_AGE_DAYS)
        os.environ.update(org.environment())
        _warm_up()
        sqs = boto3.client("sqs", region_name=REGION)
        with peak_memory() as memory, stopwatch() as clock:
            day = run_day(_runtime, sqs, rate=rate, share=share, seed=seed)
        out = {"users": users, "rate": rate, "share": share, **day.summary()}
        out.update(
            dead_lettered=sum(
                int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][name])
                for url in (org.hub.scan_dlq_url, org.hub.work_dlq_url)
                for name in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
            ),
            seconds=clock.seconds,
            peak_mb=memory.peak_mb,
            users_with_two_keys=sum(1 for keys in Organization.key_counts(account).values() if keys == 2),
            operations={f"{s}:{o}": n for (s, o), n in sorted(day.meter.operations().items())},
        )
    return out


if __name__ == "__main__":
    # python -m bench.measure [USERS]: one account of USERS (default 5,000) due users at 10 calls/s
    # with 20% throttled; about 1.5 h on 2 cores for 5,000. Prints the figures as JSON.
    import json

    figures = measure_due_account(int(sys.argv[1]) if len(sys.argv) > 1 else 5000, rate=10, share=0.2)
    figures.pop("operations")
    print(json.dumps(figures, indent=1), file=sys.stderr)
