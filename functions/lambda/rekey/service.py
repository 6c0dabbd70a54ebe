"""Use cases: sweep the organization, scan one account, carry out one work item.

Shared by the Lambda handlers, the CLI and the local runtime."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from .adapters.iam import IamUser, NewKey, ReportKey
from .adapters.organizations import Account, OrganizationsAdapter
from .adapters.secrets import OWNER_TAG
from .adapters.sts import Credentials
from .domain import errors
from .domain.lifecycle import decide, describe_use, rotation_in_flight
from .domain.manual import Request, decide_request
from .domain.models import ANNOUNCE_ONLY, WARNINGS, AccessKey, Action, ActionKind, KeyStatus, Policy
from .domain.naming import secret_name
from .domain.policy import OptIn, opt_in, owner
from .domain.privilege import refusal
from .domain.scope import Assessment, Scope, assess
from .domain.secret_policy import secret_policy
from .messages import Event, Notification, ScanRequest, Severity, WorkAction, WorkItem
from .runtime import Runtime

log = logging.getLogger(__name__)

# How long the worker trusts its list of the organization's accounts.
ACCOUNTS_TTL = timedelta(minutes=10)
# Backoff while a new key propagates through IAM (eventually consistent: seconds).
VERIFY_DELAYS = (1, 2, 4, 8, 15)


def new_sweep_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def notice(
    event: Event,
    severity: Severity,
    account_id: str,
    message: str,
    at: datetime,
    *,
    user: IamUser | None = None,
    user_name: str | None = None,
    **fields: Any,
) -> Notification:
    return Notification(
        event=event,
        severity=severity,
        account_id=account_id,
        user_name=user.name if user else user_name,
        owner=owner(user.tags) if user else None,
        message=message,
        at=at,
        **fields,
    )


def publish(rt: Runtime, notifications: Iterable[Notification]) -> int:
    """Publish, logging (not raising) a failed announcement: the action it reports is done."""
    failed = 0
    notifier = rt.notifier()
    for n in notifications:
        log.info("event %s account=%s user=%s: %s", n.event.value, n.account_id, n.user_name, n.message)
        try:
            notifier.publish(n)
        except errors.RekeyError as exc:
            failed += 1
            log.error("could not announce %s for %s/%s: %s", n.event.value, n.account_id, n.user_name, exc)
    return failed


# --------------------------------------------------------------------------- scan


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


def scan_account(rt: Runtime, account: Account, sweep_id: str) -> ScanResult:
    """Decide what every tagged user's keys need in one account. Calls per account do not grow
    with untagged users; keys are listed only for users the credential report shows may be due."""
    s = rt.settings
    now = rt.now()
    result = ScanResult(account.account_id, account.name)

    def announce(event: Event, severity: Severity, message: str, user: IamUser, **fields: Any) -> None:
        result.notifications.append(
            notice(event, severity, account.account_id, message, now, user=user, sweep_id=sweep_id, **fields)
        )

    try:
        adapters = rt.clients.account(account.account_id)
        users = adapters.iam.users_with_tag(s.tag_key)
        in_scope: list[tuple[IamUser, Policy]] = []
        for user in users:
            policy = _user_policy(rt, account.account_id, user, now, result)
            if policy is not None:
                in_scope.append((user, policy))
        result.users_in_scope = len(in_scope)
        if not in_scope:
            return result
        report = adapters.iam.credential_report()
        marked = adapters.secrets.marked()
        for user, policy in in_scope:
            name = secret_name(s.secret_name, user.name, account.account_id)
            mark = marked.get(name)
            if mark is not None and mark.paused_until is not None:
                pause = mark.bounded(now.date(), s.max_pause_days)[1]
                if pause is not None:
                    announce(Event.MISCONFIGURED, Severity.WARNING, pause, user, secret_name=name)
                elif mark.paused(now.date()):
                    result.paused.append(f"{user.name} (until {mark.paused_until})")
            in_flight = mark is not None and mark.intent is not None
            if not (may_be_due(policy, report.get(user.arn, []), now) or in_flight):
                continue
            result.users_checked += 1
            record = adapters.secrets.read(name, resolve_foreign=False)
            if record.foreign:
                announce(Event.CONFLICT, Severity.ERROR, foreign_secret(name, user), user, secret_name=name)
                continue
            keys = adapters.iam.access_keys(user.name)
            state = record.state.bounded(now.date(), s.max_pause_days)[0]
            for action in decide(keys, state, policy, now):
                if action.kind in ANNOUNCE_ONLY:
                    announce(
                        Event.BLOCKED, Severity.WARNING, action.reason, user, key_id=action.key_id, secret_name=name
                    )
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


def foreign_secret(name: str, user: IamUser) -> str:
    """The conflict announcement: what is wrong and how an operator hands the secret over."""
    return (
        f"{name} exists but rekey did not create it; it is left as it is and {user.name} is not rotated. "
        f"Move or delete it so rekey creates its own, or hand it over by tagging it {OWNER_TAG}={user.user_id} "
        "(see README, Security model)"
    )


def _age(now: datetime, created: datetime) -> int:
    return AccessKey("-", KeyStatus.ACTIVE, created).age_days(now)


def may_be_due(policy: Policy, report_keys: list[ReportKey], now: datetime) -> bool:
    """Whether the credential report's view of a user's keys may need an action today: a key
    old enough to rotate or to be warned about, or (with create-first-key) no key at all.
    Cheap: it saves reading keys and secret for every other user."""
    if not report_keys:
        return policy.create_first_key
    threshold = min(policy.rotate_after_days, policy.deactivate_after_days - policy.in_use_warn_days)
    return any(_age(now, k.created) >= threshold for k in report_keys)


def assess_user(rt: Runtime, user: IamUser, account_id: str, now: datetime) -> Assessment:
    """The user's standing today; a user whose policies were read is judged for privilege."""
    s = rt.settings
    refused = refusal(user.arn, account_id, user.grants, s.guard) if user.grants is not None else None
    return assess(user.tags, s.tag_key, s.policy, s.bounds, now, refused)


