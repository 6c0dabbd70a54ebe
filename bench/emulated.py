"""An organization on moto's in-process emulator (`moto.mock_aws`), big enough for 1,000
accounts x 50 users.

The organization, its accounts, the hub's queues and topic are created through the AWS API.
Users and their keys are written straight into moto's IAM backend: through the API, 50,000
users and keys would take minutes of setup that measure nothing. rekey itself reaches all of
it through plain boto3 clients, as in production."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
from rekey_dev import emulator as em
from rekey_dev.emulator import HubResources, create_hub, create_organization

REGION = em.REGION
MANAGEMENT = em.MANAGEMENT_ACCOUNT
TAG_KEY = "rekey:rotate"
TAGGED_EVERY = 5  # one user in five opts in: 20% tagged


def user_name(index: int) -> str:
    return f"user-{index:05d}"


def is_tagged(index: int) -> bool:
    return index % TAGGED_EVERY == 0


def tagged_count(users: int) -> int:
    return sum(1 for i in range(users) if is_tagged(i))


def use_in_process_emulator() -> None:
    """Clients of this process go to `mock_aws` (no endpoint override), with dummy credentials."""
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(em.DUMMY_ENV)
    os.environ.pop("AWS_SESSION_TOKEN", None)


class _InProcess:
    """The emulator's clients under `mock_aws`: plain ones, no endpoint (an `em.ClientSource`)."""

    def client(self, service: str, **kwargs: Any) -> Any:
        return boto3.client(service, region_name=REGION, **kwargs)


@dataclass
class Organization:
    accounts: list[str]
    users_per_account: int
    hub: HubResources

    @property
    def tagged_per_account(self) -> int:
        return tagged_count(self.users_per_account)

    def environment(self, excluded: list[str] | None = None, *, findings: bool = True) -> dict[str, str]:
        """rekey's configuration for this organization (the hub lives in the management account):
        its defaults, Security Hub findings on unless `findings` is False."""
        return {
            **self.hub.environment(),
            "REKEY_EXCLUDED_ACCOUNTS": ",".join([MANAGEMENT, *(excluded or [])]),
            "REKEY_SECURITY_HUB_FINDINGS": "true" if findings else "false",
        }

    def age_keys(self, days: float, accounts: list[str] | None = None) -> None:
        for account in accounts if accounts is not None else self.accounts:
            em.Emulator.age_keys(account, days)

    def age_findings(self, days: float, accounts: list[str] | None = None) -> None:
        """A day passes for Security Hub too: every finding as if imported `days` earlier."""
        for account in accounts if accounts is not None else self.accounts:
            age_findings(account, days)

    @staticmethod
    def age_user_keys(account: str, names: list[str], days: float) -> None:
        """Make the keys of some users older by `days` (nothing else in the account)."""
        from datetime import timedelta

        from moto.iam.models import iam_backends

        users = iam_backends[account]["global"].users
        for name in names:
            for key in users[name].access_keys:
                key.create_date -= timedelta(days=days)

    @staticmethod
    def key_counts(account: str) -> dict[str, int]:
        """Number of access keys per user in `account`, read from the emulator's state."""
        from moto.iam.models import iam_backends

        backend = iam_backends[account]["global"]
        return {name: len(user.access_keys) for name, user in backend.users.items()}


def build(accounts: int, users: int) -> Organization:
    """An organization with `accounts` member accounts of `users` users each (every user has one
    access key, created now; one in five users is tagged for rotation). Needs `mock_aws` active."""
    from moto.iam.models import iam_backends

    emulator = _InProcess()
    ids = list(create_organization(emulator, [f"member-{n:04d}" for n in range(accounts)]).accounts.values())
    hub = create_hub(emulator)
    for account in ids:
        backend = iam_backends[account]["global"]
        for i in range(users):
            name = user_name(i)
            tags = [{"Key": TAG_KEY, "Value": "true"}] if is_tagged(i) else [{"Key": "team", "Value": "data"}]
            backend.create_user(REGION, name, tags=tags)
            backend.create_access_key(name)
    return Organization(ids, users, hub)


def age_findings(account: str, days: float) -> None:
    """Make every Security Hub finding in `account` (moto's, in this process) `days` older: its
    CreatedAt and UpdatedAt, as keys are aged (rekey refreshes a finding by its UpdatedAt)."""
    from datetime import datetime, timedelta

    from moto.securityhub.models import securityhub_backends

    for finding in securityhub_backends[account][REGION].findings:
        for stamp in ("CreatedAt", "UpdatedAt"):
            if stamp in finding.data:
                when = datetime.fromisoformat(finding.data[stamp]) - timedelta(days=days)
                finding.data[stamp] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
