"""Who lives in the demo organization: a pure, seeded plan (no AWS, no clock).

Every special case rekey handles gets one user (the "cast"), spread over the member accounts;
ordinary tagged service users fill the rest. The same seed always gives the same plan."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

ACCOUNT_NAMES = (
    "payments",
    "analytics",
    "sandbox",
    "identity",
    "logistics",
    "marketing",
    "search",
    "billing",
    "platform",
    "support",
)
COMPONENTS = (
    "api",
    "worker",
    "etl",
    "exporter",
    "importer",
    "backup",
    "reporting",
    "webhook",
    "scheduler",
    "sync",
    "mailer",
    "indexer",
    "archiver",
    "cache-warmer",
    "billing-run",
    "metrics",
    "search-feed",
    "audit-log",
    "queue-drainer",
    "thumbnailer",
)
HUMANS = ("maria.santos", "j.okafor", "li.wei", "sam.taylor", "a.kowalski", "r.haddad")
OPT_IN = {"rekey:rotate": "true"}
OWNER_TEAM = "data-team"
# The destinations the demo's hub declares (REKEY_DESTINATIONS), approved for the delivered
# user's account and name only: its SSM parameter, and a repository on a local fake of GitHub.
DELIVERED_USER = "release-ci"
GITHUB_REPOSITORY = "acme/release"


class Case(StrEnum):
    """Why a user is in the demo; shown in the final table."""

    SERVICE = "service user"
    OVERDUE = "key long overdue"
    SHORT_POLICY = "30-day policy (tags)"
    OWNED = f"owner: {OWNER_TEAM}"
    STALE_APP = "app keeps old key"
    TWO_KEYS = "two active keys"
    MISCONFIGURED = "invalid policy tag"
    HUMAN = "human, not tagged"
    DELIVERED = "pushed to SSM, GitHub"


class Usage(StrEnum):
    """Which key the user's application signs with each simulated day."""

    NONE = "none"
    NEWEST = "newest"  # reads the secret, so it switches to the new key at once
    ORIGINAL = "original"  # never reads the secret: keeps using its first key while it works
    GITHUB = "github"  # a CI job: signs with the key GitHub's secret holds (its first, until one is there)


@dataclass(frozen=True)
class PlannedUser:
    account: str
    name: str
    case: Case
    tags: dict[str, str] = field(hash=False)
    key_ages: tuple[int, ...]  # days old on day 0, oldest first
    usage: Usage = Usage.NEWEST

    @property
    def tagged(self) -> bool:
        return "rekey:rotate" in self.tags


@dataclass(frozen=True)
class Plan:
    seed: int
    accounts: tuple[str, ...]
    users: tuple[PlannedUser, ...]

    def in_account(self, account: str) -> list[PlannedUser]:
        return [u for u in self.users if u.account == account]


def make_plan(seed: int, accounts: int, users_per_account: int) -> Plan:
    """The organization for `seed`: `accounts` member accounts, each with `users_per_account`
    ordinary tagged service users, plus one user per special case spread over the accounts."""
    if not 1 <= accounts <= len(ACCOUNT_NAMES):
        raise ValueError(f"accounts must be between 1 and {len(ACCOUNT_NAMES)}")
    if not 0 <= users_per_account <= len(COMPONENTS):
        raise ValueError(f"users per account must be between 0 and {len(COMPONENTS)}")
    rng = random.Random(seed)
    names = ACCOUNT_NAMES[:accounts]
    homes = list(names)
    rng.shuffle(homes)

    def home(i: int) -> str:
        return homes[i % len(homes)]

    newest = rng.randint(90, 94)
    cast = [
        PlannedUser(home(0), "reporting-cron", Case.OVERDUE, dict(OPT_IN), (rng.randint(150, 400),)),
        PlannedUser(home(1), "legacy-ftp", Case.STALE_APP, dict(OPT_IN), (rng.randint(75, 88),), Usage.ORIGINAL),
        PlannedUser(
            home(2),
            "deploy-bot",
            Case.TWO_KEYS,
            dict(OPT_IN),
            (newest + rng.randint(1, 3), newest),  # both due, neither old enough to retire
        ),
        PlannedUser(
            home(3),
            "ml-training",
            Case.OWNED,
            {**OPT_IN, "rekey:owner": OWNER_TEAM},
            (rng.randint(70, 85),),
        ),
        PlannedUser(
            home(4),
            "nightly-backup",
            Case.MISCONFIGURED,
            {**OPT_IN, "rekey:rotate-after-days": "90d"},  # days are whole numbers
            (rng.randint(100, 300),),
            Usage.NONE,
        ),
        PlannedUser(
            home(5),
            "ci-runner",
            Case.SHORT_POLICY,
            {
                **OPT_IN,
                "rekey:rotate-after-days": "30",
                "rekey:deactivate-after-days": "37",
                "rekey:delete-after-days": "44",
            },
            (rng.randint(0, 29),),
        ),
        PlannedUser(home(6), rng.choice(HUMANS), Case.HUMAN, {}, (rng.randint(200, 700),), Usage.NONE),
    ]
    ordinary = [
        PlannedUser(account, f"{account}-{component}", Case.SERVICE, dict(OPT_IN), (rng.randint(0, 89),))
        for account in names
        for component in rng.sample(COMPONENTS, users_per_account)
    ]
    # Drawn last, so the other users are the same for a seed as before it joined.
    cast.append(
        PlannedUser(
            home(7),
            DELIVERED_USER,
            Case.DELIVERED,
            {**OPT_IN, "rekey:deliver-to": "params,ci"},
            (rng.randint(80, 86),),
            Usage.GITHUB,
        )
    )
    order = {name: i for i, name in enumerate(names)}
    users = sorted(cast + ordinary, key=lambda u: (order[u.account], u.name))
    return Plan(seed, names, tuple(users))