def _user_policy(rt: Runtime, account_id: str, user: IamUser, now: datetime, result: ScanResult) -> Policy | None:
    """The user's policy if in scope today; an exempt user is left alone quietly (the report and
    the digest list it), a misconfigured or refused one is announced and left alone."""
    assessment = assess_user(rt, user, account_id, now)
    if assessment.scope is Scope.MISCONFIGURED:
        message = f"left untouched: {assessment.why}"
        result.notifications.append(notice(Event.MISCONFIGURED, Severity.WARNING, account_id, message, now, user=user))
    elif assessment.scope is Scope.REFUSED:
        message = f"refused, never touched: {assessment.why}"
        result.notifications.append(notice(Event.REFUSED, Severity.ERROR, account_id, message, now, user=user))
    elif assessment.scope is Scope.EXEMPT and assessment.exemption is not None:
        result.exempt.append(f"{user.name} (until {assessment.exemption.until})")
    return assessment.policy if assessment.in_scope else None


def dispatch(rt: Runtime, result: ScanResult) -> None:
    """Queue a scan's work items and announce what it found."""
    if result.items:
        rt.work_queue().send(result.items)
    publish(rt, result.notifications)


# --------------------------------------------------------------------------- sweep


@dataclass
class SweepResult:
    sweep_id: str
    accounts: list[ScanResult]

    @property
    def failed(self) -> list[ScanResult]:
        return [a for a in self.accounts if a.error]

    @property
    def items(self) -> list[WorkItem]:
        return [i for a in self.accounts for i in a.items]


def accounts_to_sweep(rt: Runtime) -> list[Account]:
    """ACTIVE accounts, less REKEY_EXCLUDED_ACCOUNTS, and only those under REKEY_TARGET_OUS
    when set."""
    organizations = OrganizationsAdapter(rt.clients.hub("organizations"))
    accounts = [a for a in organizations.active_accounts() if a.account_id not in rt.settings.excluded_accounts]
    if rt.settings.target_ous:
        under = organizations.accounts_under(sorted(rt.settings.target_ous))
        accounts = [a for a in accounts if a.account_id in under]
    return accounts


