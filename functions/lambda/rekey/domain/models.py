"""Plain value objects of the key lifecycle."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from .delivery import DeliveryStatus
from .window import Window

SECONDS_PER_DAY = 86_400


class KeyStatus(StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"


@dataclass(frozen=True)
class KeyUse:
    """When and where a key last signed a request."""

    at: datetime
    service: str | None = None
    region: str | None = None


def days_old(created: datetime, now: datetime) -> int:
    """A key's age: whole days since its creation (UTC), never negative."""
    return max(0, int((now - created).total_seconds() // SECONDS_PER_DAY))


@dataclass(frozen=True)
class AccessKey:
    key_id: str
    status: KeyStatus
    created: datetime
    last_used: KeyUse | None = None

    @property
    def active(self) -> bool:
        return self.status is KeyStatus.ACTIVE

    def age_days(self, now: datetime) -> int:
        return days_old(self.created, now)


@dataclass(frozen=True)
class Intent:
    """A rotation that began: recorded before the new key exists, so a key created by a
    crashed attempt is recognised as an orphan rather than a human's key."""

    started_at: datetime
    known_key_ids: frozenset[str]
    # Secrets Manager's rotation: the version it stages the key in (its ClientRequestToken).
    token: str | None = None


@dataclass(frozen=True)
class SecretState:
    """What the user's secret says: which key is current, which one is staged, and whether a
    rotation is in flight. `exists=False` means no secret yet (the user was never rotated).

    `previous_key_id` is the key the last rotation replaced (its AWSPREVIOUS version);
    `paused_until` the last day of a pause set by a rollback (inclusive, UTC);
    `in_use_warned` the key and day of the last in-use warning (at most one a key a day)."""

    exists: bool = False
    current_key_id: str | None = None
    pending_key_id: str | None = None
    intent: Intent | None = None
    previous_key_id: str | None = None
    paused_until: date | None = None
    in_use_warned: tuple[str, date] | None = None
    # Keys `rekey rotate-now --revoke-old` revoked (leaked): a rollback never reactivates them.
    revoked_key_ids: frozenset[str] = frozenset()
    # AWSCURRENT was written by someone else: why its value cannot be used (not JSON, no
    # AccessKey or SecretKey), when it was read; `current_unread` when it was not read (the
    # scan's role cannot), so its key is unknown.
    current_unusable: str | None = None
    current_unread: bool = False
    # What each delivery destination was last sent (rekey.domain.delivery), by its name.
    deliveries: tuple[tuple[str, DeliveryStatus], ...] = ()

    def delivered(self) -> dict[str, DeliveryStatus]:
        return dict(self.deliveries)

    def paused(self, today: date) -> bool:
        return self.paused_until is not None and today <= self.paused_until

    def bounded(self, today: date, max_pause_days: int) -> tuple[SecretState, str | None]:
        """This state with a pause longer than `max_pause_days` from `today` ignored, and why.
        rekey's own rollback never writes one: it was edited by hand, and must not stop the
        lifecycle for good."""
        until = self.paused_until
        if until is None or (until - today).days <= max_pause_days:
            return self, None
        why = (
            f"the secret's pause until {until} is more than {max_pause_days} days away (REKEY_MAX_PAUSE_DAYS); "
            "rekey never sets one so long: the pause is ignored"
        )
        return replace(self, paused_until=None), why


class InUsePolicy(StrEnum):
    """What happens when an old key is still used on its deactivation day."""

    ENFORCE = "enforce"  # deactivate anyway (after warning)
    DEFER = "defer"  # wait while it is still used, up to a bound, then enforce
    # Wait until the replacement has been used by a consumer (not only by rekey's verification),
    # up to a hard deadline (max_deactivate_after_days), then enforce.
    ADOPT = "adopt"


@dataclass(frozen=True)
class Policy:
    """Ages in days at which a key is rotated, deactivated and deleted, and the org-wide
    options of the lifecycle."""

    rotate_after_days: int = 90
    deactivate_after_days: int = 100
    delete_after_days: int = 110
    # Warn this many days before deactivating a key used after its replacement appeared.
    in_use_warn_days: int = 3
    in_use_policy: InUsePolicy = InUsePolicy.ENFORCE
    # Under `defer`, the most days a deactivation waits for an old key to fall silent.
    in_use_max_defer_days: int = 7
    # Create a first key for a tagged user who has none.
    create_first_key: bool = False
    # Under `adopt`, the age at which an old key is deactivated even if its replacement was
    # never used (the compliance ceiling); None: the day before its deletion age.
    max_deactivate_after_days: int | None = None
    # The delivery destinations the user's tag selects (rekey.domain.delivery): an old key is
    # retired on proof that they picked its replacement up, or at its deadline, said loudly.
    deliver_to: tuple[str, ...] = ()
    # The days and hours in which a key may be created, deactivated or deleted (None: any time).
    window: Window | None = None

    @property
    def deactivate_deadline(self) -> int:
        """Under `adopt`, the age at which an old key is deactivated whatever happened: kept
        between the deactivation age and the day before deletion (a rollback stays possible)."""
        latest = self.delete_after_days - 1
        wanted = latest if self.max_deactivate_after_days is None else self.max_deactivate_after_days
        return max(self.deactivate_after_days, min(wanted, latest))

    @property
    def max_defer_days(self) -> int:
        """The deferral bound, kept short enough that a deactivated key still has a day before
        its deletion age (so a rollback remains possible)."""
        if self.in_use_policy is not InUsePolicy.DEFER:
            return 0
        room = self.delete_after_days - self.deactivate_after_days - 1
        return max(0, min(self.in_use_max_defer_days, room))

    @property
    def latest_deactivation_days(self) -> int:
        """The oldest a replaced key can be while still active: its deactivation age, or later
        while `defer` waits for it to fall silent or `adopt` for its replacement to be used, and
        while the rotation window keeps its rotation and its deactivation waiting."""
        adopt = self.in_use_policy is InUsePolicy.ADOPT
        latest = self.deactivate_deadline if adopt else self.deactivate_after_days + self.max_defer_days
        return latest + self.window_wait_days

    @property
    def window_wait_days(self) -> int:
        """The most days the rotation window can keep a replaced key active past its deactivation
        age: its rotation may wait for the window (its replacement is then younger), and so may
        its deactivation."""
        return 2 * self.window.wait_days if self.window is not None else 0

    def describe(self) -> str:
        return f"{self.rotate_after_days}/{self.deactivate_after_days}/{self.delete_after_days}"

    @property
    def overlap_days(self) -> int:
        """How long a replacement must exist before its predecessor is deactivated."""
        return self.deactivate_after_days - self.rotate_after_days


class ActionKind(StrEnum):
    ROTATE = "rotate"
    DEACTIVATE = "deactivate"
    DELETE = "delete"
    FINISH_ROTATION = "finish-rotation"
    DELETE_ORPHAN = "delete-orphan"
    CLEAR_INTENT = "clear-intent"
    BLOCKED = "blocked"
    # An old key was used after its replacement appeared and will be deactivated soon (or its
    # deactivation is deferred): announced by the worker, at most once a key a day.
    WARN_IN_USE = "warn-in-use"
    # Under the `adopt` policy: an old key's deactivation waits because nobody has used its
    # replacement yet; announced by the worker, at most once a key a day.
    WARN_NOT_ADOPTED = "warn-not-adopted"
    # The secret's current version is unusable (rekey.domain.lifecycle.current_problem) and a
    # rotation cannot repair it yet: announced with what to do.
    SECRET_BROKEN = "secret-broken"
    # The current key is pushed to the delivery destinations that do not hold it yet (a failed
    # push, a destination selected since): queued by the scan, never planned by decide().
    DELIVER = "deliver"
    # A rotation, deactivation or deletion that is due but held (`held`): outside the user's
    # rotation window, or by the hub's breaker or rollout waves. Neither queued nor announced.
    WAIT = "wait"


# Actions that change nothing in AWS: they are announced by the scan, never queued.
ANNOUNCE_ONLY = frozenset({ActionKind.BLOCKED, ActionKind.SECRET_BROKEN})
# What changes a key, and so waits for the rotation window (and the breaker, and the waves).
KEY_CHANGING = frozenset({ActionKind.ROTATE, ActionKind.DEACTIVATE, ActionKind.DELETE})
# Warnings the worker announces at most once a key a day.
WARNINGS = frozenset({ActionKind.WARN_IN_USE, ActionKind.WARN_NOT_ADOPTED})


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    key_id: str | None
    reason: str
    # For a deactivation or an in-use warning: the old key's use after its replacement
    # appeared, if any.
    in_use: KeyUse | None = field(default=None, compare=False)
    # For a rotation that repairs the secret: what was wrong with its current version.
    repairs: str | None = field(default=None, compare=False)
    # For a deactivation at its deadline: why its replacement's pickup is unconfirmed.
    unconfirmed: str | None = field(default=None, compare=False)
    # For a WAIT: the kind of action that waits.
    held: ActionKind | None = field(default=None, compare=False)

    def matches(self, kind: ActionKind, key_id: str | None) -> bool:
        return self.kind is kind and self.key_id == key_id
