"""The compliance report (`rekey report`): every key of every user in rekey's accounts, with its
age, status, last use, standing, policy and next action."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from rekey.domain.entities import Account
from rekey.domain.models import ActionKind, KeyStatus, KeyUse, Policy
from rekey.domain.scope import Scope
from rekey.runtime import Runtime

from .forecast import Planned, next_actions
from .inventory import UserView, inventory, policy_on

# CIS AWS Foundations 2.12 / Security Hub IAM.3: active keys are rotated within 90 days.
COMPLIANCE_MAX_AGE_DAYS = 90
# How far the report looks for each key's next action: past the longest allowed lifecycle.
REPORT_HORIZON_DAYS = 800


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


def report(rt: Runtime, progress: Callable[[int, int], None] | None = None) -> ComplianceReport:
    """Every key of every user in rekey's accounts, in scope or not, with its age, status,
    last use, standing, policy and next action; per-account counts; exemptions. `progress` as
    for `inventory`."""
    now = rt.now()
    today = now.date()
    lines: list[KeyLine] = []
    summaries: list[AccountSummary] = []
    exemptions: list[ExemptionLine] = []
    for view in inventory(rt, every_user=True, progress=progress):
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
                age_days=k.age_days(now),
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
