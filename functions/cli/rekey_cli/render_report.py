"""The compliance report (`rekey report`) as text, JSON and CSV."""

from __future__ import annotations

from typing import Any

from rekey.domain.controls import CONTROL_TITLES, MAX_KEY_AGE_DAYS, Control, Verdict
from rekey.domain.scope import Scope

from .compliance import ComplianceReport, KeyLine, Unchecked
from .formats import bounds_json, bounds_text, csv_table, failing_days_text, iso, key_use_text, policy_json, policy_text

# Each control's column in the CSV and JSON, and its short label in the text's tables.
CONTROL_COLUMNS = {Control.CIS_2_12: "cis_2_12", Control.IAM_3: "securityhub_iam_3", Control.ORG_POLICY: "org_policy"}
CONTROL_LABELS = {Control.CIS_2_12: "2.12", Control.IAM_3: "IAM.3", Control.ORG_POLICY: "org"}
CONTROL_RULES = {
    Control.CIS_2_12: f"an active key {MAX_KEY_AGE_DAYS} days old or older fails",
    Control.IAM_3: f"an active key {MAX_KEY_AGE_DAYS} days old or older fails",
    Control.ORG_POLICY: (
        "a managed user's key active past its policy's deactivation age, or kept past its deletion age, fails "
        "(n/a: users rekey does not manage)"
    ),
}


