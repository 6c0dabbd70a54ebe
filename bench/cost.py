"""What rekey costs a month, by component, from the calls `make bench` counts: its quiet sweep
per account (fixed per account a day) and its steady state (what each opted-in user adds a day:
the sweep's reads on its action days, the worker's rotations, deactivations and deletions, the
announcements, the finding imports).

The prices are us-east-1's, written down on PRICES_DATE with where each came from; a price that
could not be confirmed on AWS's own page says so. AWS's free tiers are left out (an organization
running rekey spends them elsewhere), except Security Hub's 10,000 finding ingestion events per
account and region a month, which are counted per member account as AWS counts them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "hub" / "template.yaml"

PRICES_DATE = "2026-12-04"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    confirmed: bool  # read on AWS's own pricing page (directly or as transcribed from it)


PRICES = {
    "secret_month": Price(
        0.40,
        "a secret a month (a replica counts as a secret)",
        "https://aws.amazon.com/secrets-manager/pricing/ (its examples; transcribed 2026-09-20 by api-evangelist)",
        True,
    ),
    "secrets_call": Price(
        0.05 / 10_000,
        "a Secrets Manager API call ($0.05 per 10,000)",
        "https://aws.amazon.com/secrets-manager/pricing/ (as above)",
        True,
    ),
    "lambda_request": Price(
        0.20 / 1_000_000,
        "a Lambda invocation ($0.20 per million)",
        "https://aws.amazon.com/lambda/pricing/ (transcribed 2026-09-20 by api-evangelist)",
        True,
    ),
    "lambda_gb_second": Price(
        0.0000166667,
        "a GB-second of Lambda, x86_64",
        "https://aws.amazon.com/lambda/pricing/ renders its rate table client-side; the figure third-party "
        "calculators use (artillery's lambda prices.js, x86_64 1666670e-11)",
        False,
    ),
    "sqs_request": Price(
        0.40 / 1_000_000,
        "an SQS request, standard queue ($0.40 per million; each 64 KB of payload a request)",
        "https://aws.amazon.com/sqs/pricing/ (not read here; the figure of serverless cost sheets); 64 KB "
        "chunks: https://aws.amazon.com/sqs/features/",
        False,
    ),
    "sqs_fifo_request": Price(
        0.50 / 1_000_000,
        "an SQS request, FIFO queue ($0.50 per million)",
        "https://aws.amazon.com/sqs/pricing/ (not read here)",
        False,
    ),
    "sns_publish": Price(
        0.50 / 1_000_000,
        "an SNS publish ($0.50 per million; deliveries to SQS are not charged)",
        "https://aws.amazon.com/sns/pricing/ (not read here; the figure of serverless cost sheets)",
        False,
    ),
    "finding_ingestion": Price(
        0.00003,
        "a Security Hub CSPM finding ingestion event past the first 10,000 an account and region a month",
        "AWS's published CSPM rates as quoted by AWS's Greater China security team's cost guide "
        "(aws-gcr-wwso-security.gitbook.io); Security Hub's 2025 pricing folds CSPM into a per-resource plan",
        False,
    ),
}
FREE_FINDING_EVENTS = 10_000  # an account and region a month

# Assumptions, not measurements: what the emulator cannot say about AWS.
CALL_SECONDS = 0.1  # an AWS API call's round trip from Lambda, IAM's included
INVOCATION_SECONDS = 0.3  # a Lambda invocation's own time beyond its calls (amortised cold starts)
# Lambda's event source mapping long-polls each queue it reads (the scan and work queues): AWS does
# not publish how often; taken as 5 pollers each making a 20-second receive, all month.
POLLS_PER_QUEUE_MONTH = 5 * 3 * 60 * 24 * 30
ACTIONS_PER_USER_DAY = 3 / 90  # a rotation, a deactivation and a deletion every 90 days
DAYS = 30


def lambda_memory_gb(template: Path = TEMPLATE) -> float:
    """The functions' memory size (hub/template.yaml's Globals: no function sets its own)."""
    sizes = re.findall(r"^\s+MemorySize:\s*(\d+)\s*$", template.read_text(), re.M)
    if len(set(sizes)) != 1:
        raise ValueError(f"{template}: expected one MemorySize (Globals), found {sizes}")
    return int(sizes[0]) / 1024


@dataclass(frozen=True)
class Usage:
    """Calls a day, per service: fixed per account (its quiet sweep), and per opted-in user."""

    per_account: Mapping[str, float]
    per_user: Mapping[str, float]
    imports_per_user_month: float

    @classmethod
    def measured(cls, quiet: dict[str, Any], accounts: int, steady: dict[str, Any]) -> Usage:
        """From a quiet sweep of `accounts` accounts (bench.measure) and the steady state (bench.steady)."""
        fixed: dict[str, float] = {}
        for operation, n in quiet["operations"].items():
            service = operation.split(":")[0]
            fixed[service] = fixed.get(service, 0.0) + n / accounts
        daily = steady["calls_per_day_by_service"]
        per_user = {s: max(0.0, daily.get(s, 0.0) - fixed.get(s, 0.0)) / steady["tagged"] for s in {*fixed, *daily}}
        return cls(fixed, per_user, steady["finding_imports_per_user_month"])


def monthly(usage: Usage, accounts: int, users: int, share: float) -> dict[str, float]:
    """Dollars a month by component for `accounts` member accounts of `users` users, `share` opted in."""
    p = {k: v.usd for k, v in PRICES.items()}
    opted = users * share  # per account
    services = {*usage.per_account, *usage.per_user}
    day = {s: usage.per_account.get(s, 0.0) + opted * usage.per_user.get(s, 0.0) for s in services}
    calls_month = {s: n * accounts * DAYS for s, n in day.items()}
    items_month = accounts * opted * ACTIONS_PER_USER_DAY * DAYS
    invocations = DAYS * (2 + accounts) + items_month  # sweep, digest, a scan per account, a worker per item
    seconds = sum(calls_month.values()) * CALL_SECONDS + invocations * INVOCATION_SECONDS
    imports = usage.imports_per_user_month * opted  # per account
    return {
        "Secrets Manager storage": accounts * opted * p["secret_month"],
        "Secrets Manager calls": calls_month.get("secretsmanager", 0.0) * p["secrets_call"],
        "Lambda": invocations * p["lambda_request"] + seconds * lambda_memory_gb() * p["lambda_gb_second"],
        # Sends are counted; each message is also received and deleted once; and the pollers.
        "SQS": (calls_month.get("sqs", 0.0) + 2 * (DAYS * accounts)) * p["sqs_request"]
        + 2 * items_month * p["sqs_fifo_request"]
        + POLLS_PER_QUEUE_MONTH * (p["sqs_request"] + p["sqs_fifo_request"]),
        "SNS": calls_month.get("sns", 0.0) * p["sns_publish"],
        "Security Hub finding ingestion": accounts * max(0.0, imports - FREE_FINDING_EVENTS) * p["finding_ingestion"],
    }


def table(usage: Usage, users: int = 50, share: float = 0.2, sizes: tuple[int, ...] = (10, 100, 1000)) -> str:
    """The model's markdown: dollars a month by component at each size, then the price table."""
    bills = {a: monthly(usage, a, users, share) for a in sizes}
    components = list(next(iter(bills.values())))
    lines = [
        f"**What rekey costs a month** (us-east-1 prices of {PRICES_DATE}; {users} users an account, "
        f"{share:.0%} opted in; calls as measured above, bench/cost.py)",
        "",
        "| component | " + " | ".join(f"{a:,} accounts ({a * users * share:,.0f} users)" for a in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for c in components:
        lines.append(f"| {c} | " + " | ".join(_usd(bills[a][c]) for a in sizes) + " |")
    lines.append("| **total** | " + " | ".join(f"**{_usd(sum(bills[a].values()))}**" for a in sizes) + " |")
    share_line = " / ".join(f"{bills[a]['Secrets Manager storage'] / sum(bills[a].values()):.1%}" for a in sizes)
    lines += [
        "",
        f"Secrets Manager storage is {share_line} of it: {_usd(PRICES['secret_month'].usd)} per opted-in user a "
        f"month. Assumed, not measured: {CALL_SECONDS * 1000:.0f} ms an AWS call from Lambda, "
        f"{INVOCATION_SECONDS * 1000:.0f} ms an invocation beyond its calls, Lambda's SQS pollers "
        f"({POLLS_PER_QUEUE_MONTH:,} receives a queue a month), one work item a user per 30 days (rotate, "
        "deactivate, delete every 90). Free tiers left out, except Security Hub's 10,000 finding events an "
        "account a month. Not counted: consumers' own GetSecretValue calls, KMS, CloudWatch.",
        "",
        "| price | USD | confirmed on AWS's page | source |",
        "|---|---|---|---|",
    ]
    for price in PRICES.values():
        usd = f"{price.usd:.10f}".rstrip("0")
        lines.append(f"| {price.unit} | {usd} | {'yes' if price.confirmed else 'no'} | {price.source} |")
    return "\n".join(lines)


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.005 or value == 0 else "< $0.01"
