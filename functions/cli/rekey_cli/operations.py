"""Operators' use cases: forecast (plan), compliance evidence (report), incident response
(rotate-now), undo (rollback). Shared by the CLI; the rendering lives in `rekey_cli.report`."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from rekey.adapters.iam import IamUser, ReportKey
from rekey.adapters.organizations import Account, OrganizationsAdapter
from rekey.adapters.secrets import PREVIOUS
from rekey.adapters.sts import StsAdapter
from rekey.domain import errors
from rekey.domain.manual import plan_rollback
from rekey.domain.models import AccessKey, ActionKind, KeyStatus, KeyUse, Policy, SecretState
from rekey.domain.naming import secret_name
from rekey.domain.policy import OptIn, opt_in
from rekey.domain.scope import Assessment, Scope, assess
from rekey.messages import Event, Severity, WorkAction, WorkItem
from rekey.runtime import AccountAdapters, Runtime
from rekey.service import OperatorRequest, WorkOutcome, accounts_to_sweep, assess_user, notice, publish, run_work_item

from .forecast import Planned, PolicyOn, next_actions, simulate

log = logging.getLogger(__name__)

# CIS AWS Foundations 2.12 / Security Hub IAM.3: active keys are rotated within 90 days.
COMPLIANCE_MAX_AGE_DAYS = 90
# How far the report looks for each key's next action: past the longest allowed lifecycle.
REPORT_HORIZON_DAYS = 800
DEFAULT_PAUSE_DAYS = 7


# --------------------------------------------------------------------------- scope of a command


def find_account(rt: Runtime, account_id: str) -> Account:
    """The account, if rekey works in it; otherwise UsageError saying why not."""
    if not (account_id.isdigit() and len(account_id) == 12):
        raise errors.UsageError(f"{account_id!r} is not a 12-digit account id")
    organizations = OrganizationsAdapter(rt.clients.hub("organizations"))
    account = next((a for a in organizations.active_accounts() if a.account_id == account_id), None)
    if account is None:
        raise errors.UsageError(f"account {account_id} is not an ACTIVE account of the organization")
    if account_id in rt.settings.excluded_accounts:
        raise errors.UsageError(f"account {account_id} is excluded (REKEY_EXCLUDED_ACCOUNTS)")
    if rt.settings.target_ous and account_id not in organizations.accounts_under(sorted(rt.settings.target_ous)):
        raise errors.UsageError(f"account {account_id} is outside the OUs rekey covers (REKEY_TARGET_OUS)")
    return account


def _label(account: Account) -> str:
    return f"{account.account_id} ({account.name})" if account.name else account.account_id


def find_user(adapters: AccountAdapters, account: Account, user_name: str) -> IamUser:
    """The user with its policies (an operator's command is refused for a privileged user)."""
    try:
        return adapters.iam.get_user(user_name, with_grants=True)
    except errors.NotFound:
        raise errors.UsageError(f"no IAM user {user_name!r} in account {_label(account)}") from None


def _require_opted_in(rt: Runtime, user: IamUser, account: Account) -> None:
    """Refused unless the user is tagged in and rekey may act on it (rekey.domain.privilege)."""
    state, why = opt_in(user.tags, rt.settings.tag_key)
    if state is not OptIn.IN:
        raise errors.Refused(
            f"{user.name} is not opted in ({why}): rekey only touches users tagged {rt.settings.tag_key}=true"
        )
    assessment = assess_user(rt, user, account.account_id, rt.now())
    if assessment.scope is Scope.REFUSED:
        raise errors.Refused(f"{user.name} is refused: {assessment.why}")


def operator(rt: Runtime) -> str:
    """Who runs the command, as STS tells it: the announcements name this ARN, never text the
    caller chose. A command that acts refuses to run without it."""
    try:
        return StsAdapter(rt.clients.hub("sts")).caller_arn()
    except errors.RekeyError as exc:
        raise errors.UsageError(f"cannot tell who you are (sts:GetCallerIdentity failed: {exc})") from None


# --------------------------------------------------------------------------- rotate-now


def rotate_now(rt: Runtime, account_id: str, user_name: str, *, revoke_old: bool = False) -> WorkOutcome:
    """Rotate the user's newest active key at once, through the worker's own code path (the
    same re-checks and invariants); with `revoke_old`, deactivate it once its replacement is
    stored."""
    who = operator(rt)
    account = find_account(rt, account_id)
    adapters = rt.clients.account(account.account_id, write=True)
    user = find_user(adapters, account, user_name)
    _require_opted_in(rt, user, account)
    active = sorted((k for k in adapters.iam.access_keys(user.name) if k.active), key=lambda k: (k.created, k.key_id))
    item = WorkItem(
        account_id=account.account_id,
        user_name=user.name,
        key_id=active[-1].key_id if active else None,  # a repeated delivery finds it replaced
        action=WorkAction.ROTATE,
        reason="rekey rotate-now" + (" --revoke-old" if revoke_old else ""),
        sweep_id=f"manual-{rt.now():%Y%m%dT%H%M%S%fZ}",
    )
    return run_work_item(rt, item, request=OperatorRequest(who, revoke_old=revoke_old))


# --------------------------------------------------------------------------- rollback


@dataclass
class RollbackResult:
    account: Account
    user_name: str
    key_id: str
    reactivated: bool
    paused_until: date
    secret_name: str
    message: str


def rollback(rt: Runtime, account_id: str, user_name: str, *, until: date | None = None) -> RollbackResult:
    """Reactivate the key rekey's last rotation replaced (only before it is deleted) and pause
    the user's lifecycle until `until` (inclusive). The pause is a tag on the user's secret, so
    it needs no IAM permission beyond the key calls rekey already has. Announced."""
    s = rt.settings
    now = rt.now()
    today = now.date()
    until = until or today + timedelta(days=min(DEFAULT_PAUSE_DAYS, s.max_pause_days))
    if until < today:
        raise errors.UsageError(f"--until {until} is in the past (today is {today} UTC)")
    if until > today + timedelta(days=s.max_pause_days):
        raise errors.UsageError(
            f"--until {until} is more than {s.max_pause_days} days away (REKEY_MAX_PAUSE_DAYS); "
            "an old key must not stay active indefinitely"
        )
    who = operator(rt)
    account = find_account(rt, account_id)
    adapters = rt.clients.account(account.account_id, write=True)
    user = find_user(adapters, account, user_name)
    _require_opted_in(rt, user, account)
    name = secret_name(s.secret_name, user.name, account.account_id)
    record = adapters.secrets.read(name)
    if record.foreign:
        raise errors.Refused(f"{name} was not created by rekey; nothing rolled back")
    if record.state.exists and record.owner_user_id != user.user_id:
        raise errors.Refused(f"secret {name} belongs to another user; nothing rolled back")
    previous = record.state.previous_key_id
    if previous is None and record.previous_version_id:  # written by someone else
        previous = adapters.secrets.stage_key_id(name, PREVIOUS)
    keys = adapters.iam.access_keys(user.name)
    plan = plan_rollback(keys, record.state, previous)
    # Pause first: should reactivating fail, the pause alone harms nobody; the other way round,
    # the next sweep would deactivate the key again.
    adapters.secrets.pause(name, until)
    if plan.reactivate:
        adapters.iam.set_status(user.name, plan.key_id, KeyStatus.ACTIVE)
        done = f"reactivated {plan.key_id}, which rekey had deactivated"
    else:
        done = f"{plan.key_id} is still active; nothing to reactivate"
    message = (
        f"{done}; the lifecycle of {user.name} is paused until {until} (inclusive), at the request of {who}; "
        f"{name} still holds the new key as current"
    )
    publish(
        rt,
        [
            notice(
                Event.ROLLED_BACK,
                Severity.WARNING,
                account.account_id,
                message,
                now,
                user=user,
                key_id=plan.key_id,
                secret_name=name,
                paused_until=until,
            )
        ],
    )
    return RollbackResult(account, user.name, plan.key_id, plan.reactivate, until, name, message)


# --------------------------------------------------------------------------- inventory


@dataclass
class UserView:
    """What rekey knows of one user: tags and standing, keys (read for tagged users), the
    credential report's view (for everyone), the secret."""

    user: IamUser
    assessment: Assessment
    secret_name: str
    keys: list[AccessKey] | None = None
    report_keys: list[ReportKey] = field(default_factory=list)
    secret: SecretState = field(default_factory=SecretState)

    @property
    def tagged(self) -> bool:
        return self.keys is not None


@dataclass
class AccountView:
    account: Account
    users: list[UserView] = field(default_factory=list)
    error: str | None = None


def inventory(rt: Runtime, *, every_user: bool) -> list[AccountView]:
    """Every account in rekey's scope, with its users carrying the opt-in tag (keys and secret
    read: ListAccessKeys, GetAccessKeyLastUsed per key, DescribeSecret) and, with
    `every_user`, the others too from the credential report. One failing account is reported,
    never stops the others."""
    now = rt.now()

    def one(account: Account) -> AccountView:
        view = AccountView(account)
        try:
            adapters = rt.clients.account(account.account_id)
            users = adapters.iam.all_users() if every_user else adapters.iam.users_with_tag(rt.settings.tag_key)
            report = adapters.iam.credential_report() if every_user and users else {}
            for user in sorted(users, key=lambda u: u.name):
                assessment = assess_user(rt, user, account.account_id, now)
                name = secret_name(rt.settings.secret_name, user.name, account.account_id)
                entry = UserView(user, assessment, name, report_keys=report.get(user.arn, []))
                if rt.settings.tag_key in user.tags:
                    entry.keys = adapters.iam.access_keys(user.name)
                    entry.secret = adapters.secrets.read(name).state
                view.users.append(entry)
        except errors.RekeyError as exc:
            view.error = f"{exc.code}: {exc}"
            log.error("account %s: %s", account.account_id, view.error)
        return view

    accounts = accounts_to_sweep(rt)
    with ThreadPoolExecutor(max_workers=rt.settings.scan_concurrency) as pool:
        return list(pool.map(one, accounts))


def policy_on(rt: Runtime, tags: dict[str, str]) -> PolicyOn:
    """The user's policy on a given day (None while exempt or out of scope): exemptions
    lapse within a forecast."""
    s = rt.settings

    def on(moment: datetime) -> Policy | None:
        standing = assess(tags, s.tag_key, s.policy, s.bounds, moment)
        return standing.policy if standing.in_scope else None

    return on


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlanRow:
    account: Account
    user_name: str
    entry: Planned


@dataclass
class PlanResult:
    generated_at: datetime
    days: int
    policy: Policy
    rows: list[PlanRow]
    accounts: list[AccountView]

    @property
    def failed(self) -> list[AccountView]:
        return [a for a in self.accounts if a.error]

    def users(self, scope: Scope) -> list[tuple[Account, UserView]]:
        return [(a.account, u) for a in self.accounts for u in a.users if u.assessment.scope is scope]

    @property
    def keys_in_scope(self) -> int:
        return sum(len(u.keys or []) for _, u in self.users(Scope.IN))


def plan(rt: Runtime, days: int = 30) -> PlanResult:
    """What happens to each key of each tagged user over the next `days` days (today first)
    under the current policy: decide() run forward on a copy of today's state."""
    if not 1 <= days <= 3660:
        raise errors.UsageError(f"--days {days}: give 1 to 3660 days")
    now = rt.now()
    accounts = inventory(rt, every_user=False)
    rows: list[PlanRow] = []
    for view in accounts:
        for user in view.users:
            if user.keys is None or user.assessment.scope in (Scope.OUT, Scope.MISCONFIGURED, Scope.REFUSED):
                continue
            for entry in simulate(user.keys, user.secret, now, days, policy_on(rt, user.user.tags)):
                rows.append(PlanRow(view.account, user.user.name, entry))
    rows.sort(key=lambda r: (r.entry.first, r.account.account_id, r.user_name, r.entry.kind.value))
    return PlanResult(now, days, rt.settings.policy, rows, accounts)


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class KeyLine:
    """One key of one user in the compliance report."""

    account: Account
    user_name: str
    key_id: str | None  # None for users rekey does not manage (the credential report has no ids)
    slot: int | None
    status: KeyStatus
    created: datetime
    age_days: int
    last_used: KeyUse | None
    scope: Scope
    scope_reason: str
    policy: str | None
    next_action: ActionKind | None
    next_action_on: date | None
    days_to_next_action: int | None
    exempt_until: date | None
    exempt_reason: str | None
    paused_until: date | None

    @property
    def over_limit(self) -> bool:
        """Active and older than 90 days: what CIS 2.12 and Security Hub IAM.3 flag."""
        return self.status is KeyStatus.ACTIVE and self.age_days > COMPLIANCE_MAX_AGE_DAYS


@dataclass(frozen=True)
class AccountSummary:
    account: Account
    users: int
    keys: int
    active: int
    over_limit: int
    in_scope: int
    exempt: int
    out_of_scope: int
    misconfigured: int
    error: str | None


@dataclass(frozen=True)
class ExemptionLine:
    account: Account
    user_name: str
    until: date | None  # None: opted out (rekey:rotate=false), no expiry
    reason: str
    active: bool


@dataclass
class ComplianceReport:
    generated_at: datetime
    policy: Policy
    keys: list[KeyLine]
    accounts: list[AccountSummary]
    exemptions: list[ExemptionLine]

    @property
    def failed(self) -> list[AccountSummary]:
        return [a for a in self.accounts if a.error]

    @property
    def over_limit(self) -> list[KeyLine]:
        return [k for k in self.keys if k.over_limit]


def report(rt: Runtime) -> ComplianceReport:
    """Every key of every user in rekey's accounts, in scope or not, with its age, status,
    last use, standing, policy and next action; per-account counts; exemptions."""
    now = rt.now()
    today = now.date()
    lines: list[KeyLine] = []
    summaries: list[AccountSummary] = []
    exemptions: list[ExemptionLine] = []
    for view in inventory(rt, every_user=True):
        account_lines: list[KeyLine] = []
        for user in view.users:
            account_lines += _key_lines(rt, view.account, user, now)
            exempt = user.assessment.exemption
            if exempt is not None:
                exemptions.append(
                    ExemptionLine(view.account, user.user.name, exempt.until, exempt.reason, exempt.active(today))
                )
        lines += account_lines
        scopes = [u.assessment.scope for u in view.users]
        summaries.append(
            AccountSummary(
                view.account,
                users=len(view.users),
                keys=len(account_lines),
                active=sum(k.status is KeyStatus.ACTIVE for k in account_lines),
                over_limit=sum(k.over_limit for k in account_lines),
                in_scope=scopes.count(Scope.IN),
                exempt=scopes.count(Scope.EXEMPT),
                out_of_scope=scopes.count(Scope.OUT),
                misconfigured=scopes.count(Scope.MISCONFIGURED),
                error=view.error,
            )
        )
    return ComplianceReport(now, rt.settings.policy, lines, summaries, exemptions)


def _key_lines(rt: Runtime, account: Account, user: UserView, now: datetime) -> list[KeyLine]:
    standing = user.assessment
    exempt = standing.exemption
    common = {
        "account": account,
        "user_name": user.user.name,
        "scope": standing.scope,
        "scope_reason": standing.why,
        "policy": standing.policy.describe() if standing.policy else None,
        "exempt_until": exempt.until if exempt else None,
        "exempt_reason": exempt.reason if exempt else None,
        "paused_until": user.secret.paused_until if user.secret.paused(now.date()) else None,
    }
    if user.keys is None:  # not tagged: the credential report's view, no key ids
        return [
            KeyLine(
                key_id=None,
                slot=k.slot,
                status=KeyStatus.ACTIVE if k.active else KeyStatus.INACTIVE,
                created=k.created,
                age_days=_age(k.created, now),
                last_used=k.last_used,
                next_action=None,
                next_action_on=None,
                days_to_next_action=None,
                **common,
            )
            for k in user.report_keys
        ]
    upcoming: dict[str, Planned] = {}
    if standing.scope in (Scope.IN, Scope.EXEMPT):
        upcoming = next_actions(user.keys, user.secret, now, REPORT_HORIZON_DAYS, policy_on(rt, user.user.tags))
    lines = []
    for key in sorted(user.keys, key=lambda k: (k.created, k.key_id)):
        nxt = upcoming.get(key.key_id)
        lines.append(
            KeyLine(
                key_id=key.key_id,
                slot=None,
                status=key.status,
                created=key.created,
                age_days=key.age_days(now),
                last_used=key.last_used,
                next_action=nxt.kind if nxt else None,
                next_action_on=nxt.first if nxt else None,
                days_to_next_action=(nxt.first - now.date()).days if nxt else None,
                **common,
            )
        )
    return lines


def _age(created: datetime, now: datetime) -> int:
    return AccessKey("-", KeyStatus.ACTIVE, created).age_days(now)