KEY_COLUMNS = [
    "account_id",
    "account_name",
    "user_name",
    "key_id",
    "key_slot",
    "status",
    "created",
    "age_days",
    *CONTROL_COLUMNS.values(),
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
        *(k.verdicts[c].value for c in CONTROL_COLUMNS),
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


def _counts(failing: dict[Control, int]) -> dict[str, int]:
    return {CONTROL_COLUMNS[c]: n for c, n in failing.items()}


def caller_text(rep: ComplianceReport) -> str:
    """Who ran the report, or why that is unknown, in one line."""
    return rep.caller_arn or f"the caller could not be read ({rep.caller_error})"


def not_checked_text(rep: ComplianceReport) -> str:
    """E.g. "3 account(s) checked, 2 not checked (excluded 1, unreachable 1)"."""
    # Excluded and unreachable always, even at 0 (the auditor asks); outside the target OUs
    # only when REKEY_TARGET_OUS left some out.
    kinds = [
        f"{kind.value} {len(rep.unchecked(kind))}"
        for kind in Unchecked
        if kind is not Unchecked.OUTSIDE_TARGET_OUS or rep.unchecked(kind)
    ]
    return f"{len(rep.accounts)} account(s) checked, {len(rep.not_checked)} not checked ({', '.join(kinds)})"


def report_json(rep: ComplianceReport) -> dict[str, Any]:
    return {
        "generated_at": iso(rep.generated_at),
        "caller_arn": rep.caller_arn,
        "caller_error": rep.caller_error,
        "controls": {
            CONTROL_COLUMNS[c]: {"title": CONTROL_TITLES[c], "rule": CONTROL_RULES[c]} for c in CONTROL_COLUMNS
        },
        "max_key_age_days": MAX_KEY_AGE_DAYS,
        "policy": {
            "preset": rep.preset.value,
            **policy_json(rep.policy),
            "bounds": bounds_json(rep.bounds),
            "days_failing_90_day_controls_per_cycle": rep.failing_days,
        },
        "totals": {
            "accounts_checked": len(rep.accounts),
            "accounts_not_checked": len(rep.not_checked),
            **{f"accounts_{kind.name.lower()}": len(rep.unchecked(kind)) for kind in Unchecked},
            "keys": len(rep.keys),
            "active": sum(a.active for a in rep.accounts),
            "failing": {CONTROL_COLUMNS[c]: len(rep.failing(c)) for c in CONTROL_COLUMNS},
        },
        "accounts": [
            {
                "account_id": a.account.account_id,
                "account_name": a.account.name,
                "users": a.users,
                "keys": a.keys,
                "active": a.active,
                "failing": _counts(a.failing),
                "users_in_scope": a.in_scope,
                "users_exempt": a.exempt,
                "users_out_of_scope": a.out_of_scope,
                "users_misconfigured": a.misconfigured,
            }
            for a in rep.accounts
        ],
        "not_checked": [
            {
                "account_id": n.account.account_id,
                "account_name": n.account.name,
                "why": n.kind.value,
                "reason": n.reason,
            }
            for n in rep.not_checked
        ],
        "keys": [dict(zip(KEY_COLUMNS, _key_values(k), strict=True)) for k in rep.keys],
        "deliveries": [
            {
                "account_id": d.account.account_id,
                "user_name": d.user_name,
                "destination": d.destination,
                "current_key_id": d.current_key_id,
                "state": d.state,
                "sent_key_id": d.status.key_id if d.status else None,
                "at": iso(d.status.at) if d.status else None,
            }
            for d in rep.deliveries
        ],
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


def verdict_text(verdict: Verdict) -> str:
    """A verdict in a table: FAIL stands out."""
    return "FAIL" if verdict is Verdict.FAIL else verdict.value


def report_text(rep: ComplianceReport) -> str:
    failing = ", ".join(f"{len(rep.failing(c))} fail {CONTROL_TITLES[c]}" for c in CONTROL_COLUMNS)
    lines = [
        f"compliance report {rep.generated_at:%Y-%m-%d %H:%M} UTC, run by {caller_text(rep)}",
        *(f"  {CONTROL_TITLES[c]}: {CONTROL_RULES[c]}" for c in CONTROL_COLUMNS),
        f"  policy in force ({rep.preset.value} preset): {policy_text(rep.policy)}",
        f"  bounds on per-user policies: {bounds_text(rep.bounds)}",
        f"  under this policy {failing_days_text(rep.policy)}",
        f"  {not_checked_text(rep)}",
        f"  {len(rep.keys)} key(s): {failing}",
        "",
        f"  {'account':<28} {'users':>5} {'keys':>5} {'active':>6} "
        + " ".join(f"{CONTROL_LABELS[c]:>5}" for c in CONTROL_COLUMNS)
        + f" {'in':>4} {'exempt':>6} {'out':>4} {'misconf':>7}",
    ]
    for a in rep.accounts:
        label = f"{a.account.account_id} {a.account.name}".strip()
        lines.append(
            f"  {label:<28} {a.users:>5} {a.keys:>5} {a.active:>6} "
            + " ".join(f"{a.failing[c]:>5}" for c in CONTROL_COLUMNS)
            + f" {a.in_scope:>4} {a.exempt:>6} {a.out_of_scope:>4} {a.misconfigured:>7}"
        )
    for n in rep.not_checked:
        label = f"{n.account.account_id} {n.account.name}".strip()
        lines.append(f"  {label:<28} not checked: {n.reason}")
    lines += [
        "",
        f"  {'account':<13} {'user':<20} {'key':<22} {'status':<8} {'age':>4}  "
        + " ".join(f"{CONTROL_LABELS[c]:<5}" for c in CONTROL_COLUMNS)
        + f"  {'last used':<28} {'scope':<13} {'policy':<11} next",
    ]
    for k in rep.keys:
        flag = "!" if k.failing else " "
        key = k.key_id or f"(key {k.slot})"
        lines.append(
            f" {flag}{k.account.account_id:<13} {k.user_name:<20} {key:<22} {k.status.value:<8} {k.age_days:>4}  "
            + " ".join(f"{verdict_text(k.verdicts[c]):<5}" for c in CONTROL_COLUMNS)
            + f"  {key_use_text(k.last_used):<28} {k.scope.value:<13} {k.policy or '-':<11} {next_action_text(k)}"
        )
    if any(k.failing for k in rep.keys):
        lines.append("  ! fails at least one control")
    if rep.deliveries:
        behind = sum(not d.current for d in rep.deliveries)
        lines += ["", f"  deliveries ({behind} of {len(rep.deliveries)} not holding the current key):"]
        for d in rep.deliveries:
            at = f" at {d.status.at:%Y-%m-%d %H:%M}" if d.status else ""
            flag = " " if d.current else "!"
            lines.append(f"   {flag}{d.account.account_id} {d.user_name} -> {d.destination}: {d.state}{at}")
    if rep.exemptions:
        lines += ["", "  exemptions:"]
        for e in rep.exemptions:
            until = f"until {e.until}" if e.until else "no expiry (rekey:rotate=false)"
            state = "" if e.active else " (lapsed)"
            lines.append(f"    {e.account.account_id} {e.user_name}: {until}{state}: {e.reason}")
    return "\n".join(lines)
