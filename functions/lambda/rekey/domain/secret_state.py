"""The state rekey keeps on a user's secret, and nowhere else (rekey keeps no database): the tag
names and staging labels, and how they are written and read back. Pure: the adapter
(rekey.adapters.secrets) makes the calls; docs/design.md ("rekey's state on the secret") lists
the tags. Everything read back is bounded and validated like any input: a value edited by hand
that does not parse is ignored (and logged), never trusted."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime

from .delivery import statuses
from .models import Intent, SecretState

log = logging.getLogger(__name__)

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
# A version holding a key is named after it: its id when rekey stores the key itself (so a
# retried PutSecretValue is a no-op), else a staging label beside AWSPENDING (Secrets Manager's
# rotation names the version itself). Either way the key is known without reading the value.
TOKEN_PREFIX = "rekey-access-key-"
# The user's UserId: the secret is rekey's (a secret without it is never read or written).
USER_ID_TAG = "rekey:user-id"
INTENT_AT_TAG = "rekey:rotation-started"
INTENT_KEYS_TAG = "rekey:rotation-known-keys"
# The version Secrets Manager's rotation stages the key in (its ClientRequestToken), with the
# intent: a step retried for the same rotation recognises its own intent.
INTENT_TOKEN_TAG = "rekey:rotation-token"
NO_KEYS = "none"
# Set by `rekey rollback`: the user's lifecycle waits until this day (inclusive). A tag on the
# secret, so the spoke role needs no IAM write beyond the key calls it already has.
PAUSED_UNTIL_TAG = "rekey:paused-until"
# `<key id> <YYYY-MM-DD>`: the last in-use warning, so a key is warned about at most once a day.
IN_USE_WARNED_TAG = "rekey:in-use-warned"
# The key the latest rotation replaces: names the key to roll back to after a user's first
# rotation, when the secret has no AWSPREVIOUS version (the old key was never stored). Written
# by every rotation (NO_KEYS for a first key), so none found on a secret rekey adopted survives.
REPLACED_KEY_TAG = "rekey:replaced-key"
# Keys `rekey rotate-now --revoke-old` revoked as leaked (space-separated, at most MAX_REVOKED):
# a rollback never reactivates them. Revocations are rare; a user with more has bigger problems.
REVOKED_TAG = "rekey:revoked-keys"
MAX_REVOKED = 10
# A current version someone else wrote (a handed-over secret) that rekey read and found usable:
# the scan need not have it read again until a new version appears.
CHECKED_TAG = "rekey:checked-version"


def version_token(key_id: str) -> str:
    """The ClientRequestToken of the version holding `key_id`: deterministic, so a retried
    PutSecretValue is a no-op, and readable, so the current key is known without the secret."""
    return TOKEN_PREFIX + key_id


def key_of(version_id: str | None, stages: dict[str, list[str]] | None = None) -> str | None:
    """The key a version holds, by its id or a label (see TOKEN_PREFIX); None: unknown."""
    for name in [version_id, *(stages or {}).get(version_id or "", [])]:
        if name and name.startswith(TOKEN_PREFIX):
            return name[len(TOKEN_PREFIX) :]
    return None


def intent_tags(at: datetime, known_key_ids: list[str], token: str | None, replaces: str | None) -> dict[str, str]:
    """The tags recording a rotation's intent (and the key it replaces)."""
    return {
        INTENT_AT_TAG: at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        INTENT_KEYS_TAG: " ".join(sorted(known_key_ids)) or NO_KEYS,
        INTENT_TOKEN_TAG: token or NO_KEYS,
        REPLACED_KEY_TAG: replaces or NO_KEYS,
    }


INTENT_TAGS = (INTENT_AT_TAG, INTENT_KEYS_TAG, INTENT_TOKEN_TAG)


def revoked_value(key_id: str, revoked: frozenset[str]) -> str:
    """The revoked keys' tag value once `key_id` is revoked too (the latest MAX_REVOKED)."""
    return " ".join([*sorted(revoked - {key_id}), key_id][-MAX_REVOKED:])


def warned_value(key_id: str, day: date) -> str:
    return f"{key_id} {day.isoformat()}"


def staged(stages: dict[str, list[str]], stage: str) -> str | None:
    """The version holding `stage` (AWSPENDING: only while it is not current too)."""
    return next((v for v, s in stages.items() if stage in s and (stage != PENDING or CURRENT not in s)), None)


def listed_state(stages: dict[str, list[str]], tags: dict[str, str]) -> SecretState:
    """What the staging labels and tags say, without reading a value. A current version
    someone else wrote leaves the current key unknown, and unread unless it was checked."""
    current = staged(stages, CURRENT)
    current_key = key_of(current, stages)
    return SecretState(
        exists=True,
        current_key_id=current_key,
        pending_key_id=key_of(staged(stages, PENDING), stages),
        # AWSPREVIOUS names the key the last completed rotation replaced; the tag covers a
        # first rotation. A foreign previous version: see stage_key_id.
        previous_key_id=key_of(staged(stages, PREVIOUS), stages) or _replaced(tags.get(REPLACED_KEY_TAG)),
        intent=_intent(tags),
        paused_until=_day(tags.get(PAUSED_UNTIL_TAG)),
        in_use_warned=_warned(tags.get(IN_USE_WARNED_TAG)),
        revoked_key_ids=frozenset(tags.get(REVOKED_TAG, "").split()),
        current_unread=bool(current and current_key is None and tags.get(CHECKED_TAG) != current),
        deliveries=statuses(tags),
    )


def _replaced(value: str | None) -> str | None:
    return None if value in (None, "", NO_KEYS) else value


def parse_value(text: str | None) -> tuple[str | None, str | None]:
    """(key id, None) from a version's SecretString, or (None, why it cannot serve a consumer)."""
    if text is None:
        return None, "the secret's current version holds binary data, not the JSON rekey and its consumers read"
    try:
        value = json.loads(text)
    except ValueError:
        return None, "the secret's current version is not JSON"
    fields = [value.get(f) if isinstance(value, dict) else None for f in ("AccessKey", "SecretKey")]
    if not all(isinstance(f, str) and f for f in fields):
        return None, "the secret's current version has no AccessKey or no SecretKey"
    return fields[0], None


def _day(value: str | None) -> date | None:
    """A tag's date; an unreadable one (edited by hand) is ignored, and logged."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        log.warning("ignoring the secret tag value %r: not a date YYYY-MM-DD", value)
        return None


def _warned(value: str | None) -> tuple[str, date] | None:
    key_id, _, day = (value or "").partition(" ")
    parsed = _day(day) if key_id else None
    return (key_id, parsed) if parsed else None


def _intent(tags: dict[str, str]) -> Intent | None:
    started = tags.get(INTENT_AT_TAG)
    if not started:
        return None
    try:
        at = datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return None
    known = tags.get(INTENT_KEYS_TAG, NO_KEYS)
    token = tags.get(INTENT_TOKEN_TAG, NO_KEYS)
    keys = frozenset() if known == NO_KEYS else frozenset(known.split())
    return Intent(at, keys, None if token == NO_KEYS else token)