def sweep(rt: Runtime, sweep_id: str, *, dry_run: bool = False) -> SweepResult:
    """One sweep in-process: scan every account (bounded thread pool), queue and announce.
    One account's failure never stops the others."""

    def one(account: Account) -> ScanResult:
        result = scan_account(rt, account, sweep_id)
        if not dry_run:
            try:
                dispatch(rt, result)
            except errors.RekeyError as exc:
                result.error = f"{exc.code}: could not queue work items: {exc}"
                log.error("account %s: %s", account.account_id, result.error)
        return result

    accounts = accounts_to_sweep(rt)
    with ThreadPoolExecutor(max_workers=rt.settings.scan_concurrency) as pool:
        results = list(pool.map(one, accounts))
    return SweepResult(sweep_id, results)


def fan_out(rt: Runtime, sweep_id: str) -> list[Account]:
    """The Lambda sweep: one scan request per account on the scan queue; the accounts."""
    accounts = accounts_to_sweep(rt)
    rt.scan_queue().send(
        [ScanRequest(account_id=a.account_id, account_name=a.name, sweep_id=sweep_id) for a in accounts]
    )
    return accounts


# --------------------------------------------------------------------------- worker


@dataclass
class WorkOutcome:
    item: WorkItem
    status: str  # done | noop | rejected
    detail: str
    performed: list[Action] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)


@dataclass(frozen=True)
class OperatorRequest:
    """An operator's request (`rekey rotate-now`, the classic manual event): acts regardless of
    age and exemption, within the same invariants (rekey.domain.manual). Never read from a
    queue: it is built in-process, under the caller's own credentials. `requested_by` is the
    caller's ARN as STS tells it (or the classic event's fixed label), never text a sender chose."""

    requested_by: str
    revoke_old: bool = False


def run_work_item(
    rt: Runtime,
    item: WorkItem,
    *,
    request: OperatorRequest | None = None,
    announced: list[Notification] | None = None,
) -> WorkOutcome:
    """Carry out one work item if it still holds: re-check the account, the tag and the user's
    privileges, re-read keys and secret, re-decide, then perform the fresh plan up to and
    including the item's action (what must come first, such as making room, is done first).
    Stale or duplicate items are no-ops. With `request`, the item is an operator's request.
    Raises a domain error when the item should be retried. `announced` receives what was
    announced, also when it raises (what was done before the failure)."""
    worker = _Worker(rt, item, request)
    if announced is not None:
        worker.notifications = announced
    try:
        return worker.run()
    except _Deferred as deferred:  # another worker got there first: not a failure
        return worker._outcome("noop", str(deferred))
    finally:  # what was done is announced even when a later step fails
        publish(rt, worker.notifications)


def account_refusal(rt: Runtime, account_id: str) -> str | None:
    """Why rekey must not act in this account (excluded, outside REKEY_TARGET_OUS, not an
    ACTIVE member of the organization), or None. The organization's accounts are listed at
    most every ACCOUNTS_TTL per process."""
    if account_id in rt.settings.excluded_accounts:
        return f"account {account_id} is excluded (REKEY_EXCLUDED_ACCOUNTS)"
    cache = rt.accounts_in_scope
    now = rt.now()
    if not cache or now - cache[0] > ACCOUNTS_TTL or now < cache[0]:
        cache[:] = [now, frozenset(a.account_id for a in accounts_to_sweep(rt))]
    if account_id not in cache[1]:
        where = " inside REKEY_TARGET_OUS" if rt.settings.target_ous else ""
        return f"account {account_id} is not an ACTIVE account of the organization{where}"
    return None


class _Deferred(Exception):
    """Another worker is acting on the same user (it created the secret or a key since this
    one read them): this one stops quietly; the next sweep re-reads and re-decides."""


