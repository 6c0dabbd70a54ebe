"""Versioned messages on rekey's queues and topic (pydantic). Inside the core: plain dataclasses."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .domain.models import ActionKind

ACCOUNT_ID = r"^[0-9]{12}$"
# IAM user names: 1-64 of letters, digits and + = , . @ _ -
USER_NAME = r"^[A-Za-z0-9_+=,.@-]{1,64}$"
KEY_ID = r"^[A-Z0-9]{16,128}$"
# An account of IAM's 5,000-user quota is scanned in a handful of parts; a chain this long is a bug.
MAX_SCAN_PARTS = 1000


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class WorkAction(StrEnum):
    """What a work item asks a worker to do; the worker re-decides before doing it."""

    ROTATE = ActionKind.ROTATE.value
    DEACTIVATE = ActionKind.DEACTIVATE.value
    DELETE = ActionKind.DELETE.value
    FINISH_ROTATION = ActionKind.FINISH_ROTATION.value
    DELETE_ORPHAN = ActionKind.DELETE_ORPHAN.value
    CLEAR_INTENT = ActionKind.CLEAR_INTENT.value
    WARN_IN_USE = ActionKind.WARN_IN_USE.value
    WARN_NOT_ADOPTED = ActionKind.WARN_NOT_ADOPTED.value
    DELIVER = ActionKind.DELIVER.value

    @property
    def kind(self) -> ActionKind:
        return ActionKind(self.value)


class WorkItem(_Message):
    """One key action for one user, queued by a scan, carried out by a worker."""

    schema_version: Literal[1] = 1
    account_id: str = Field(pattern=ACCOUNT_ID)
    user_name: str = Field(pattern=USER_NAME)
    key_id: str | None = Field(default=None, pattern=KEY_ID)
    action: WorkAction
    reason: str = Field(default="", max_length=1000)
    sweep_id: str = Field(min_length=1, max_length=64)
    # The queue carries no authority: an operator's request (`rekey rotate-now`, the classic
    # manual event) runs in-process under the caller's own credentials (rekey.use_cases.work.
    # OperatorRequest). These fields remain only so that items queued before they were withdrawn
    # still parse; an item that sets one is refused as malformed.
    manual: Literal[False] = False
    revoke_old: Literal[False] = False
    requested_by: None = None

    def group_id(self, groups_per_account: int) -> str:
        """FIFO group: one of `groups_per_account` per account (REKEY_ACCOUNT_CONCURRENCY), the
        same for every item of a user. SQS hands out one group's items one at a time, in order:
        a user is worked on by one worker at a time, an account by at most that many."""
        slot = int(hashlib.sha256(self.user_name.encode()).hexdigest()[:8], 16) % groups_per_account
        return f"{self.account_id}/{slot}"

    @property
    def user_key(self) -> str:
        return f"{self.account_id}/{self.user_name}"

    @property
    def deduplication_id(self) -> str:
        """The same action of the same sweep is one message, however often it is sent."""
        raw = "|".join([self.sweep_id, self.account_id, self.user_name, self.action.value, self.key_id or "-"])
        return hashlib.sha256(raw.encode()).hexdigest()


class ClassicManualEvent(BaseModel):
    """The classic recipe's manual event, `{"action": "create"|"deactivate"|"delete",
    "username": ...}`, plus `account_id`, sent straight to the worker function. Mapped onto a
    manual work item: the same re-checks and invariants as any other."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["create", "deactivate", "delete"]
    username: str = Field(pattern=USER_NAME)
    account_id: str = Field(pattern=ACCOUNT_ID)

    def work_item(self, at: datetime) -> WorkItem:
        action = WorkAction.ROTATE if self.action == "create" else WorkAction(self.action)
        return WorkItem(
            account_id=self.account_id,
            user_name=self.username,
            action=action,
            reason=f"classic manual event {self.action!r}",
            sweep_id=f"manual-{at:%Y%m%dT%H%M%SZ}",
        )


class OperatorCommand(_Message):
    """An operator's request, the body of a SigV4-signed POST to the hub's operator endpoint (a
    function URL, AuthType AWS_IAM). It names what to do and on whom, never who asks: the hub
    takes that from the signature AWS verified. A body with any other field (a `requested_by`,
    say) is refused as malformed."""

    schema_version: Literal[1] = 1
    command: Literal["rotate-now", "rollback", "resume"]
    # Whose keys (rotate-now, rollback); `resume` is the whole organization's and names nobody.
    account_id: str | None = Field(default=None, max_length=64)
    user_name: str | None = Field(default=None, pattern=USER_NAME)
    # rotate-now: deactivate the old key as soon as its replacement is stored (a leaked key).
    revoke_old: bool = False
    # rotate-now: the key that leaked, revoked (and replaced first if it is the secret's current
    # key), also while the user has two active keys.
    key_id: str | None = Field(default=None, pattern=KEY_ID)
    # rollback: the last day of the pause (inclusive, UTC); None: the hub's default.
    until: date | None = None

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not (value.isdigit() and len(value) == 12):
            raise ValueError(f"{value!r} is not a 12-digit account id")
        return value

    @model_validator(mode="after")
    def _options(self) -> OperatorCommand:
        if (self.revoke_old or self.key_id) and self.command != "rotate-now":
            raise ValueError("revoke_old and key_id are options of rotate-now only")
        if self.until is not None and self.command != "rollback":
            raise ValueError("until is an option of rollback only")
        named = self.account_id is not None and self.user_name is not None
        if self.command == "resume" and (self.account_id or self.user_name):
            raise ValueError("resume is the whole organization's: it names no account or user")
        if self.command != "resume" and not named:
            raise ValueError(f"{self.command} needs account_id and user_name")
        return self


class RotationStepEvent(BaseModel):
    """What Secrets Manager sends the rotation function for each step (and rekey's relay hands
    the hub as it came): the step, the secret's ARN, the version being rotated to."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    Step: str = Field(min_length=1, max_length=32)
    SecretId: str = Field(min_length=1, max_length=2048)
    ClientRequestToken: str = Field(min_length=32, max_length=64)


class ScanRequest(_Message):
    """One account to scan, fanned out by the sweep through the scan queue; or the rest of one
    (`after` set), queued by a scan that stopped before its deadline."""

    schema_version: Literal[1] = 1
    account_id: str = Field(pattern=ACCOUNT_ID)
    account_name: str = Field(default="", max_length=256)
    sweep_id: str = Field(min_length=1, max_length=64)
    # A continuation: the users whose names sort after `after` are left to scan; `part` counts
    # the account's scans this sweep, the totals are what the parts before this one did.
    after: str | None = Field(default=None, pattern=USER_NAME)
    part: int = Field(default=1, ge=1, le=MAX_SCAN_PARTS)
    users_checked: int = Field(default=0, ge=0)
    items_queued: int = Field(default=0, ge=0)


class Event(StrEnum):
    ROTATED = "rotated"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"
    BLOCKED = "blocked"
    MISCONFIGURED = "misconfigured"
    IN_USE = "in-use"
    # Under the `adopt` policy: an old key waits for its replacement's first use.
    NOT_ADOPTED = "not-adopted"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"
    REJECTED = "rejected"
    # A tagged user rekey may not act on (privileged, outside REKEY_USER_PATH_PREFIX, without
    # REKEY_REQUIRED_BOUNDARY_ARN): announced every sweep, never touched.
    REFUSED = "refused"
    # A secret at the user's secret name that rekey did not create: left as it is, user untouched.
    CONFLICT = "conflict"
    # The user's secret cannot take a new key (it is scheduled for deletion): no key is created
    # until an operator restores it or deletes it for good.
    SECRET_UNWRITABLE = "secret-unwritable"
    # The user's secret's current version cannot serve its consumers (not JSON, no SecretKey, a
    # key that is gone or inactive): repaired by a rotation the same day, or announced daily
    # with what would let rekey repair it.
    SECRET_BROKEN = "secret-broken"
    ACCOUNT_UNREACHABLE = "account-unreachable"
    # The scan could not import the account's Security Hub findings (not enabled, a spoke role
    # without the permission): the keys are rotated all the same.
    FINDINGS_FAILED = "findings-failed"
    # Secrets Manager could not run the user's rotation (rekey stored the key itself) or could
    # not be set to (no relay in the account, the writer denied RotateSecret): keys are rotated
    # all the same, but Secrets Manager does not record it (SecretsManager.1 and .4 fail).
    SECRETS_MANAGER_ROTATION_FAILED = "secretsmanager-rotation-failed"
    # The current key was pushed to a delivery destination (rekey.domain.delivery), or could not
    # be (the rotation stands; retried by the next scan; the announcement says what to do).
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery-failed"
    # An old key deactivated at its deadline though its replacement's pickup at the user's
    # delivery destinations is unconfirmed (one does not hold it, or no consumer has used it).
    PICKUP_UNCONFIRMED = "pickup-unconfirmed"
    # A work item failed on its queue's last attempt (maxReceiveCount): it moves to the DLQ.
    DEAD_LETTERED = "dead-lettered"
    # Once per sweep: the counts per account and what needs a human (rekey.digest).
    DIGEST = "digest"
    # The breaker (rekey.domain.rollout) halted every key change, with its evidence; an operator
    # resumed them (`rekey resume`, the caller recorded). A sweep while halted says so again.
    HALTED = "halted"
    RESUMED = "resumed"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    # rekey stopped changing keys everywhere (the breaker): someone must look now.
    CRITICAL = "critical"


class AccountDigest(_Message):
    """One account's day in the digest."""

    account_id: str
    name: str = ""
    scanned: bool = False
    error: str | None = None  # the last scan attempt's failure: the account is unreachable
    not_scanned: bool = False  # listed by the sweep, but no scan was recorded
    users_in_scope: int = 0
    items_queued: int = 0
    rotated: int = 0
    deactivated: int = 0
    deleted: int = 0
    blocked: int = 0
    misconfigured: int = 0
    in_use: int = 0
    failed: int = 0
    dead_lettered: int = 0


class NeedsHuman(_Message):
    """Something rekey could not settle by itself."""

    event: str  # blocked, misconfigured, refused, conflict, secret-unwritable, account-unreachable, dead-lettered, ...
    account_id: str
    user_name: str | None = None
    message: str


class DigestSummary(_Message):
    """What the digest's text says, as data."""

    sweep_ids: list[str]
    accounts_listed: int | None = None  # None: no sweep start was recorded
    accounts_scanned: int = 0
    accounts_unreachable: int = 0
    accounts_not_scanned: int = 0
    totals: dict[str, int] = Field(default_factory=dict)
    accounts: list[AccountDigest] = Field(default_factory=list)  # those with anything to report
    quiet_accounts: int = 0  # scanned, nothing to report
    needs_human_total: int = 0
    needs_human: list[NeedsHuman] = Field(default_factory=list)  # the first ones, within SNS's size limit
    accounts_omitted: int = 0  # accounts with activity left out of `accounts` for the same reason
    # Tagged users left alone today (`<account> <user> (until YYYY-MM-DD)`): refused ones are
    # in `needs_human`.
    exempt: list[str] = Field(default_factory=list)
    paused: list[str] = Field(default_factory=list)
    # The advisor's counts by recommendation over the accounts it advised on (REKEY_ADVISOR).
    advice: dict[str, int] = Field(default_factory=dict)


class Notification(_Message):
    """One event on the central topic. Never carries secret material."""

    schema_version: Literal[1] = 1
    event: Event
    severity: Severity
    account_id: str
    user_name: str | None = None
    owner: str | None = None
    key_id: str | None = None
    new_key_id: str | None = None
    secret_name: str | None = None
    message: str
    sweep_id: str | None = None
    at: datetime
    # For `in-use`: the old key's last use after its replacement appeared.
    last_used_at: datetime | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None
    # For `rolled-back`: the last day of the pause.
    paused_until: date | None = None
    # Who asked, for what an operator's request did or was refused: the caller's ARN as AWS
    # authenticated it at the hub's operator endpoint (or the classic manual event's label).
    requested_by: str | None = None
    # For `digest`: the same summary as `message`, for programs.
    digest: DigestSummary | None = None
    # The same fact announced twice (SNS delivers at least once; an action found done but not
    # yet announced is announced late) has the same id: subscribers de-duplicate on it.
    notification_id: str = Field(default="", max_length=64)
    # Announced by a later attempt than the one that acted (which stopped before announcing).
    late: bool = False

    @model_validator(mode="after")
    def _identify(self) -> Notification:
        if not self.notification_id:
            object.__setattr__(self, "notification_id", notification_id(self))
        return self

    def attributes(self) -> dict[str, dict[str, str]]:
        """SNS message attributes, so subscribers filter by account, user, event, severity, owner."""
        values = {
            "account_id": self.account_id,
            "user_name": self.user_name or "-",
            "event": self.event.value,
            "severity": self.severity.value,
            "owner": self.owner or "-",
        }
        return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}

    def subject(self) -> str:
        if self.digest is not None:
            d = self.digest
            scanned = f"{d.accounts_scanned}" + (f" of {d.accounts_listed}" if d.accounts_listed is not None else "")
            return f"rekey digest: {scanned} accounts swept, {d.needs_human_total} need a human"[:100]
        who = f"{self.user_name} in {self.account_id}" if self.user_name else self.account_id
        return f"rekey {self.event.value}: {who}"[:100]


# Actions happen once: a key is created, and deleted, once; a deactivation once per work item
# (a rollback may reactivate a key that rekey deactivates again later, from another sweep).
_ONCE_PER_KEY = {Event.ROTATED: "new_key_id", Event.DELETED: "key_id"}
# A state reported about a user (or its key) means the same thing all day.
_DAILY = {
    Event.SECRETS_MANAGER_ROTATION_FAILED,
    Event.DELIVERY_FAILED,
    Event.BLOCKED,
    Event.MISCONFIGURED,
    Event.REFUSED,
    Event.CONFLICT,
    Event.SECRET_UNWRITABLE,
    Event.SECRET_BROKEN,
    Event.IN_USE,
    Event.NOT_ADOPTED,
    Event.ACCOUNT_UNREACHABLE,
}


def notification_id(n: Notification) -> str:
    """What makes two announcements the same fact, hashed: an action by the key it acted on,
    a reported state by the day, anything else (failures, each attempt's; digests) by its text."""
    facts: list[str | None] = [n.event.value, n.account_id, n.user_name]
    if n.event in _ONCE_PER_KEY:
        facts.append(getattr(n, _ONCE_PER_KEY[n.event]))
    elif n.event is Event.DEACTIVATED:
        facts += [n.key_id, n.sweep_id]
    elif n.event in _DAILY:
        facts += [n.key_id, n.at.date().isoformat()]
    else:
        facts += [n.key_id, n.new_key_id, n.sweep_id, n.at.isoformat(), n.message]
    return hashlib.sha256("|".join(f or "-" for f in facts).encode()).hexdigest()[:32]


def publish_arguments(notification: Notification) -> dict[str, Any]:
    """How a notification is published: sns:Publish's arguments (the digest measures itself by
    them too). The digest goes to email subscribers as its plain text (JSON with escaped line
    breaks is unreadable in a mail client); every other protocol, and every other event, gets
    the JSON."""
    document = notification.model_dump_json(exclude_none=True)
    arguments: dict[str, Any] = {
        "Subject": notification.subject(),
        "Message": document,
        "MessageAttributes": notification.attributes(),
    }
    if notification.digest is not None:
        arguments["Message"] = json.dumps({"default": document, "email": notification.message})
        arguments["MessageStructure"] = "json"
    return arguments


def problems(error: ValidationError | ValueError, whole: str = "body") -> str:
    """What is wrong with a message, by field and error type: never its values."""
    if not isinstance(error, ValidationError):
        return str(error)
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or whole}: {e['type']}" for e in error.errors()[:5])
