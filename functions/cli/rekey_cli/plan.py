"""The forecast (`rekey plan`): what happens to each key of each tagged user on which date."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rekey.domain import errors
from rekey.domain.entities import Account
from rekey.domain.models import Policy
from rekey.domain.scope import Scope
from rekey.runtime import Runtime

from .forecast import Planned, simulate
from .inventory import AccountView, UserView, inventory, policy_on


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


def plan(rt: Runtime, days: int = 30, progress: Callable[[int, int], None] | None = None) -> PlanResult:
    """What happens to each key of each tagged user over the next `days` days (today first)
    under the current policy: decide() run forward on a copy of today's state. `progress` as
    for `inventory`."""
    if not 1 <= days <= 3660:
        raise errors.UsageError(f"--days {days}: give 1 to 3660 days")
    now = rt.now()
    accounts = inventory(rt, every_user=False, progress=progress)
    rows: list[PlanRow] = []
    for view in accounts:
        for user in view.users:
            if user.keys is None or user.assessment.scope in (Scope.OUT, Scope.MISCONFIGURED, Scope.REFUSED):
                continue
            for entry in simulate(user.keys, user.secret, now, days, policy_on(rt, user.user.tags)):
                rows.append(PlanRow(view.account, user.user.name, entry))
    rows.sort(key=lambda r: (r.entry.first, r.account.account_id, r.user_name, r.entry.kind.value))
    return PlanResult(now, days, rt.settings.policy, rows, accounts)
