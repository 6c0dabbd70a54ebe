"""Rendering of the operators' plan and compliance report: text, JSON, CSV and one
self-contained HTML file (inline CSS and SVG, no external asset, no script)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from html import escape
from typing import Any

from rekey.domain.models import KeyStatus, KeyUse, Policy
from rekey.domain.scope import Scope

from .forecast import Planned
from .operations import (
    COMPLIANCE_MAX_AGE_DAYS,
    ComplianceReport,
    KeyLine,
    PlanResult,
    PlanRow,
)

CONTROLS = "CIS AWS Foundations 2.12, AWS Security Hub IAM.3"


def _policy_json(policy: Policy) -> dict[str, Any]:
    return {
        "rotate_after_days": policy.rotate_after_days,
        "deactivate_after_days": policy.deactivate_after_days,
        "delete_after_days": policy.delete_after_days,
        "in_use_policy": policy.in_use_policy.value,
        "in_use_warn_days": policy.in_use_warn_days,
        "in_use_max_defer_days": policy.max_defer_days,
        "create_first_key": policy.create_first_key,
    }


def _policy_text(policy: Policy) -> str:
    in_use = f"in-use: {policy.in_use_policy.value}, warned {policy.in_use_warn_days} day(s) ahead"
    if policy.max_defer_days:
        in_use += f", deferred at most {policy.max_defer_days} day(s)"
    return (
        f"rotate at {policy.rotate_after_days}, deactivate at {policy.deactivate_after_days}, "
        f"delete at {policy.delete_after_days} days ({in_use})"
    )


# A spreadsheet runs a cell that begins with one of these as a formula (OWASP "CSV injection").
# User names may begin with = + @ -, tags and account names with more: such a cell is prefixed
# with ' (shown, not run), and every text cell is quoted, so a ; or , inside one cannot start a
# cell where a locale splits on it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as one CSV cell a spreadsheet shows and never evaluates."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def _use(use: KeyUse | None) -> str:
    if use is None:
        return "never"
    return f"{use.at:%Y-%m-%d} {use.service or '?'} {use.region or '?'}"


# --------------------------------------------------------------------------- plan


def _plan_key(row: PlanRow) -> str:
    entry = row.entry
    return entry.key_id or "(first key)"


def _plan_dates(entry: Planned) -> str:
    return entry.first.isoformat() if entry.first == entry.last else f"{entry.first}..{entry.last}"


def plan_text(result: PlanResult) -> str:
    last = result.generated_at.date().toordinal() + result.days - 1
    lines = [
        f"plan {result.generated_at:%Y-%m-%d} .. {date.fromordinal(last)} ({result.days} days): "
        f"{_policy_text(result.policy)}",
        f"  {len(result.users(Scope.IN))} user(s) in scope with {result.keys_in_scope} key(s), "
        f"{len(result.users(Scope.EXEMPT))} exempt, {len(result.users(Scope.MISCONFIGURED))} misconfigured, "
        f"{len(result.users(Scope.REFUSED))} refused; "
        f"{len(result.rows)} planned action(s)",
    ]
    for view in result.failed:
        lines.append(f"  {view.account.account_id} {view.account.name}: FAILED {view.error}")
    if result.rows:
        lines.append(f"  {'date':<22} {'account':<24} {'user':<20} {'key':<22} {'action':<12} detail")
    for row in result.rows:
        account = f"{row.account.account_id} {row.account.name}".strip()
        lines.append(
            f"  {_plan_dates(row.entry):<22} {account:<24} {row.user_name:<20} {_plan_key(row):<22} "
            f"{row.entry.kind.value:<12} {row.entry.reason}"
        )
    for account, user in result.users(Scope.EXEMPT):
        lines.append(f"  exempt: {account.account_id} {user.user.name}: {user.assessment.why}")
    for account, user in result.users(Scope.MISCONFIGURED):
        lines.append(
            f"  misconfigured (untouched until fixed): {account.account_id} {user.user.name}: {user.assessment.why}"
        )
    for account, user in result.users(Scope.REFUSED):
        lines.append(f"  refused (never touched): {account.account_id} {user.user.name}: {user.assessment.why}")
    return "\n".join(lines)


def plan_json(result: PlanResult) -> dict[str, Any]:
    return {
        "generated_at": _iso(result.generated_at),
        "days": result.days,
        "policy": _policy_json(result.policy),
        "actions": [
            {
                "date": _iso(row.entry.first),
                "until": _iso(row.entry.last),
                "account_id": row.account.account_id,
                "account_name": row.account.name,
                "user_name": row.user_name,
                "key_id": row.entry.key_id,
                "simulated_key": row.entry.simulated_key,
                "action": row.entry.kind.value,
                "detail": row.entry.reason,
            }
            for row in result.rows
        ],
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
    }


def plan_csv(result: PlanResult) -> str:
    return _csv(
        ["date", "until", "account_id", "account_name", "user_name", "key_id", "action", "detail"],
        (
            [
                _iso(r.entry.first),
                _iso(r.entry.last),
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


# --------------------------------------------------------------------------- report

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
        _iso(k.created),
        k.age_days,
        k.over_limit,
        _iso(use.at) if use else None,
        use.service if use else None,
        use.region if use else None,
        k.scope.value,
        k.scope_reason,
        k.policy,
        k.next_action.value if k.next_action else None,
        _iso(k.next_action_on),
        k.days_to_next_action,
        _iso(k.exempt_until),
        k.exempt_reason,
        _iso(k.paused_until),
    ]


def report_csv(rep: ComplianceReport) -> str:
    return _csv(KEY_COLUMNS, (_key_values(k) for k in rep.keys))


def report_json(rep: ComplianceReport) -> dict[str, Any]:
    return {
        "generated_at": _iso(rep.generated_at),
        "controls": CONTROLS,
        "max_age_days": COMPLIANCE_MAX_AGE_DAYS,
        "policy": _policy_json(rep.policy),
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
                "until": _iso(e.until),
                "reason": e.reason,
                "active": e.active,
            }
            for e in rep.exemptions
        ],
    }


def _next(k: KeyLine) -> str:
    if k.next_action is None:
        return "none planned" if k.scope is Scope.IN else "-"
    when = "today" if k.days_to_next_action == 0 else f"in {k.days_to_next_action}d"
    return f"{k.next_action.value} {when} ({k.next_action_on})"


def report_text(rep: ComplianceReport) -> str:
    lines = [
        f"compliance report {rep.generated_at:%Y-%m-%d %H:%M} UTC ({CONTROLS}: active keys at most "
        f"{COMPLIANCE_MAX_AGE_DAYS} days old)",
        f"  policy: {_policy_text(rep.policy)}",
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
            f"{_use(k.last_used):<28} {k.scope.value:<13} {k.policy or '-':<11} {_next(k)}"
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


# --------------------------------------------------------------------------- HTML

# Key age bands of the chart: (upper bound in days inclusive, label, colour).
AGE_BANDS: tuple[tuple[int | None, str, str], ...] = (
    (30, "0-30 days", "#2e7d32"),
    (60, "31-60", "#7cb342"),
    (COMPLIANCE_MAX_AGE_DAYS, "61-90", "#f9a825"),
    (180, "91-180", "#ef6c00"),
    (None, "over 180", "#c62828"),
)

_CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1b1f24;margin:24px;
background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;
padding-bottom:4px}
.muted{color:#57606a}.tiles{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.tile{border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;min-width:130px}
.tile b{display:block;font-size:24px}.tile.bad b{color:#c62828}.tile.ok b{color:#2e7d32}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #eaeef2;
padding:4px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.num,th.num{text-align:right}tr.flag td{background:#fff1f0}.tag{display:inline-block;padding:0 6px;
border-radius:10px;font-size:12px;background:#eaeef2}.tag.flag{background:#c62828;color:#fff}
.tag.exempt{background:#ddf4ff}.tag.out{background:#eaeef2}.tag.misconfigured{background:#fff8c5}
"""


