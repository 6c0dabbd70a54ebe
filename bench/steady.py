"""The steady state: one account whose tagged users' keys are spread over the whole rotation
cycle, swept daily for a year by rekey with its defaults (the CLI's in-process sweep, then the
production worker handler over the work queue; Security Hub findings on), against the naive
per-user scan of the same account.

A young organization (every key under 90 days) costs rekey its floor every day; a real one has,
on any day, users rotating, users whose old key is being deactivated or deleted, and users in
between. Tagged users' keys start at ages spread evenly over 0-89 days, so from the first
deletion (day 111 with the default 90/100/110 policy) every day looks like every other.
`python -m bench.steady [DAYS]` prints the figures as JSON."""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any

from .emulated import Organization, build, is_tagged, use_in_process_emulator, user_name
from .measure import _naive, _new_day, _quiet, _rekey_sweep, _warm_up, _worker
from .meter import Meter
from .paging import aws_paging, indexed_access_keys

USERS = 300  # one in five tagged: 60
DAYS = 365
STEADY_FROM = 111  # the first day an old key is deleted (delete at 110 days): the cycle is full


def measure_steady(users: int = USERS, days: int = DAYS) -> dict[str, Any]:
    from moto import mock_aws

    use_in_process_emulator()
    _quiet()
    with mock_aws(), aws_paging(), indexed_access_keys():
        org = build(1, users)
        (account,) = org.accounts
        tagged = [user_name(i) for i in range(users) if is_tagged(i)]
        for n, name in enumerate(tagged):
            org.age_user_keys(account, [name], n * 90 / len(tagged))
        os.environ.update(org.environment())
        _warm_up()
        imports: list[int] = []  # Security Hub findings imported, per day
        by_service: list[dict[str, int]] = []  # the sweep's and the worker's calls per service, per day
        sweeps: list[int] = []  # the sweep's IAM/STS calls into the account, per day
        sweep_totals: list[int] = []  # all of the sweep's calls (Secrets Manager, SQS... too)
        per_user: list[int] = []  # the sweep's per-user reads
        worker_totals: list[int] = []
        rotations = 0
        for day in range(1, days + 1):
            org.age_keys(1)
            org.age_findings(1)
            _new_day(org)
            sweep, _ = _rekey_sweep(f"steady-{day:03d}", Meter(), 1)
            work = _worker(1)
            imports.append(sweep["findings_imported"])
            calls: Counter[str] = Counter()
            for phase in (sweep, work):
                for operation, n in phase["operations"].items():
                    calls[operation.split(":")[0]] += n
            by_service.append(calls)
            sweeps.append(sweep["iam_sts_max_per_account"])
            sweep_totals.append(sweep["total"])
            per_user.append(sweep["per_user_calls"])
            worker_totals.append(work["total"])
            rotations += work["operations"].get("iam:CreateAccessKey", 0)
        naive = _naive([account], users, 1)
        keys = Organization.key_counts(account)
    # A run too short to reach the full cycle (a test's) averages over every day it has.
    steady_from = STEADY_FROM if days > STEADY_FROM else 1
    steady = slice(steady_from - 1, None)
    window = len(sweeps[steady])

    def mean(values: list[int]) -> float:
        return sum(values[steady]) / window

    return {
        "users": users,
        "tagged": len(tagged),
        "days": days,
        "steady_from": steady_from,
        "sweep_iam_sts_per_day": mean(sweeps),
        "sweep_calls_per_day": mean(sweep_totals),
        "sweep_iam_sts_least": min(sweeps[steady], default=0),
        "sweep_iam_sts_most": max(sweeps[steady], default=0),
        "per_user_reads_per_day": mean(per_user),
        "worker_calls_per_day": mean(worker_totals),
        "rotations": rotations,
        # Each tagged user's Security Hub finding: imports a month (30 days) in the steady days.
        "finding_imports_per_user_month": sum(imports[steady]) / len(tagged) / (window / 30),
        "calls_per_day_by_service": {
            service: sum(day.get(service, 0) for day in by_service[steady]) / window
            for service in sorted({service for day in by_service for service in day})
        },
        "naive_iam_sts_per_day": naive["iam_sts_max_per_account"],
        "naive_calls_per_day": naive["per_account"],
        "naive_due": naive["due"],
        "users_with_two_keys_at_end": sum(1 for n in keys.values() if n == 2),
    }


if __name__ == "__main__":
    import json

    figures = measure_steady(days=int(sys.argv[1]) if len(sys.argv) > 1 else DAYS)
    print(json.dumps(figures, indent=2), file=sys.__stdout__)
