"""What the use cases need from the world, as Protocols the adapters (rekey.adapters) satisfy.

The use cases depend on these only: the composition root (rekey.runtime.Runtime) builds the
adapters from boto3 clients and hands them over as `Ports`; tests hand over in-memory fakes
(tests/fakes.py). Each Protocol holds only the methods a use case calls."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from .domain.advice import Activity, UnusedKeys
from .domain.delivery import DeliveryStatus, Destination
from .domain.entities import Account, IamUser, NewKey, Received, ReportKey, SecretRecord
from .domain.models import AccessKey, KeyStatus, SecretState
from .domain.rollout import DayTally, Halt, HubStatus, WaveRecord
from .messages import Notification, ScanRequest, WorkItem
from .settings import Settings


class AccountIam(Protocol):
    """IAM in one member account: its tagged users and their keys."""

    def users_with_tag(self, tag_key: str) -> list[IamUser]: ...

    def credential_report(self) -> dict[str, list[ReportKey]]: ...

    def start_credential_report(self) -> Callable[[], dict[str, list[ReportKey]]]: ...

    def get_user(self, name: str, *, with_grants: bool = False) -> IamUser: ...

    def access_keys(self, name: str, *, with_last_use: bool = True) -> list[AccessKey]: ...

    def last_use(self, keys: list[AccessKey]) -> list[AccessKey]: ...

    def key_owner(self, key_id: str) -> str | None: ...

    def create_key(self, name: str) -> NewKey: ...

    def set_status(self, name: str, key_id: str, status: KeyStatus) -> None: ...

    def delete_key(self, name: str, key_id: str) -> None: ...


class UserSecrets(Protocol):
    """The users' secrets in one member account: versions, stages, and rekey's tags."""

    def read(self, name: str, *, resolve_foreign: bool = True) -> SecretRecord: ...

    def listed(self) -> dict[str, SecretState]: ...

    def mark_checked(self, name: str, version_id: str) -> None: ...

    def begin_rotation(
        self,
        name: str,
        *,
        exists: bool,
        owner_user_id: str,
        known_key_ids: list[str],
        at: datetime,
        policy: dict[str, Any],
        kms_key_id: str | None,
        replaces: str | None = None,
        replicas: list[dict[str, str]] | None = None,
        token: str | None = None,
    ) -> None: ...

    def create(
        self,
        name: str,
        *,
        owner_user_id: str,
        policy: dict[str, Any],
        kms_key_id: str | None,
        replicas: list[dict[str, str]] | None = None,
    ) -> None: ...

    def resource_policy(self, name: str) -> dict[str, Any] | None: ...

    def replicate(self, name: str, replicas: list[dict[str, str]]) -> None: ...

    def stage(self, name: str, key: NewKey, *, first: bool = False, version_id: str | None = None) -> str: ...

    def staged_key(self, name: str, version_id: str) -> NewKey | None: ...

    def promote(self, name: str, version_id: str, current_version_id: str | None) -> None: ...

    def drop_pending(self, name: str, version_id: str) -> None: ...

    def rotate(self, name: str, function_arn: str, days: int, *, immediately: bool) -> None: ...

    def clear_intent(self, name: str) -> None: ...

    def mark_revoked(self, name: str, key_id: str, revoked: frozenset[str]) -> None: ...

    def mark_in_use_warned(self, name: str, key_id: str, day: date) -> None: ...

    def mark_delivery(self, name: str, destination: str, status: DeliveryStatus) -> None: ...

    def stage_key_id(self, name: str, stage: str) -> str | None: ...

    def pause(self, name: str, until: date) -> None: ...


class AccountFindings(Protocol):
    """Security Hub in one member account: rekey's findings (rekey.domain.findings)."""

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> None: ...

    def rekey_findings(self, account_id: str) -> list[dict[str, Any]]: ...


class DeliveryDestination(Protocol):
    """A place a user's consumers read its key from (rekey.domain.delivery): one adapter per kind
    of destination (rekey.adapters.delivery_*), built for one user by Ports.destination."""

    def push(self, key: NewKey, written: str | None, remember: Callable[[str], None] | None = None) -> str:
        """Write `key` where the destination's consumers read it, and nothing else there.
        `written`: the record this destination returned when rekey last wrote there (None:
        never) — a value found there that rekey did not write (someone else created or changed
        it) is errors.Conflict, and nothing is written. Returns the record of what was written
        now (at most 160 characters of A-Z a-z 0-9 space _ . : / = + @ -). Raises a RekeyError
        whose message never holds the key; one carrying `.written` names the record to keep.
        `remember`: a destination that cannot tell rekey's writes by itself gives it, before
        writing, the record to keep should the push not finish (its intent); if it raises,
        nothing is written."""
        ...


class MemberAccount(Protocol):
    """What a use case acts on inside one member account."""

    @property
    def account_id(self) -> str: ...

    @property
    def iam(self) -> AccountIam: ...

    @property
    def secrets(self) -> UserSecrets: ...

    @property
    def findings(self) -> AccountFindings: ...


