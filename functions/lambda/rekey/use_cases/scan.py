"""Scan one account: decide what every tagged user's keys need, as work items and findings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from ..domain import errors
from ..domain.delivery import DELIVER_TAG, selected, undelivered
from ..domain.delivery import refusal as delivery_refusal
from ..domain.entities import Account, IamUser, ReportKey, SecretRecord
from ..domain.findings import KeyState, UserFinding, archived, asff, pickup_unconfirmed, stale, to_import
from ..domain.lifecycle import decide, held, newest_active, pickup_wait, use_matters
from ..domain.models import ANNOUNCE_ONLY, KEY_CHANGING, AccessKey, Action, ActionKind, Policy, SecretState
from ..domain.naming import secret_name
from ..domain.privilege import refusal
from ..domain.quiet import quiet_today, report_view
from ..domain.scope import Assessment, Scope, assess
from ..messages import Event, Notification, ScanRequest, Severity, WorkAction, WorkItem
from ..ports import AccountIam, MemberAccount, Ports
from ..settings import Settings
from .advise import advise_in_scan
from .announce import foreign_secret, notice, unwritable_secret
from .rollout import hold_for
from .scope import account_refusal

log = logging.getLogger(__name__)


# A scan stops starting users once this share of its time is left (Lambda's remaining time when
# it began): enough for a user under throttling, the last batch of items, the findings (read back
# and imported since issue 33) and the continuation. A third was sometimes too little under IAM's
# throttling (tests/integration/test_due_account.py overran its part about one run in fifteen).
RESERVE_SHARE = 1 / 2
ITEMS_PER_SEND = 10  # SendMessageBatch's maximum


@dataclass(frozen=True)
class Resume:
    """Where a scan continues: after the user named `after` (users are taken in name order),
    with what the parts before it did."""

    after: str
    part: int
    users_checked: int = 0
    items_queued: int = 0

    @classmethod
    def of(cls, request: ScanRequest) -> Resume | None:
        """Where `request` continues an account's scan; None for an account's first part."""
        if request.after is None:
            return None
        return cls(request.after, request.part, request.users_checked, request.items_queued)


@dataclass
class ScanResult:
    account_id: str
    account_name: str = ""
    users_in_scope: int = 0
    # This part's (a scan that stopped early continues in another part; see `continuation`).
    users_checked: int = 0
    items: list[WorkItem] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    error: str | None = None
    # Why the account was not entered at all: it is outside rekey's scope (rekey.use_cases.scope).
    refused: str | None = None
    # Tagged users rekey leaves alone today, for the digest: `name (until YYYY-MM-DD)`.
    exempt: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    # The advisor's counts by recommendation, when it ran with this scan (REKEY_ADVISOR).
    advice: dict[str, int] = field(default_factory=dict)
    resumed: Resume | None = None  # where this part began, None for an account's first
    stopped_after: str | None = None  # the last user done, when it stopped before its deadline
    # Why the hub held this account's key changes (the breaker, the rollout's waves), if it did.
    held: str | None = None

    @property
    def finished(self) -> bool:
        """Nothing of the account's scan is left for a later part: it is done, or it failed."""
        return self.stopped_after is None or self.error is not None

    @property
    def part(self) -> int:
        return self.resumed.part if self.resumed else 1

    @property
    def total_checked(self) -> int:
        return self.users_checked + (self.resumed.users_checked if self.resumed else 0)

    @property
    def total_queued(self) -> int:
        return len(self.items) + (self.resumed.items_queued if self.resumed else 0)

    def continuation(self, request: ScanRequest) -> ScanRequest | None:
        """The request for the account's next part, if this one (`request`) stopped early.
        Raises pydantic's ValidationError past the request's bounds (MAX_SCAN_PARTS)."""
        if self.stopped_after is None or self.error:
            return None
        rest = Resume(self.stopped_after, self.part + 1, self.total_checked, self.total_queued)
        return ScanRequest.model_validate({**request.model_dump(), **asdict(rest)})


class _Unqueued(Exception):
    """Work items could not be queued (the scan fails and is retried; nothing is announced)."""


