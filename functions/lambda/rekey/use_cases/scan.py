"""Scan one account: decide what every tagged user's keys need, as work items and findings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain import errors
from ..domain.entities import Account, IamUser, ReportKey
from ..domain.lifecycle import decide, newest_active
from ..domain.models import ANNOUNCE_ONLY, AccessKey, Action, ActionKind, KeyStatus, Policy, SecretState
from ..domain.naming import secret_name
from ..domain.privilege import refusal
from ..domain.scope import Assessment, Scope, assess
from ..messages import Event, Notification, Severity, WorkAction, WorkItem
from ..ports import Ports
from .announce import foreign_secret, notice, publish, unwritable_secret

log = logging.getLogger(__name__)


@dataclass
class ScanResult:
    account_id: str
    account_name: str = ""
    users_in_scope: int = 0
    users_checked: int = 0
    items: list[WorkItem] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    error: str | None = None
    # Tagged users rekey leaves alone today, for the digest: `name (until YYYY-MM-DD)`.
    exempt: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)


def scan_account(ports: Ports, account: Account, sweep_id: str) -> ScanResult:
    """Decide what every tagged user's keys need in one account. Calls per account do not grow
    with untagged users; keys and secret are read only for users with something to do or say
    today, as the credential report and the secrets' listing show (quiet_today)."""
    s = ports.settings
    now = ports.now()
    result = ScanResult(account.account_id, account.name)

    def announce(event: Event, severity: Severity, message: str, user: IamUser, **fields: Any) -> None:
        result.notifications.append(
            notice(event, severity, account.account_id, message, now, user=user, sweep_id=sweep_id, **fields)
        )

    try:
        member = ports.account(account.account_id)
        users = member.iam.users_with_tag(s.tag_key)
        in_scope: list[tuple[IamUser, Policy]] = []
        for user in users:
            policy = _user_policy(ports, account.account_id, user, now, result)
            if policy is not None:
                in_scope.append((user, policy))
        result.users_in_scope = len(in_scope)
        if not in_scope:
            return result
        report = member.iam.credential_report()
        listed = member.secrets.listed()
        for user, policy in in_scope:
            name = secret_name(s.secret_name, user.name, account.account_id)
            mark = listed.get(name)
            if mark is not None and mark.paused_until is not None:
                pause = mark.bounded(now.date(), s.max_pause_days)[1]
                if pause is not None:
                    announce(Event.MISCONFIGURED, Severity.WARNING, pause, user, secret_name=name)
                elif mark.paused(now.date()):
                    result.paused.append(f"{user.name} (until {mark.paused_until})")
            report_keys = report.get(user.arn, [])
            if quiet_today(policy, report_keys, mark, s.max_pause_days, now):
                continue
            result.users_checked += 1
            record = member.secrets.read(name, resolve_foreign=False)
            if record.foreign:
                announce(Event.CONFLICT, Severity.ERROR, foreign_secret(name, user), user, secret_name=name)
                continue
            keys = member.iam.access_keys(user.name)
            state = record.state.bounded(now.date(), s.max_pause_days)[0]
            unwritable = unwritable_secret(name, record, user)
            plan = decide(keys, state, policy, now)
            if not any(a.kind is ActionKind.ROTATE for a in plan):
                plan += _check_current(keys, state)
            for action in plan:
                fields = {"key_id": action.key_id, "secret_name": name}
                if action.kind is ActionKind.ROTATE and unwritable is not None:
                    # Announced here, once a sweep, rather than queued for a worker that would refuse it.
                    announce(Event.SECRET_UNWRITABLE, Severity.ERROR, unwritable, user, **fields)
                elif action.kind is ActionKind.SECRET_BROKEN:
                    announce(Event.SECRET_BROKEN, Severity.ERROR, action.reason, user, **fields)
                elif action.kind in ANNOUNCE_ONLY:
                    announce(Event.BLOCKED, Severity.WARNING, action.reason, user, **fields)
                else:
                    result.items.append(
                        WorkItem(
                            account_id=account.account_id,
                            user_name=user.name,
                            key_id=action.key_id,
                            action=WorkAction(action.kind.value),
                            reason=action.reason,
                            sweep_id=sweep_id,
                        )
                    )
    except errors.RekeyError as exc:
        result.error = f"{exc.code}: {exc}"
        result.notifications.append(
            notice(
                Event.ACCOUNT_UNREACHABLE,
                Severity.ERROR,
                account.account_id,
                f"could not scan account {account.name or account.account_id}: {exc}",
                now,
                sweep_id=sweep_id,
            )
        )
    return result


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


def _check_current(keys: list[AccessKey], state: SecretState) -> list[Action]:
    """A current version the scan cannot read (its role has no GetSecretValue) is the worker's
    to check: a rotation item it re-decides with the value read, which repairs the secret if
    the value is unusable and is a no-op otherwise (the version is then marked checked)."""
    newest = newest_active(keys)
    if not state.current_unread or newest is None:
        return []
    return [Action(ActionKind.ROTATE, newest.key_id, "checks the secret's current version (written by someone else)")]


def assess_user(ports: Ports, user: IamUser, account_id: str, now: datetime) -> Assessment:
    """The user's standing today; a user whose policies were read is judged for privilege.
    The worker re-judges what the scan judged, with the user's policies read afresh."""
    s = ports.settings
    refused = refusal(user.arn, account_id, user.grants, s.guard) if user.grants is not None else None
    return assess(user.tags, s.tag_key, s.policy, s.bounds, now, refused)


def _user_policy(ports: Ports, account_id: str, user: IamUser, now: datetime, result: ScanResult) -> Policy | None:
    """The user's policy if in scope today; an exempt user is left alone quietly (the report and
    the digest list it), a misconfigured or refused one is announced and left alone."""
    assessment = assess_user(ports, user, account_id, now)
    if assessment.scope is Scope.MISCONFIGURED:
        message = f"left untouched: {assessment.why}"
        result.notifications.append(notice(Event.MISCONFIGURED, Severity.WARNING, account_id, message, now, user=user))
    elif assessment.scope is Scope.REFUSED:
        message = f"refused, never touched: {assessment.why}"
        result.notifications.append(notice(Event.REFUSED, Severity.ERROR, account_id, message, now, user=user))
    elif assessment.scope is Scope.EXEMPT and assessment.exemption is not None:
        result.exempt.append(f"{user.name} (until {assessment.exemption.until})")
    return assessment.policy if assessment.in_scope else None


def dispatch(ports: Ports, result: ScanResult) -> None:
    """Queue a scan's work items and announce what it found. Items that cannot be queued are the
    scan's error, and nothing is announced: the scan is retried (the sweep's is tomorrow's)."""
    try:
        if result.items:
            ports.work_queue().send(result.items)
    except errors.RekeyError as exc:
        result.error = f"{exc.code}: could not queue work items: {exc}"
        log.error("account %s: %s", result.account_id, result.error)
        return
    publish(ports, result.notifications)