class KeyActivity(Protocol):
    """Where the events access keys signed are read, for the advisor (rekey.adapters.cloudtrail:
    the event history in the member account; rekey.adapters.trail_bucket: a trail's log files)."""

    name: str

    def events(
        self, account_id: str, key_ids: Iterable[str], regions: Iterable[str] | None, since: datetime, until: datetime
    ) -> Activity: ...


class UnusedAccess(Protocol):
    """An unused-access analyzer's findings on access keys, for the advisor
    (rekey.adapters.access_analyzer: IAM Access Analyzer, read where the analyzer is)."""

    name: str

    def unused_keys(self, account_id: str, keys: Mapping[str, Collection[str]]) -> UnusedKeys:
        """The ACTIVE UnusedIAMUserAccessKey findings on `keys` (user name -> key ids) of the account."""
        ...


class Organization(Protocol):
    def active_accounts(self) -> list[Account]: ...

    def accounts_under(self, parent_ids: Iterable[str]) -> set[str]: ...


class Topic(Protocol):
    """The central SNS topic every event is announced on."""

    def publish(self, notification: Notification) -> None: ...


class WorkQueue(Protocol):
    def send(self, items: Sequence[WorkItem]) -> None: ...


class ScanQueue(Protocol):
    def send(self, requests: Sequence[ScanRequest]) -> None: ...


class DigestQueue(Protocol):
    """What the sweep and scans leave for the daily digest, which empties it."""

    def record(self, body: str) -> None: ...

    def receive_all(self, *, wait_seconds: int = 2) -> list[Received]: ...

    def delete(self, messages: Sequence[Received]) -> None: ...


class HubState(Protocol):
    """The hub's own state (rekey.domain.rollout): the breaker's halt and the day's tally, and
    what each rollout wave runs. Every update is atomic: workers run concurrently."""

    def status(self, waves: int = 0) -> HubStatus:
        """The halt and the records of the first `waves` waves, in one read."""
        ...

    def attempted(self, day: date) -> DayTally:
        """Count one key-changing item attempted on `day`; the day's tally after it."""
        ...

    def broke(self, day: date, sign: str, wave: int | None) -> DayTally:
        """Record a sign of breakage (distinct signs count once), and the day on `wave`'s record;
        the day's tally after it."""
        ...

    def halt_now(self, halt: Halt) -> bool:
        """Halt, unless halted already; whether this call halted."""
        ...

    def resume(self) -> Halt | None:
        """Clear the halt; the halt it cleared, or None if there was none."""
        ...

    def set_waves(self, records: dict[int, WaveRecord]) -> None: ...


class Ports(Protocol):
    """Everything a use case reaches: settings, the clock, and the ports above. Built once per
    process by rekey.runtime.Runtime (member accounts' ports through the spoke roles)."""

    settings: Settings
    now: Callable[[], datetime]
    # Every wait (IAM's propagation, the credential report's); None: time.sleep (tests skip them).
    sleep: Callable[[float], None] | None

    def account(self, account_id: str, *, write: bool = False) -> MemberAccount:
        """Ports in `account_id`: through the spoke reader role, or with `write` the writer."""
        ...

    def act_for(self, caller_arn: str) -> None:
        """Name the sessions opened in member accounts from now on after this operator (the
        caller the hub authenticated), in their accounts' CloudTrail."""
        ...

    def destination(self, destination: Destination, account_id: str, user: IamUser) -> DeliveryDestination:
        """The adapter that delivers to `destination` for `user` of `account_id`."""
        ...

    def organizations(self) -> Organization:
        """The organization's accounts (the runtime keeps a listing a few minutes per process)."""
        ...

    def notifier(self) -> Topic: ...

    def work_queue(self) -> WorkQueue: ...

    def scan_queue(self) -> ScanQueue: ...

    def digest_queue(self) -> DigestQueue | None:
        """The queue the digest is built from, when the hub has one."""
        ...

    def hub_findings(self) -> AccountFindings:
        """Security Hub in the hub's own account (the breaker's finding)."""
        ...

    def hub_state(self) -> HubState | None:
        """The hub's state table (REKEY_STATE_TABLE), when the hub has one: without it there is
        neither breaker nor waves."""
        ...

    def work_max_receive_count(self) -> int | None:
        """The work queue's maxReceiveCount: the attempt after which a failed item is dead-lettered."""
        ...

    def caller_of(self, key: NewKey) -> str:
        """The ARN STS names when called with `key` (sts:GetCallerIdentity signed by it)."""
        ...

    def key_activity(self) -> Sequence[KeyActivity]:
        """Where the advisor reads the events keys signed (the member accounts' event history)."""
        ...

    def unused_access(self) -> UnusedAccess | None:
        """The unused-access analyzer the advisor reads (REKEY_ADVISOR_ANALYZER_ARN), if one is set."""
        ...