def scan_account(
    ports: Ports,
    account: Account,
    sweep_id: str,
    *,
    resume: Resume | None = None,
    send: Callable[[Sequence[WorkItem]], None] | None = None,
    time_left: Callable[[], float] | None = None,
) -> ScanResult:
    """Decide what every tagged user's keys need in one account. Calls per account do not grow
    with untagged users; keys and secret are read only for users with something to do or say
    today, as the credential report and the secrets' listing show (quiet_today).

    Work items go to `send` as they are found, in batches (a retried scan sends some again: the
    queue drops duplicates for 5 minutes, and the worker re-decides every item). With
    `time_left` (seconds), the scan stops starting users once a third of its time is left and
    says where it stopped (`stopped_after`); `resume` continues such a scan. Users are taken in
    name order; each part finishes at least one."""
    scan = _Scan(ports, ScanResult(account.account_id, account.name, resumed=resume), sweep_id, send)
    try:
        # Whoever queued the request: an account outside rekey's scope is never entered.
        scan.result.refused = account_refusal(ports, account.account_id)
        if scan.result.refused is not None:
            message = f"scan request refused, account not entered: {scan.result.refused}"
            refused = notice(Event.REJECTED, Severity.ERROR, account.account_id, message, scan.now, sweep_id=sweep_id)
            scan.result.notifications.append(refused)
            return scan.result
        scan.run(resume, time_left)
    except _Unqueued as exc:
        # Nothing is announced: the retry finds it all again.
        scan.result.error = str(exc)
        scan.result.notifications.clear()
        log.error("account %s: %s", account.account_id, exc)
    except errors.RekeyError as exc:
        scan.result.error = f"{exc.code}: {exc}"
        scan.result.notifications.append(
            notice(
                Event.ACCOUNT_UNREACHABLE,
                Severity.ERROR,
                account.account_id,
                f"could not scan account {account.name or account.account_id}: {exc}",
                scan.now,
                sweep_id=sweep_id,
            )
        )
    return scan.result


