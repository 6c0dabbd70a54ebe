"""The forecast (`rekey plan`): what happens to each key of each tagged user on which date."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from rekey.domain import errors
from rekey.domain.controls import Failure
from rekey.domain.entities import Account
from rekey.domain.models import Policy
from rekey.domain.rollout import Hold
from rekey.domain.scope import Scope
from rekey.use_cases.rollout import holds

from .forecast import Planned, control_failures, simulate
from .inventory import AccountView, UserView, inventory, policy_on
from .ports import OperatorPorts

# How far `rekey plan` looks for each active key's deactivation: past the longest allowed lifecycle.
CONTROL_HORIZON_DAYS = 800


@dataclass(frozen=True)
class PlanRow:
    account: Account
    user_name: str
    entry: Planned


@dataclass(frozen=True)
class KeyControl:
    """One active key of a managed user: when it first fails the 90-day controls if the plan
    holds (None: it is deactivated before it turns 90)."""

    account: Account
    user_name: str
    key_id: str
    created: datetime
    failure: Failure | None


@dataclass
class PlanResult:
    generated_at: datetime
    days: int
    policy: Policy
    rows: list[PlanRow]
    accounts: list[AccountView]
    controls: list[KeyControl]
    # Accounts whose key changes the hub holds (the breaker, the rollout's waves), why and until
    # when: a wave's changes are planned from the day it follows; a halt's, on their due days.
    # `holds_unknown`: why the hub's state could not be read.
    holds: dict[str, Hold] = field(default_factory=dict)
    holds_unknown: str | None = None
    # When the daily sweep runs (UTC), if the hub's schedule is known (REKEY_SWEEP_SCHEDULE).
    sweep_at: time | None = None

    @property
    def unreached(self) -> str | None:
        """Why the sweep, at its known time, never reaches the rotation window, or None."""
        window = self.policy.window
        if window is None or self.sweep_at is None:
            return None
        return window.reach_problem(datetime.combine(self.generated_at.date(), self.sweep_at, UTC))

    @property
    def failed(self) -> list[AccountView]:
        return [a for a in self.accounts if a.error]

    def users(self, scope: Scope) -> list[tuple[Account, UserView]]:
        return [(a.account, u) for a in self.accounts for u in a.users if u.assessment.scope is scope]

    @property
    def keys_in_scope(self) -> int:
        return sum(len(u.keys or []) for _, u in self.users(Scope.IN))


def plan(ports: OperatorPorts, days: int = 30, progress: Callable[[int, int], None] | None = None) -> PlanResult:
    """What happens to each key of each tagged user over the next `days` days (today first)
    under the current policy: decide() run forward on a copy of today's state. `progress` as
    for `inventory`."""
    if not 1 <= days <= 3660:
        raise errors.UsageError(f"--days {days}: give 1 to 3660 days")
    now = ports.now()
    accounts = inventory(ports, every_user=False, progress=progress)
    sweep_at = ports.settings.sweep_at
    result = PlanResult(now, days, ports.settings.policy, [], accounts, [], sweep_at=sweep_at)
    try:
        result.holds = holds(ports, [v.account.account_id for v in accounts], now)
    except errors.RekeyError as exc:
        result.holds_unknown = f"{exc.code}: {exc}"
    for view in accounts:
        hold = result.holds.get(view.account.account_id)
        for user in view.users:
            if user.keys is None or user.assessment.scope in (Scope.OUT, Scope.MISCONFIGURED, Scope.REFUSED):
                continue
            policy = policy_on(ports.settings, user.user.tags)
            for entry in simulate(user.keys, user.secret, now, days, policy, hold=hold, sweep_at=sweep_at):
                result.rows.append(PlanRow(view.account, user.user.name, entry))
            failures = control_failures(user.keys, user.secret, now, CONTROL_HORIZON_DAYS, policy, hold, sweep_at)
            result.controls += [
                KeyControl(view.account, user.user.name, k.key_id, k.created, failures[k.key_id])
                for k in user.keys
                if k.key_id in failures
            ]
    result.rows.sort(key=lambda r: (r.entry.first, r.account.account_id, r.user_name, r.entry.kind.value))
    result.controls.sort(
        key=lambda c: (c.failure is None, c.failure.first if c.failure else c.created.date(), c.key_id)
    )
    return result
