"""The compliance report (`rekey report --html`) as one self-contained HTML file: inline CSS and
SVG, no external asset, no script."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from rekey.domain.models import KeyStatus

from .compliance import COMPLIANCE_MAX_AGE_DAYS, ComplianceReport, KeyLine
from .formats import key_use_text, policy_text
from .render_report import CONTROLS, next_action_text

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
        f"{escape(policy_text(rep.policy))}.</p>",
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
            + _cell(key_use_text(k.last_used))
            + _scope_tag(k)
            + _cell(k.policy or "-")
            + _cell(next_action_text(k) + (f"; paused until {k.paused_until}" if k.paused_until else ""))
            + "</tr>"
        )
    html += ["</table>", '<p class="muted">rekey report: one self-contained file, no external assets.</p>']
    html.append("</body></html>")
    return "\n".join(html)
