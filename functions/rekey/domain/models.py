"""Plain value objects of the key lifecycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

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
        """Whole days since creation (UTC), never negative."""
        return max(0, int((now - self.created).total_seconds() // SECONDS_PER_DAY))


@dataclass(frozen=True)
class Intent:
    """A rotation that began: recorded before the new key exists, so a key created by a
    crashed attempt is recognised as an orphan rather than a human's key."""

    started_at: datetime
    known_key_ids: frozenset[str]


@dataclass(frozen=True)
class SecretState:
    """What the user's secret says: which key is current, which one is staged, and whether a
    rotation is in flight. `exists=False` means no secret yet (the user was never rotated)."""

    exists: bool = False
    current_key_id: str | None = None
    pending_key_id: str | None = None
    intent: Intent | None = None


@dataclass(frozen=True)
class Policy:
    """Ages in days at which a key is rotated, deactivated and deleted."""

    rotate_after_days: int = 90
    deactivate_after_days: int = 100
    delete_after_days: int = 110

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


# Actions that change nothing in AWS: they are announced by the scan, never queued.
ANNOUNCE_ONLY = frozenset({ActionKind.BLOCKED})


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    key_id: str | None
    reason: str
    # For a deactivation: the old key's use after its replacement appeared, if any.
    in_use: KeyUse | None = field(default=None, compare=False)

    def matches(self, kind: ActionKind, key_id: str | None) -> bool:
        return self.kind is kind and self.key_id == key_id
