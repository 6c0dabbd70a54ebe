"""The compliance report (`rekey report`): every key of every user in rekey's accounts, with its
age, status, last use, standing, policy, next action and verdict under each control; every
account it did not check, and why; who ran it and the policy in force."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from rekey.domain import controls, errors
from rekey.domain.controls import Control, Preset, Verdict
from rekey.domain.delivery import DeliveryStatus, selected
from rekey.domain.entities import Account
from rekey.domain.models import ActionKind, KeyStatus, KeyUse, Policy
from rekey.domain.policy import Bounds
from rekey.domain.scope import Scope
from rekey.settings import Settings

from .forecast import Planned, next_actions
from .inventory import UserView, inventory, policy_on
from .ports import OperatorPorts

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
    verdicts: dict[Control, Verdict] = field(default_factory=dict)

    def fails(self, control: Control) -> bool:
        return self.verdicts.get(control) is Verdict.FAIL

    @property
    def failing(self) -> bool:
        """Fails at least one control (the renderings flag it)."""
        return Verdict.FAIL in self.verdicts.values()


@dataclass(frozen=True)
class AccountSummary:
    """One account rekey read: its users' standing and its keys failing each control."""

    account: Account
    users: int
    keys: int
    active: int
    failing: dict[Control, int]
    in_scope: int
    exempt: int
    out_of_scope: int
    misconfigured: int


class Unchecked(StrEnum):
    EXCLUDED = "excluded"
    UNREACHABLE = "unreachable"
    OUTSIDE_TARGET_OUS = "outside target OUs"


EXCLUDED_REASON = "excluded by REKEY_EXCLUDED_ACCOUNTS"


@dataclass(frozen=True)
class NotChecked:
    """An account whose keys the report does not show: an auditor must not read its absence as
    compliance."""

    account: Account
    kind: Unchecked
    reason: str


@dataclass(frozen=True)
class ExemptionLine:
    account: Account
    user_name: str
    until: date | None  # None: opted out (rekey:rotate=false), no expiry
    reason: str
    active: bool


@dataclass(frozen=True)
class DeliveryLine:
    """A delivery destination a managed user selects, and whether it holds the current key."""

    account: Account
    user_name: str
    destination: str
    current_key_id: str | None
    status: DeliveryStatus | None  # None: never sent anything

    @property
    def state(self) -> str:
        s = self.status
        if s is None:
            return "never sent"
        if not s.synced:
            return f"failed: {s.error}"
        return "synced" if s.key_id == self.current_key_id else f"behind (holds {s.key_id})"

    @property
    def current(self) -> bool:
        return self.state == "synced"


@dataclass
class ComplianceReport:
    generated_at: datetime
    caller_arn: str | None  # None: GetCallerIdentity failed (caller_error says why)
    caller_error: str | None
    preset: Preset
    policy: Policy
    bounds: Bounds
    keys: list[KeyLine]
    accounts: list[AccountSummary]  # the accounts checked
    not_checked: list[NotChecked]
    exemptions: list[ExemptionLine]
    deliveries: list[DeliveryLine] = field(default_factory=list)

    @property
    def failed(self) -> list[NotChecked]:
        """The accounts rekey could not read (the command exits non-zero)."""
        return self.unchecked(Unchecked.UNREACHABLE)

    def unchecked(self, kind: Unchecked) -> list[NotChecked]:
        return [n for n in self.not_checked if n.kind is kind]

    def failing(self, control: Control) -> list[KeyLine]:
        return [k for k in self.keys if k.fails(control)]

    @property
    def failing_days(self) -> int:
        """Days of each cycle the default policy lets a rotated user's old key fail the 90-day
        controls."""
        return controls.failing_days(self.policy)