def _bands(ages: Sequence[int]) -> list[int]:
    counts = [0] * len(AGE_BANDS)
    for age in ages:
        for i, (upper, _label, _colour) in enumerate(AGE_BANDS):
            if upper is None or age <= upper:
                counts[i] += 1
                break
    return counts


def age_chart_svg(rep: ComplianceReport) -> str:
    """Active key ages per account as stacked horizontal bars (one band per age range)."""
    rows = [
        (
            f"{a.account.account_id} {a.account.name}".strip(),
            _bands([k.age_days for k in rep.keys if k.account == a.account and k.status is KeyStatus.ACTIVE]),
        )
        for a in rep.accounts
    ]
    label_w, bar_w, row_h, top = 230, 560, 28, 34
    most = max([sum(c) for _, c in rows] + [1])
    height = top + row_h * max(len(rows), 1) + 40
    width = label_w + bar_w + 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Active key ages per account">',
        f'<text x="0" y="16" font-size="13" font-weight="600">Active keys per account, by age '
        f"(over {COMPLIANCE_MAX_AGE_DAYS} days: orange and red)</text>",
    ]
    for i, (label, counts) in enumerate(rows):
        y = top + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" font-size="12" text-anchor="end">{escape(label[:34])}</text>'
        )
        x = float(label_w)
        for count, (_upper, band, colour) in zip(counts, AGE_BANDS, strict=True):
            if not count:
                continue
            w = bar_w * count / most
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}">'
                f"<title>{escape(label)}: {count} key(s) {escape(band)}</title></rect>"
            )
            if w >= 18:
                parts.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 18}" font-size="11" fill="#fff" '
                    f'text-anchor="middle">{count}</text>'
                )
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 18}" font-size="11" fill="#57606a">{sum(counts)}</text>')
    legend_y = top + row_h * max(len(rows), 1) + 16
    x = float(label_w)
    for _upper, band, colour in AGE_BANDS:
        parts.append(f'<rect x="{x:.0f}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16:.0f}" y="{legend_y}" font-size="11">{escape(band)}</text>')
        x += 98
    parts.append("</svg>")
    return "".join(parts)


