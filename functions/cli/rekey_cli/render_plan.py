"""The plan (`rekey plan`) as text, JSON and CSV."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from rekey.domain.controls import CONTROL_TITLES, MAX_KEY_AGE_DAYS, Control, Failure, failing_days
from rekey.domain.scope import Scope

from .forecast import Planned
from .formats import csv_table, failing_days_text, iso, policy_json, policy_text
from .plan import PlanResult, PlanRow

CONTROLS = f"{CONTROL_TITLES[Control.CIS_2_12]}, {CONTROL_TITLES[Control.IAM_3]}"


def _plan_key(row: PlanRow) -> str:
    entry = row.entry
    return entry.key_id or "(first key)"


def _plan_dates(entry: Planned) -> str:
    if entry.at is not None and entry.first == entry.last:
        return f"{entry.at:%Y-%m-%d %H:%M %Z}"
    return entry.first.isoformat() if entry.first == entry.last else f"{entry.first}..{entry.last}"


def plan_text(result: PlanResult) -> str:
    last = result.generated_at.date().toordinal() + result.days - 1
    lines = [
        f"plan {result.generated_at:%Y-%m-%d} .. {date.fromordinal(last)} ({result.days} days): "
        f"{policy_text(result.policy)}",
        f"  {len(result.users(Scope.IN))} user(s) in scope with {result.keys_in_scope} key(s), "
        f"{len(result.users(Scope.EXEMPT))} exempt, {len(result.users(Scope.MISCONFIGURED))} misconfigured, "
        f"{len(result.users(Scope.REFUSED))} refused; "
        f"{len(result.rows)} planned action(s)",
    ]
    for view in result.failed:
        lines.append(f"  {view.account.account_id} {view.account.name}: FAILED {view.error}")
    if result.unreached:
        lines.append(f"  misconfigured: {result.unreached}")
    if result.holds_unknown:
        lines.append(f"  the hub's state (the breaker, the waves) could not be read: {result.holds_unknown}")
    for account_id, hold in sorted(result.holds.items()):
        then = "are planned from that day" if hold.until else "come only after `rekey resume`"
        lines.append(f"  held: {account_id}: {hold.why}; its key changes below {then}")
    if result.rows:
        lines.append(f"  {'date':<22} {'account':<24} {'user':<20} {'key':<22} {'action':<12} detail")
    for row in result.rows:
        account = f"{row.account.account_id} {row.account.name}".strip()
        lines.append(
            f"  {_plan_dates(row.entry):<22} {account:<24} {row.user_name:<20} {_plan_key(row):<22} "
            f"{row.entry.kind.value:<12} {row.entry.reason}"
        )
    lines += _controls_text(result)
    for account, user in result.users(Scope.EXEMPT):
        lines.append(f"  exempt: {account.account_id} {user.user.name}: {user.assessment.why}")
    for account, user in result.users(Scope.MISCONFIGURED):
        lines.append(
            f"  misconfigured (untouched until fixed): {account.account_id} {user.user.name}: {user.assessment.why}"
        )
    for account, user in result.users(Scope.REFUSED):
        lines.append(f"  refused (never touched): {account.account_id} {user.user.name}: {user.assessment.why}")
    return "\n".join(lines)


def _controls_text(result: PlanResult) -> list[str]:
    """Each active key's first day failing CIS 2.12 / IAM.3 under the plan, failing ones first.
    The forecast looks past the plan's days (to each key's retirement); a failure that begins
    after them is counted and shown apart, never as if it came within them."""
    end = result.generated_at.date() + timedelta(days=result.days - 1)
    failing = [c for c in result.controls if c.failure is not None]
    soon = [c for c in failing if c.failure is not None and c.failure.first <= end]
    later = f" ({len(failing) - len(soon)} more after it)" if len(failing) > len(soon) else ""
    lines = [
        f"  {CONTROLS} (no active key {MAX_KEY_AGE_DAYS} days old or older): {len(soon)} of "
        f"{len(result.controls)} active key(s) would fail by {end}{later}; under this policy "
        f"{failing_days_text(result.policy)}"
    ]
    for c in result.controls:
        account = f"{c.account.account_id} {c.account.name}".strip()
        lines.append(f"    {account:<24} {c.user_name:<20} {c.key_id:<22} {_failure_text(c.failure, end)}")
    return lines


def _failure_text(failure: Failure | None, end: date) -> str:
    if failure is None:
        return "passes: deactivated before it turns 90"
    until = f"until {failure.last}" if failure.last else "until it is retired, past the forecast"
    after = f" (after this plan's last day, {end})" if failure.first > end else ""
    return f"FAILS from {failure.first} {until}{after}"


def plan_json(result: PlanResult) -> dict[str, Any]:
    return {
        "generated_at": iso(result.generated_at),
        "days": result.days,
        "policy": policy_json(result.policy),
        "actions": [
            {
                "date": iso(row.entry.first),
                "until": iso(row.entry.last),
                "account_id": row.account.account_id,
                "account_name": row.account.name,
                "user_name": row.user_name,
                "key_id": row.entry.key_id,
                "simulated_key": row.entry.simulated_key,
                "action": row.entry.kind.value,
                "detail": row.entry.reason,
                **({"at": iso(row.entry.at.astimezone(UTC))} if row.entry.at is not None else {}),
            }
            for row in result.rows
        ],
        "held": [
            {"account_id": a, "why": hold.why, "until": iso(hold.until)} for a, hold in sorted(result.holds.items())
        ],
        **({"held_unknown": result.holds_unknown} if result.holds_unknown else {}),
        **({"sweep_unreached": result.unreached} if result.unreached else {}),
        "exempt": [
            {"account_id": a.account_id, "user_name": u.user.name, "why": u.assessment.why}
            for a, u in result.users(Scope.EXEMPT)
        ],
        "misconfigured": [
            {"account_id": a.account_id, "user_name": u.user.name, "why": u.assessment.why}
            for a, u in result.users(Scope.MISCONFIGURED)
        ],
        "refused": [
            {"account_id": a.account_id, "user_name": u.user.name, "why": u.assessment.why}
            for a, u in result.users(Scope.REFUSED)
        ],
        "failed_accounts": [{"account_id": v.account.account_id, "error": v.error} for v in result.failed],
        "controls": {
            "controls": CONTROLS,
            "failing_days_per_cycle": failing_days(result.policy),
            "keys": [
                {
                    "account_id": c.account.account_id,
                    "user_name": c.user_name,
                    "key_id": c.key_id,
                    "created": iso(c.created),
                    "first_failure": iso(c.failure.first) if c.failure else None,
                    "failing_until": iso(c.failure.last) if c.failure else None,
                }
                for c in result.controls
            ],
        },
    }


def plan_csv(result: PlanResult) -> str:
    return csv_table(
        ["date", "until", "account_id", "account_name", "user_name", "key_id", "action", "detail"],
        (
            [
                iso(r.entry.first),
                iso(r.entry.last),
                r.account.account_id,
                r.account.name,
                r.user_name,
                r.entry.key_id,
                r.entry.kind.value,
                r.entry.reason,
            ]
            for r in result.rows
        ),
    )
