"""What rekey reads from AWS and hands to the use cases: an organization's account, an IAM user,
a key as the credential report sees it, a new key, the user's secret. Plain data; the adapters
build them, the use cases and the domain read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .models import KeyUse, SecretState, days_old
from .privilege import Grants


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str


@dataclass(frozen=True)
class IamUser:
    name: str
    user_id: str
    arn: str
    tags: dict[str, str] = field(default_factory=dict)
    # Its policies, path and permissions boundary (None: not read).
    grants: Grants | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ReportKey:
    """A key as the credential report sees it (no key id): enough to tell whether it may be
    due, and for the compliance report of users rekey does not manage."""

    active: bool
    created: datetime
    slot: int = 1  # access_key_1 or access_key_2
    last_used: KeyUse | None = None

    def age_days(self, now: datetime) -> int:
        return days_old(self.created, now)


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret_access_key: str = field(repr=False)
    created: datetime


@dataclass(frozen=True)
class SecretRecord:
    """The secret as rekey reads it. `owner_user_id` is the user id rekey tagged it with when it
    created it (or an operator, handing over a secret rekey did not create); a secret without
    it is foreign, never adopted."""

    state: SecretState
    owner_user_id: str | None = None
    current_version_id: str | None = None
    previous_version_id: str | None = None
    # The version labelled AWSPENDING while it is not current: a key a rotation staged, or the
    # empty version Secrets Manager creates when it starts a rotation (its key id then None).
    pending_version_id: str | None = None
    # Secrets Manager's rotation of the secret, as configured: the function it invokes and the
    # schedule in days (None: rotation is not enabled).
    rotation_function: str | None = None
    rotation_days: int | None = None
    # Regions the secret is replicated to (whatever their replication status).
    replica_regions: frozenset[str] = frozenset()
    # DescribeSecret's DeletedDate: the secret is scheduled for deletion (DeleteSecret with a
    # recovery window). Until it is restored nothing can be stored in it, nor read from it.
    scheduled_deletion: datetime | None = None
    # The current version was written by someone else (None: by rekey, or there is none): True
    # once rekey read it and found a usable key in it (rekey.domain.secret_state.CHECKED_TAG).
    foreign_current_checked: bool | None = None

    @property
    def foreign(self) -> bool:
        return self.state.exists and self.owner_user_id is None

    def missing_replicas(self, replicas: list[dict[str, str]]) -> list[dict[str, str]]:
        """The configured replicas (AddReplicaRegions entries) this secret does not have yet."""
        return [r for r in replicas if r["Region"] not in self.replica_regions]


@dataclass(frozen=True)
class Received:
    """A message read from a queue (the digest's), to be deleted once it is summarised."""

    message_id: str
    receipt_handle: str
    body: str