def _cell(value: Any, cls: str = "") -> str:
    text = "" if value is None else str(value)
    return f'<td class="{cls}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>"


def _scope_tag(k: KeyLine) -> str:
    cls = {"exempt": "exempt", "out of scope": "out", "misconfigured": "misconfigured"}.get(k.scope.value, "")
    return f'<td><span class="tag {cls}" title="{escape(k.scope_reason)}">{escape(k.scope.value)}</span></td>'


def report_html(rep: ComplianceReport) -> str:
    over = rep.over_limit
    tiles = [
        ("accounts", len(rep.accounts), ""),
        ("keys", len(rep.keys), ""),
        ("active keys", sum(a.active for a in rep.accounts), ""),
        (f"active over {COMPLIANCE_MAX_AGE_DAYS} days", len(over), "bad" if over else "ok"),
        ("exemptions in force", sum(e.active for e in rep.exemptions), ""),
        ("accounts failed", len(rep.failed), "bad" if rep.failed else "ok"),
    ]
    html = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>rekey compliance report {rep.generated_at:%Y-%m-%d}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>rekey: access key compliance report</h1>",
        f'<p class="muted">Generated {rep.generated_at:%Y-%m-%d %H:%M} UTC. Evidence for {CONTROLS}: '
        f"active access keys are at most {COMPLIANCE_MAX_AGE_DAYS} days old. Policy: "
        f"{escape(_policy_text(rep.policy))}.</p>",
        '<div class="tiles">',
    ]
    for label, value, cls in tiles:
        html.append(f'<div class="tile {cls}"><b>{value}</b>{escape(label)}</div>')
    html += ["</div>", "<h2>Key ages per account</h2>", age_chart_svg(rep), "<h2>Accounts</h2>", "<table>"]
    html.append(
        "<tr><th>account</th><th>name</th><th class=num>users</th><th class=num>keys</th>"
        "<th class=num>active</th><th class=num>active &gt; 90 days</th><th class=num>in scope</th>"
        "<th class=num>exempt</th><th class=num>out of scope</th><th class=num>misconfigured</th><th>error</th></tr>"
    )
    for a in rep.accounts:
        html.append(
            f'<tr class="{"flag" if a.over_limit or a.error else ""}">'
            + _cell(a.account.account_id)
            + _cell(a.account.name)
            + "".join(
                _cell(v, "num")
                for v in (
                    a.users,
                    a.keys,
                    a.active,
                    a.over_limit,
                    a.in_scope,
                    a.exempt,
                    a.out_of_scope,
                    a.misconfigured,
                )
            )
            + _cell(a.error)
            + "</tr>"
        )
    html.append("</table>")
    html.append("<h2>Exemptions</h2>")
    if rep.exemptions:
        html.append("<table><tr><th>account</th><th>user</th><th>until</th><th>reason</th><th>state</th></tr>")
        for e in rep.exemptions:
            until = e.until.isoformat() if e.until else "no expiry (rekey:rotate=false)"
            html.append(
                "<tr>"
                + _cell(e.account.account_id)
                + _cell(e.user_name)
                + _cell(until)
                + _cell(e.reason)
                + _cell("in force" if e.active else "lapsed")
                + "</tr>"
            )
        html.append("</table>")
    else:
        html.append('<p class="muted">None.</p>')
    html.append("<h2>Every access key</h2><table>")
    html.append(
        "<tr><th>account</th><th>user</th><th>key</th><th>status</th><th class=num>age (days)</th>"
        "<th>last used</th><th>scope</th><th>policy</th><th>next action</th></tr>"
    )
    for k in rep.keys:
        key = escape(k.key_id or f"(key {k.slot}, from the credential report)")
        flag = f' <span class="tag flag">over {COMPLIANCE_MAX_AGE_DAYS} days</span>' if k.over_limit else ""
        html.append(
            f'<tr class="{"flag" if k.over_limit else ""}">'
            + _cell(f"{k.account.account_id} {k.account.name}".strip())
            + _cell(k.user_name)
            + f"<td><code>{key}</code>{flag}</td>"
            + _cell(k.status.value)
            + _cell(k.age_days, "num")
            + _cell(_use(k.last_used))
            + _scope_tag(k)
            + _cell(k.policy or "-")
            + _cell(_next(k) + (f"; paused until {k.paused_until}" if k.paused_until else ""))
            + "</tr>"
        )
    html += ["</table>", '<p class="muted">rekey report: one self-contained file, no external assets.</p>']
    html.append("</body></html>")
    return "\n".join(html)
