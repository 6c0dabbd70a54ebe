"""The compliance report (`rekey report`) as text, JSON and CSV."""

from __future__ import annotations

from typing import Any

from rekey.domain.scope import Scope

from .compliance import COMPLIANCE_MAX_AGE_DAYS, ComplianceReport, KeyLine
from .formats import csv_table, iso, key_use_text, policy_json, policy_text

CONTROLS = "CIS AWS Foundations 2.12, AWS Security Hub IAM.3"


KEY_COLUMNS = [
    "account_id",
    "account_name",
    "user_name",
    "key_id",
    "key_slot",
    "status",
    "created",
    "age_days",
    "over_90_days",
    "last_used_at",
    "last_used_service",
    "last_used_region",
    "scope",
    "scope_reason",
    "policy",
    "next_action",
    "next_action_on",
    "days_to_next_action",
    "exempt_until",
    "exempt_reason",
    "paused_until",
]


def _key_values(k: KeyLine) -> list[Any]:
    use = k.last_used
    return [
        k.account.account_id,
        k.account.name,
        k.user_name,
        k.key_id,
        k.slot,
        k.status.value,
        iso(k.created),
        k.age_days,
        k.over_limit,
        iso(use.at) if use else None,
        use.service if use else None,
        use.region if use else None,
        k.scope.value,
        k.scope_reason,
        k.policy,
        k.next_action.value if k.next_action else None,
        iso(k.next_action_on),
        k.days_to_next_action,
        iso(k.exempt_until),
        k.exempt_reason,
        iso(k.paused_until),
    ]


def report_csv(rep: ComplianceReport) -> str:
    return csv_table(KEY_COLUMNS, (_key_values(k) for k in rep.keys))


def report_json(rep: ComplianceReport) -> dict[str, Any]:
    return {
        "generated_at": iso(rep.generated_at),
        "controls": CONTROLS,
        "max_age_days": COMPLIANCE_MAX_AGE_DAYS,
        "policy": policy_json(rep.policy),
        "totals": {
            "accounts": len(rep.accounts),
            "keys": len(rep.keys),
            "active": sum(a.active for a in rep.accounts),
            "active_over_90_days": len(rep.over_limit),
        },
        "accounts": [
            {
                "account_id": a.account.account_id,
                "account_name": a.account.name,
                "users": a.users,
                "keys": a.keys,
                "active": a.active,
                "active_over_90_days": a.over_limit,
                "users_in_scope": a.in_scope,
                "users_exempt": a.exempt,
                "users_out_of_scope": a.out_of_scope,
                "users_misconfigured": a.misconfigured,
                "error": a.error,
            }
            for a in rep.accounts
        ],
        "keys": [dict(zip(KEY_COLUMNS, _key_values(k), strict=True)) for k in rep.keys],
        "exemptions": [
            {
                "account_id": e.account.account_id,
                "user_name": e.user_name,
                "until": iso(e.until),
                "reason": e.reason,
                "active": e.active,
            }
            for e in rep.exemptions
        ],
    }


def next_action_text(k: KeyLine) -> str:
    """The key's next action and when, e.g. "deactivate in 12d (2026-12-14)"."""
    if k.next_action is None:
        return "none planned" if k.scope is Scope.IN else "-"
    when = "today" if k.days_to_next_action == 0 else f"in {k.days_to_next_action}d"
    return f"{k.next_action.value} {when} ({k.next_action_on})"


def report_text(rep: ComplianceReport) -> str:
    lines = [
        f"compliance report {rep.generated_at:%Y-%m-%d %H:%M} UTC ({CONTROLS}: active keys at most "
        f"{COMPLIANCE_MAX_AGE_DAYS} days old)",
        f"  policy: {policy_text(rep.policy)}",
        f"  {len(rep.accounts)} account(s), {len(rep.keys)} key(s), "
        f"{len(rep.over_limit)} active key(s) over {COMPLIANCE_MAX_AGE_DAYS} days",
        "",
        f"  {'account':<28} {'users':>5} {'keys':>5} {'active':>6} {'>90d':>5} {'in':>4} {'exempt':>6} {'out':>4} "
        f"{'misconf':>7}",
    ]
    for a in rep.accounts:
        label = f"{a.account.account_id} {a.account.name}".strip()
        if a.error:
            lines.append(f"  {label:<28} FAILED {a.error}")
            continue
        lines.append(
            f"  {label:<28} {a.users:>5} {a.keys:>5} {a.active:>6} {a.over_limit:>5} {a.in_scope:>4} "
            f"{a.exempt:>6} {a.out_of_scope:>4} {a.misconfigured:>7}"
        )
    lines += [
        "",
        f"  {'account':<13} {'user':<20} {'key':<22} {'status':<8} {'age':>4}  {'last used':<28} "
        f"{'scope':<13} {'policy':<11} next",
    ]
    for k in rep.keys:
        flag = "!" if k.over_limit else " "
        key = k.key_id or f"(key {k.slot})"
        lines.append(
            f" {flag}{k.account.account_id:<13} {k.user_name:<20} {key:<22} {k.status.value:<8} {k.age_days:>4}  "
            f"{key_use_text(k.last_used):<28} {k.scope.value:<13} {k.policy or '-':<11} {next_action_text(k)}"
        )
    if rep.over_limit:
        lines.append(f"  ! active and over {COMPLIANCE_MAX_AGE_DAYS} days")
    if rep.exemptions:
        lines += ["", "  exemptions:"]
        for e in rep.exemptions:
            until = f"until {e.until}" if e.until else "no expiry (rekey:rotate=false)"
            state = "" if e.active else " (lapsed)"
            lines.append(f"    {e.account.account_id} {e.user_name}: {until}{state}: {e.reason}")
    return "\n".join(lines)