def report(ports: OperatorPorts, progress: Callable[[int, int], None] | None = None) -> ComplianceReport:
    """Every key of every user in rekey's accounts, in scope or not, with its age, status,
    last use, standing, policy, next action and verdicts; per-account counts; the accounts not
    checked and why; exemptions; who ran it. `progress` as for `inventory`."""
    now = ports.now()
    today = now.date()
    s = ports.settings
    lines: list[KeyLine] = []
    summaries: list[AccountSummary] = []
    exemptions: list[ExemptionLine] = []
    deliveries: list[DeliveryLine] = []
    views = inventory(ports, every_user=True, progress=progress)
    # The organization is listed again (inventory lists only the accounts it reads) to name
    # what it left out: an excluded account is evidence too, never a silent gap.
    unchecked = left_out(ports.organizations().active_accounts(), [v.account for v in views], s.excluded_accounts)
    for view in views:
        if view.error:
            unchecked.append(NotChecked(view.account, Unchecked.UNREACHABLE, view.error))
            continue
        account_lines: list[KeyLine] = []
        for user in view.users:
            account_lines += _key_lines(s, view.account, user, now)
            deliveries += _delivery_lines(s, view.account, user)
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
                failing={c: sum(k.fails(c) for k in account_lines) for c in Control},
                in_scope=scopes.count(Scope.IN),
                exempt=scopes.count(Scope.EXEMPT),
                out_of_scope=scopes.count(Scope.OUT),
                misconfigured=scopes.count(Scope.MISCONFIGURED),
            )
        )
    arn, caller_error = _caller(ports)
    return ComplianceReport(
        generated_at=now,
        caller_arn=arn,
        caller_error=caller_error,
        preset=s.policy_preset,
        policy=s.policy,
        bounds=s.bounds,
        keys=lines,
        accounts=summaries,
        not_checked=unchecked,
        exemptions=exemptions,
        deliveries=deliveries,
    )


def _delivery_lines(settings: Settings, account: Account, user: UserView) -> list[DeliveryLine]:
    """The destinations a managed user's tag selects, each with what it was last sent."""
    if user.keys is None or user.assessment.scope not in (Scope.IN, Scope.EXEMPT):
        return []
    sent = user.secret.delivered()
    return [
        DeliveryLine(account, user.user.name, d.name, user.secret.current_key_id, sent.get(d.name))
        for d in selected(user.user.tags, settings.destinations)[0]
    ]


def left_out(listed: list[Account], read: list[Account], excluded: frozenset[str]) -> list[NotChecked]:
    """The accounts of the organization's listing that were not read: excluded (an excluded id
    the listing lacks too, so a typo or a closed account shows), else outside REKEY_TARGET_OUS
    (the only other filter between the listing and the accounts read)."""
    read_ids = {a.account_id for a in read}
    listed_ids = {a.account_id for a in listed}
    found = [
        NotChecked(a, Unchecked.EXCLUDED, EXCLUDED_REASON)
        if a.account_id in excluded
        else NotChecked(a, Unchecked.OUTSIDE_TARGET_OUS, "outside REKEY_TARGET_OUS")
        for a in listed
        if a.account_id not in read_ids
    ]
    found += [
        NotChecked(Account(a, ""), Unchecked.EXCLUDED, f"{EXCLUDED_REASON} (not an ACTIVE account of the organization)")
        for a in sorted(excluded - listed_ids)
    ]
    return found


def _caller(ports: OperatorPorts) -> tuple[str | None, str | None]:
    """Who runs the report (the caller's ARN), or why it could not be read: the report is still
    worth having without it."""
    try:
        return ports.caller_arn(), None
    except errors.RekeyError as exc:
        return None, f"{exc.code}: {exc}"


def _key_lines(settings: Settings, account: Account, user: UserView, now: datetime) -> list[KeyLine]:
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
    # The org policy judges only the users rekey manages (in scope or exempt), by their own
    # policy: a user's tags may shorten the org's ages.
    managed = standing.policy if standing.scope in (Scope.IN, Scope.EXEMPT) else None
    if user.keys is None:  # not tagged: the credential report's view, no key ids
        return [
            KeyLine(
                key_id=None,
                slot=k.slot,
                status=KeyStatus.ACTIVE if k.active else KeyStatus.INACTIVE,
                created=k.created,
                age_days=k.age_days(now),
                verdicts=controls.verdicts(k.active, k.age_days(now), managed),
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
        upcoming = next_actions(user.keys, user.secret, now, REPORT_HORIZON_DAYS, policy_on(settings, user.user.tags))
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
                verdicts=controls.verdicts(key.status is KeyStatus.ACTIVE, key.age_days(now), managed),
                last_used=key.last_used,
                next_action=nxt.kind if nxt else None,
                next_action_on=nxt.first if nxt else None,
                days_to_next_action=(nxt.first - now.date()).days if nxt else None,
                **common,
            )
        )
    return lines