class _Scan:
    """One scan (or part of one) of one account: what it found, and its batch of items not yet sent."""

    def __init__(
        self, ports: Ports, result: ScanResult, sweep_id: str, send: Callable[[Sequence[WorkItem]], None] | None
    ) -> None:
        self.ports = ports
        self.result = result
        self.sweep_id = sweep_id
        self.now = ports.now()
        self._send = send
        self._batch: list[WorkItem] = []
        # Read by `run` before it takes the users.
        self.member: MemberAccount
        self.report: dict[str, list[ReportKey]] = {}
        self.listed: dict[str, SecretState] = {}
        # Each tagged user this part judged, for its Security Hub finding.
        self._judged: list[tuple[IamUser, KeyState, str]] = []
        self._hold: tuple[str | None] | None = None

    def run(self, resume: Resume | None, time_left: Callable[[], float] | None) -> None:
        s, result = self.ports.settings, self.result
        reserve = time_left() * RESERVE_SHARE if time_left is not None else 0.0
        self.member = self.ports.account(result.account_id)
        # Started first, fetched once the users are paged: IAM generates it meanwhile.
        report = self.member.iam.start_credential_report()
        users = sorted(self.member.iam.users_with_tag(s.tag_key), key=lambda u: u.name)
        in_scope: list[tuple[IamUser, Policy]] = []
        for user in users:
            # A continuation does not announce (or judge) again what the account's first part did.
            assessment = _assessed(self.ports, result.account_id, user, self.now, result, speak=resume is None)
            if assessment.policy is not None and assessment.in_scope:
                in_scope.append((user, assessment.policy))
            elif resume is None:
                self._judged.append((user, _STATE_OUT_OF_SCOPE[assessment.scope], assessment.why))
        result.users_in_scope = len(in_scope)
        if in_scope or (self._judged and s.security_hub_findings):  # the findings show key ages
            self.report = report()
        if not in_scope:
            self.report_findings(users)
            return
        self.listed = self.member.secrets.listed()
        for user, policy in in_scope:
            mark = self.listed.get(self.secret_name(user))
            if mark is not None and mark.paused(self.now.date()):
                result.paused.append(f"{user.name} (until {mark.paused_until})")
            if resume is not None and user.name <= resume.after:
                continue
            if result.stopped_after is not None and time_left is not None and time_left() < reserve:
                break
            result.stopped_after = user.name
            self._judged.append((user, *self.user(user, policy, mark)))
        else:
            result.stopped_after = None
        self.flush()
        self.report_findings(users)
        if result.stopped_after is None and s.advisor_due(self.now):  # once the account is done
            account = Account(result.account_id, result.account_name)
            enough = (lambda: time_left() >= reserve / 2) if time_left is not None else (lambda: True)
            tagged = [user for user, _ in in_scope]
            result.advice = advise_in_scan(self.ports, account, self.member, tagged, enough)

    def secret_name(self, user: IamUser) -> str:
        return secret_name(self.ports.settings.secret_name, user.name, self.result.account_id)

    def user(self, user: IamUser, policy: Policy, mark: SecretState | None) -> tuple[KeyState, str]:
        """One user (`mark`: its secret as listed): its findings announced, its actions queued;
        read only if not quiet today. Returns where its keys stand, and why."""
        s, now, member, name = self.ports.settings, self.now, self.member, self.secret_name(user)
        if mark is not None and mark.paused_until is not None:
            pause = mark.bounded(now.date(), s.max_pause_days)[1]
            if pause is not None:
                self.announce(Event.MISCONFIGURED, Severity.WARNING, pause, user, secret_name=name)
        delivery = _delivery(self.result.account_id, user, policy, mark, self.sweep_id)
        if delivery is not None:
            self.queue(delivery)
        report = self.report.get(user.arn, [])
        if quiet_today(policy, report, mark, s.max_pause_days, now):
            listed = (mark or SecretState()).bounded(now.date(), s.max_pause_days)[0]
            return _waiting(report_view(report, mark) or [], listed, policy, now) or _in_care(policy)
        self.result.users_checked += 1
        # A secret rekey does not own is not listed: absent (a first rotation) or someone else's,
        # which the worker, reading it before anything else, announces as a conflict. Not asked
        # here: a DescribeSecret answered "not found" gives back none of the retry quota its
        # throttled attempts drew (botocore), and a team that has just opted in drained it.
        record = member.secrets.read(name, resolve_foreign=False) if mark is not None else SecretRecord(SecretState())
        if record.foreign:
            self.announce(Event.CONFLICT, Severity.ERROR, foreign_secret(name, user), user, secret_name=name)
            return KeyState.BLOCKED, foreign_secret(name, user)
        state = record.state.bounded(now.date(), s.max_pause_days)[0]
        keys = read_keys(member.iam, user.name, state)
        unwritable = unwritable_secret(name, record, user)
        plan = decide(keys, state, policy, now)
        if any(a.kind in KEY_CHANGING for a in plan) and self.hold() is not None:
            plan = held(plan, policy, now, self.hold())
        if not any(a.kind is ActionKind.ROTATE for a in plan):
            plan += _check_current(keys, state)
        blocked: list[str] = []
        for action in plan:
            fields = {"key_id": action.key_id, "secret_name": name}
            if action.kind is ActionKind.ROTATE and unwritable is not None:
                # Announced here, once a sweep, rather than queued for a worker that would refuse it.
                self.announce(Event.SECRET_UNWRITABLE, Severity.ERROR, unwritable, user, **fields)
                blocked.append(unwritable)
            elif action.kind is ActionKind.SECRET_BROKEN:
                self.announce(Event.SECRET_BROKEN, Severity.ERROR, action.reason, user, **fields)
                blocked.append(action.reason)
            elif action.kind in ANNOUNCE_ONLY:
                self.announce(Event.BLOCKED, Severity.WARNING, action.reason, user, **fields)
                blocked.append(action.reason)
            elif action.kind is ActionKind.WAIT:
                continue  # due, but not now: the finding says until when, the next sweep queues it
            else:
                self.queue(
                    WorkItem(
                        account_id=self.result.account_id,
                        user_name=user.name,
                        key_id=action.key_id,
                        action=WorkAction(action.kind.value),
                        reason=action.reason,
                        sweep_id=self.sweep_id,
                    )
                )
        if blocked:
            return KeyState.BLOCKED, blocked[0]
        return _waiting(keys, state, policy, now) or _in_care(policy)

    def hold(self) -> str | None:
        """Why the hub holds this account's key changes today, read once a scan (_account_hold)."""
        if self._hold is None:
            self._hold = (_account_hold(self.ports, self.result, self.sweep_id, self.now),)
        return self._hold[0]

    def report_findings(self, tagged: list[IamUser]) -> None:
        """Import the finding of every user this part judged whose finding Security Hub does not
        hold as it is today, or not updated for REFRESH_DAYS (findings.to_import: what it holds is
        read back, ⌈findings/100⌉ calls, so that a finding archived, edited or expired there is set
        right); in the account's last part, archive rekey's active findings of users no longer
        tagged. A failure is announced, and the scan goes on: tomorrow's sweep compares again."""
        s, account_id, now = self.ports.settings, self.result.account_id, self.now
        if not s.security_hub_findings:
            return
        try:
            stored = {f.get("Id"): f for f in self.member.findings.rekey_findings(account_id)}
            today = (
                asff(
                    UserFinding(u.arn, u.name, st, why, self.report.get(u.arn, [])),
                    account_id,
                    s.region,
                    s.partition,
                    now,
                )
                for u, st, why in self._judged
            )
            changed = [f for f in (to_import(t, stored.get(t["Id"]), now) for t in today) if f is not None]
            if self.result.stopped_after is None:
                why = f"the user is no longer tagged {s.tag_key}, or no longer exists"
                changed += [archived(f, now, why) for f in stale(list(stored.values()), {u.arn for u in tagged})]
            self.member.findings.import_findings(changed)
        except errors.RekeyError as exc:
            message = f"Security Hub findings were not imported: {exc.code}: {exc}"
            self.result.notifications.append(
                notice(Event.FINDINGS_FAILED, Severity.WARNING, account_id, message, now, sweep_id=self.sweep_id)
            )

    def announce(self, event: Event, severity: Severity, message: str, user: IamUser, **fields: Any) -> None:
        self.result.notifications.append(
            notice(
                event, severity, self.result.account_id, message, self.now, user=user, sweep_id=self.sweep_id, **fields
            )
        )

    def queue(self, item: WorkItem) -> None:
        self.result.items.append(item)
        self._batch.append(item)
        if len(self._batch) == ITEMS_PER_SEND:
            self.flush()

    def flush(self) -> None:
        if self._send is None or not self._batch:
            return
        try:
            self._send(self._batch)
        except errors.RekeyError as exc:
            raise _Unqueued(f"{exc.code}: could not queue work items: {exc}") from exc
        self._batch = []