class _Worker:
    def __init__(self, rt: Runtime, item: WorkItem, request: OperatorRequest | None = None) -> None:
        self.rt = rt
        self.item = item
        self.request = request
        self.now = rt.now()
        self.notifications: list[Notification] = []

    def _notice(self, event: Event, severity: Severity, message: str, user: IamUser | None, **fields: Any) -> None:
        self.notifications.append(
            notice(
                event,
                severity,
                self.item.account_id,
                message,
                self.now,
                user=user,
                user_name=self.item.user_name,
                sweep_id=self.item.sweep_id,
                **fields,
            )
        )

    def _outcome(self, status: str, detail: str, performed: list[Action] | None = None) -> WorkOutcome:
        log.info(
            "work item %s %s/%s %s: %s",
            self.item.action.value,
            self.item.account_id,
            self.item.user_name,
            status,
            detail,
        )
        return WorkOutcome(self.item, status, detail, performed or [], self.notifications)

    def run(self) -> WorkOutcome:
        s = self.rt.settings
        item = self.item
        outside = account_refusal(self.rt, item.account_id)
        if outside is not None:
            self._notice(Event.REJECTED, Severity.ERROR, f"work item refused: {outside}", None)
            return self._outcome("rejected", outside)
        adapters = self.rt.clients.account(item.account_id, write=True)
        self.iam, self.secrets = adapters.iam, adapters.secrets
        try:
            user = self.iam.get_user(item.user_name, with_grants=True)
        except errors.NotFound:
            self._notice(Event.REJECTED, Severity.WARNING, "work item for a user that does not exist; ignored", None)
            return self._outcome("rejected", "no such user")
        state, why = opt_in(user.tags, s.tag_key)
        if state is not OptIn.IN:
            self._notice(Event.REJECTED, Severity.WARNING, f"work item for a user not opted in ({why}); ignored", user)
            return self._outcome("rejected", why)
        assessment = assess_user(self.rt, user, item.account_id, self.now)
        if assessment.scope is Scope.REFUSED:  # whoever asked, an operator included
            self._notice(Event.REFUSED, Severity.ERROR, f"refused, never touched: {assessment.why}", user)
            return self._outcome("rejected", assessment.why)
        # An operator's request acts regardless of an exemption or invalid policy tags: it
        # uses no ages, and the opt-in tag (all the spoke role checks) is there.
        policy = assessment.policy or s.policy
        if self.request is None and assessment.scope is Scope.MISCONFIGURED:
            self._notice(Event.MISCONFIGURED, Severity.WARNING, f"left untouched: {assessment.why}", user)
            return self._outcome("rejected", assessment.why)
        if self.request is None and assessment.scope is Scope.EXEMPT:
            return self._outcome("noop", assessment.why)
        self.user = user
        self.name = secret_name(s.secret_name, user.name, item.account_id)
        record = self.secrets.read(self.name)
        if record.foreign:
            self._notice(Event.CONFLICT, Severity.ERROR, foreign_secret(self.name, user), user, secret_name=self.name)
            return self._outcome("rejected", "a secret rekey did not create holds the user's secret name")
        if record.owner_user_id != user.user_id and record.state.exists:
            self._notice(
                Event.BLOCKED,
                Severity.ERROR,
                f"secret {self.name} belongs to another user; set a distinct secret name",
                user,
                secret_name=self.name,
            )
            return self._outcome("rejected", "secret name collision")
        # A pause longer than rekey ever sets was written by hand: ignored (the scan announces it).
        record = replace(record, state=record.state.bounded(self.now.date(), s.max_pause_days)[0])
        keys = self.iam.access_keys(user.name)
        self.record = record
        self.keys = {k.key_id: k for k in keys}
        if rotation_in_flight(record.state, self.now):
            # Its worker may be about to store the key it created: acting now could remove
            # that key as an orphan. The next run settles it if the worker died.
            return self._outcome("noop", "a rotation of this user began minutes ago and may still be running")
        if self.request is not None:
            return self._run_request(self.request, keys, policy)
        plan = decide(keys, record.state, policy, self.now)
        wanted = item.action.kind
        position = next((i for i, a in enumerate(plan) if a.matches(wanted, item.key_id)), None)
        if position is None:
            foreign = item.key_id and item.key_id not in self.keys
            if foreign and self.iam.key_owner(item.key_id) not in (None, user.name):  # type: ignore[arg-type]
                # Not stale (the user's key, since deleted) but forged or misrouted: say so.
                self._notice(
                    Event.REJECTED,
                    Severity.WARNING,
                    f"work item names {item.key_id}, a key of another user; ignored",
                    user,
                    key_id=item.key_id,
                )
                return self._outcome("rejected", "the key belongs to another user")
            return self._outcome("noop", "no longer needed (already done, or the keys changed)")
        todo = [a for a in plan[: position + 1] if a.kind not in ANNOUNCE_ONLY]
        for action in todo:
            self._perform(action)
        return self._outcome("done", "; ".join(a.kind.value for a in todo), todo)

    def _run_request(self, operator: OperatorRequest, keys: list[AccessKey], policy: Policy) -> WorkOutcome:
        """An operator's request: decided by decide_request(), within the same invariants."""
        item = self.item
        who = f" by {operator.requested_by}"
        request = Request(
            item.action.kind,
            item.key_id,
            revoke_old=operator.revoke_old,
            create_first_key=policy.create_first_key,
            reason=f"requested{who}" + (f": {item.reason}" if item.reason else ""),
        )
        plan = decide_request(request, keys, self.record.state, self.now)
        for action in plan.actions:
            self._perform(action)
            if operator.revoke_old and action.kind is ActionKind.DEACTIVATE and action.key_id:
                # Revoked as leaked: a rollback must never bring it back.
                self.secrets.mark_revoked(self.name, action.key_id, self.record.state.revoked_key_ids)
        if plan.refused:
            self._notice(
                Event.REJECTED,
                Severity.WARNING,
                f"{item.action.value} requested{who} refused: {plan.refused}",
                self.user,
                key_id=item.key_id,
                secret_name=self.name,
            )
            return self._outcome("rejected", plan.refused, plan.actions)
        if plan.skipped:
            return self._outcome("noop", plan.skipped, plan.actions)
        return self._outcome("done", "; ".join(a.kind.value for a in plan.actions), plan.actions)

    # -- actions

    def _perform(self, action: Action) -> None:
        kind, key_id = action.kind, action.key_id
        if kind is ActionKind.ROTATE:
            self._rotate(action)
        elif kind is ActionKind.FINISH_ROTATION:
            assert key_id
            secret = self.secrets.staged_secret(self.name, key_id)
            self._verify(NewKey(key_id, secret, self.keys[key_id].created))
            self.secrets.promote(self.name, key_id, self.record.current_version_id)
            self._notice(
                Event.ROTATED,
                Severity.INFO,
                f"finished an interrupted rotation: {key_id} is now current in {self.name}",
                self.user,
                new_key_id=key_id,
                secret_name=self.name,
            )
        elif kind is ActionKind.CLEAR_INTENT:
            self.secrets.clear_intent(self.name)
        elif kind in WARNINGS:
            assert key_id
            if kind is ActionKind.WARN_IN_USE:
                self._notice(Event.IN_USE, Severity.WARNING, action.reason, self.user, **self._use_fields(action))
            else:
                fields = {"key_id": key_id, "secret_name": self.name}
                self._notice(Event.NOT_ADOPTED, Severity.WARNING, action.reason, self.user, **fields)
            if self.record.state.exists:  # at most once a key a day: decide() reads this back
                self.secrets.mark_in_use_warned(self.name, key_id, self.now.date())
        elif kind is ActionKind.DEACTIVATE:
            assert key_id
            if action.in_use is not None:
                self._notice(
                    Event.IN_USE,
                    Severity.WARNING,
                    f"{key_id} was used after its replacement was created ({describe_use(action.in_use)}); "
                    "deactivating it now",
                    self.user,
                    **self._use_fields(action),
                )
            self.iam.set_status(self.user.name, key_id, KeyStatus.INACTIVE)
            self._notice(
                Event.DEACTIVATED,
                Severity.INFO,
                f"deactivated {key_id}: {action.reason}",
                self.user,
                key_id=key_id,
                secret_name=self.name,
            )
        elif kind in (ActionKind.DELETE, ActionKind.DELETE_ORPHAN):
            assert key_id
            try:
                if kind is ActionKind.DELETE_ORPHAN:
                    # Never delete an active key: retire the orphan first.
                    self.iam.set_status(self.user.name, key_id, KeyStatus.INACTIVE)
                self.iam.delete_key(self.user.name, key_id)
            except errors.NotFound:
                # Gone already: a retry whose first answer was lost, or another worker.
                log.info("%s of %s was already deleted", key_id, self.user.name)
            self.keys.pop(key_id, None)
            self._notice(
                Event.DELETED,
                Severity.INFO,
                f"deleted {key_id}: {action.reason}",
                self.user,
                key_id=key_id,
                secret_name=self.name,
            )
        else:  # pragma: no cover - decide() returns no other kinds
            raise AssertionError(kind)

    def _use_fields(self, action: Action) -> dict[str, Any]:
        use = action.in_use
        assert use is not None
        return {
            "key_id": action.key_id,
            "secret_name": self.name,
            "last_used_at": use.at,
            "last_used_service": use.service,
            "last_used_region": use.region,
        }

    def _rotate(self, action: Action) -> None:
        s = self.rt.settings
        replicas = s.secret_replicas()
        missing = self.record.missing_replicas(replicas) if self.record.state.exists else []
        if missing:
            # A secret from before REKEY_SECRET_REPLICA_REGIONS named these regions: replicated at
            # its user's rotation, before the new key exists. Secrets Manager keeps every replica's
            # versions, stages, tags and resource policy in sync with the primary from then on.
            self.secrets.replicate(self.name, missing)
        try:
            self.secrets.begin_rotation(
                self.name,
                exists=self.record.state.exists,
                owner_user_id=self.user.user_id,
                known_key_ids=sorted(self.keys),
                at=self.now,
                policy=secret_policy(self.user.arn, s.spoke_role_arn(self.item.account_id), s.break_glass_role_arn),
                kms_key_id=s.kms_key_id,
                replaces=action.key_id,
                replicas=replicas,  # a new secret is created with its replicas
            )
        except errors.Conflict:
            # The secret was created since it was read: by another worker rotating this user
            # (or under another user's name, which the next attempt's owner check reports).
            raise _Deferred(f"{self.name} was created meanwhile; rotation left to whoever created it") from None
        try:
            new = self.iam.create_key(self.user.name)
        except errors.LimitExceeded:
            # Someone made a key since the keys were read (another worker, a person): nothing
            # was created here; the next sweep re-reads and re-decides.
            raise _Deferred(f"{self.user.name} has two keys already; left to whoever made the second") from None
        try:
            self.secrets.stage(self.name, new, first=self.record.current_version_id is None)
        except errors.RekeyError:
            self._discard(new.key_id)
            raise
        self._verify(new)
        # A secret with no version before this one made the staged version current already.
        self.secrets.promote(self.name, new.key_id, self.record.current_version_id)
        self.secrets.clear_intent(self.name)
        replaced = f"to replace {action.key_id}" if action.key_id else "as the user's first key"
        self._notice(
            Event.ROTATED,
            Severity.INFO,
            f"created {new.key_id} {replaced}: {action.reason}; stored as the current version of {self.name}",
            self.user,
            key_id=action.key_id,
            new_key_id=new.key_id,
            secret_name=self.name,
        )

    def _discard(self, key_id: str) -> None:
        """Remove a key whose secret could not be stored: nobody can ever use it."""
        try:
            self.iam.set_status(self.user.name, key_id, KeyStatus.INACTIVE)
            self.iam.delete_key(self.user.name, key_id)
        except errors.RekeyError as exc:  # the intent lets the next attempt remove it
            log.error("could not remove unstored key %s of %s: %s", key_id, self.user.name, exc)

    def _verify(self, key: NewKey) -> None:
        """Sign sts:GetCallerIdentity with the new key; IAM needs seconds to accept it."""
        sts = self.rt.key_sts(Credentials(key.key_id, key.secret_access_key))
        sleep = self.rt.sleep or time.sleep
        last: Exception | None = None
        for delay in (0, *VERIFY_DELAYS):
            sleep(delay)
            try:
                arn = sts.caller_arn()
            except errors.RekeyError as exc:
                last = exc
                continue
            if arn == self.user.arn:
                return
            raise errors.KeyVerificationFailed(f"{key.key_id} signs as {arn}, not {self.user.arn}")
        raise errors.KeyVerificationFailed(f"{key.key_id} was not accepted by STS: {last}")
