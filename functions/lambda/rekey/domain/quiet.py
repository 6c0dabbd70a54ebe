"""What the credential report and the secrets' listing tell about a user without reading its
keys or its secret: whether it certainly needs nothing today (the scan's quiet path)."""

from __future__ import annotations

from datetime import datetime

from .entities import ReportKey
from .lifecycle import decide
from .models import AccessKey, KeyStatus, Policy, SecretState


def quiet_today(
    policy: Policy, report_keys: list[ReportKey], listed: SecretState | None, max_pause_days: int, now: datetime
) -> bool:
    """Whether the user certainly needs nothing today, from what the scan has already: the
    credential report's keys (creation, status, last use) and the secret's tags and labels.
    Then its keys and secret are not read. Any doubt — a rotation in flight, a secret that may
    be broken, keys the report cannot tell apart — is a read, as is any action or warning."""
    if (listed is not None and listed.intent is not None) or suspect_secret(listed, report_keys):
        return False
    keys = report_view(report_keys, listed)
    if keys is None:
        return False
    state = (listed or SecretState()).bounded(now.date(), max_pause_days)[0]
    return not decide(keys, state, policy, now)


def report_view(report_keys: list[ReportKey], listed: SecretState | None) -> list[AccessKey] | None:
    """The user's keys as the report shows them, named as the secret's labels say: the newest is
    rekey's current key (rekey makes every key it creates current), an older one the key that
    rotation replaced (the report has no key ids; unknown ones get placeholders). None when
    the newest is ambiguous (two keys created the same second)."""
    current = listed.current_key_id if listed is not None else None
    previous = listed.previous_key_id if listed is not None else None
    ordered = sorted(report_keys, key=lambda k: k.created)
    if current and len(ordered) == 2 and ordered[0].created == ordered[1].created:
        return None
    names: list[str | None] = [None] * len(ordered)
    if current and ordered:
        names[-1] = current
        if len(ordered) == 2:
            names[0] = previous
    return [
        AccessKey(
            names[i] or f"access-key-{k.slot}",
            KeyStatus.ACTIVE if k.active else KeyStatus.INACTIVE,
            k.created,
            k.last_used,
        )
        for i, k in enumerate(ordered)
    ]


def suspect_secret(listed: SecretState | None, report_keys: list[ReportKey]) -> bool:
    """Whether a listed secret may fail its consumers though no key is due: its current version
    was written by someone else and not yet checked, or the credential report shows no active
    key where rekey's current one should be (the user's newest key, rekey's latest)."""
    if listed is None:
        return False
    if listed.current_unread:
        return True
    newest = max(report_keys, key=lambda k: k.created, default=None)
    return listed.current_key_id is not None and (newest is None or not newest.active)