def _delivery(
    account_id: str, user: IamUser, policy: Policy, mark: SecretState | None, sweep_id: str
) -> WorkItem | None:
    """The current key's delivery to the destinations that do not hold it (a failed push, a
    destination selected since), as the secret's tags say: no call. A rotation due today as
    well makes the item stale, and the rotation pushes its own key."""
    if mark is None or mark.current_key_id is None:
        return None
    behind = undelivered(policy.deliver_to, mark.current_key_id, mark.delivered())
    if not behind:
        return None
    reason = f"{mark.current_key_id} is not yet at {', '.join(behind)}"
    return WorkItem(
        account_id=account_id,
        user_name=user.name,
        key_id=mark.current_key_id,
        action=WorkAction.DELIVER,
        reason=reason,
        sweep_id=sweep_id,
    )


def _account_hold(ports: Ports, result: ScanResult, sweep_id: str, now: datetime) -> str | None:
    """Why the hub holds the account's key changes today (the breaker, the waves), as the scan
    reads it when a user first needs one (the worker reads it again before acting): a state that
    cannot be read holds them, said once."""
    try:
        hold = hold_for(ports, result.account_id, now)
    except errors.RekeyError as exc:
        hold = f"the hub's state cannot be read ({exc.code}: {exc}): no key is changed until it can"
        result.notifications.append(
            notice(Event.FAILED, Severity.ERROR, result.account_id, hold, now, sweep_id=sweep_id)
        )
    result.held = hold
    return hold


def read_keys(iam: AccountIam, user_name: str, state: SecretState, *, last_use: bool = False) -> list[AccessKey]:
    """The user's keys, with when each was last used only if `last_use` or the plan can depend
    on it (lifecycle.use_matters): that is a call per key."""
    keys = iam.access_keys(user_name, with_last_use=False)
    return iam.last_use(keys) if last_use or use_matters(keys, state) else keys


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
    problem = delivery_problem(ports, user, account_id)
    assessment = assess(user.tags, s.tag_key, s.policy, s.bounds, now, refused, problem)
    if assessment.policy is None or problem:
        return assessment
    return replace(assessment, policy=with_destinations(assessment.policy, user, s))


def with_destinations(policy: Policy, user: IamUser, settings: Settings) -> Policy:
    """`policy` with the destinations the user's tag selects (approved: see delivery_problem):
    each new key is pushed there, and the old one retired on proof they picked it up."""
    chosen = selected(user.tags, settings.destinations)[0]
    return replace(policy, deliver_to=tuple(d.name for d in chosen)) if chosen else policy


def delivery_problem(ports: Ports, user: IamUser, account_id: str) -> str | None:
    """Why the user's `rekey:deliver-to` tag cannot be followed (a destination the hub does not
    declare, or does not approve for this account or user), or None."""
    chosen, unknown = selected(user.tags, ports.settings.destinations)
    if unknown:
        return unknown
    for destination in chosen:
        why = delivery_refusal(destination, account_id, user.name, ports.organizations().accounts_under)
        if why:
            return f"{DELIVER_TAG}: {why}; nothing is sent there"
    return None


def _waiting(keys: list[AccessKey], state: SecretState, policy: Policy, now: datetime) -> tuple[KeyState, str] | None:
    """Under `adopt`, the standing of a user whose old key waits for its replacement's pickup."""
    wait = pickup_wait(keys, state, policy, now)
    return pickup_unconfirmed(wait.reason, policy.deliver_to) if wait is not None else None


def _in_care(policy: Policy) -> tuple[KeyState, str]:
    """A user whose keys rekey keeps on schedule (a day's action is announced, not a finding)."""
    return KeyState.COMPLIANT, f"in rekey's care under its policy {policy.describe()} (rotate/deactivate/delete days)"


_STATE_OUT_OF_SCOPE = {
    Scope.EXEMPT: KeyState.NOT_ADOPTED,
    Scope.OUT: KeyState.NOT_ADOPTED,
    Scope.MISCONFIGURED: KeyState.MISCONFIGURED,
    Scope.REFUSED: KeyState.REFUSED,
}


def _assessed(
    ports: Ports, account_id: str, user: IamUser, now: datetime, result: ScanResult, *, speak: bool
) -> Assessment:
    """The user's standing today; an exempt user is left alone quietly (the report and the
    digest list it), a misconfigured or refused one is announced (if `speak`) and left alone."""
    assessment = assess_user(ports, user, account_id, now)
    if assessment.scope is Scope.EXEMPT and assessment.exemption is not None:
        result.exempt.append(f"{user.name} (until {assessment.exemption.until})")
    elif speak and assessment.scope is Scope.MISCONFIGURED:
        message = f"left untouched: {assessment.why}"
        result.notifications.append(notice(Event.MISCONFIGURED, Severity.WARNING, account_id, message, now, user=user))
    elif speak and assessment.scope is Scope.REFUSED:
        message = f"refused, never touched: {assessment.why}"
        result.notifications.append(notice(Event.REFUSED, Severity.ERROR, account_id, message, now, user=user))
    return assessment
