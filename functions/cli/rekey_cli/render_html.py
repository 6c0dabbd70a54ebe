"""The compliance report (`rekey report --html`) as one self-contained HTML file: inline CSS and
SVG, no external asset, no script; printable (a printed key table repeats its header on every
page)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from rekey.domain.controls import CONTROL_TITLES, MAX_KEY_AGE_DAYS, Verdict
from rekey.domain.models import KeyStatus

from .compliance import ComplianceReport, KeyLine
from .formats import bounds_text, failing_days_text, key_use_text, policy_text
from .render_report import (
    CONTROL_COLUMNS,
    CONTROL_RULES,
    caller_text,
    next_action_text,
    not_checked_text,
)

# Key age bands of the chart: (upper bound in days inclusive, label, colour). The 90-day
# controls fail an active key from its 90th day: orange and red start there.
AGE_BANDS: tuple[tuple[int | None, str, str], ...] = (
    (30, "0-30 days", "#2e7d32"),
    (60, "31-60", "#7cb342"),
    (MAX_KEY_AGE_DAYS - 1, f"61-{MAX_KEY_AGE_DAYS - 1}", "#f9a825"),
    (180, f"{MAX_KEY_AGE_DAYS}-180", "#ef6c00"),
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
table.meta{width:auto}table.meta th{background:none;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right}tr.flag td{background:#fff1f0}.tag{display:inline-block;padding:0 6px;
border-radius:10px;font-size:12px;background:#eaeef2}.tag.fail{background:#c62828;color:#fff}
.tag.pass{background:#dafbe1}.tag.na{background:#eaeef2;color:#57606a}
.tag.exempt{background:#ddf4ff}.tag.behind{background:#fff8c5}.tag.out{background:#eaeef2}.tag.misconfigured{background:#fff8c5}
tr.unchecked td{background:#fff8c5}
svg{max-width:100%;height:auto}
@media print{
/* Landscape: the key table's thirteen columns stay readable. */
@page{size:landscape;margin:10mm}
body{margin:0;font-size:11px}
h2{break-after:avoid;page-break-after:avoid}
/* A long key table spans pages: its header row (a <thead>) repeats on each, no row cut in two. */
thead{display:table-header-group}
tr{break-inside:avoid;page-break-inside:avoid}
/* Ink, not fills: browsers print no background, so a verdict white on red would vanish; a failing
one is red ink, bold and boxed (boxed and bold on a black and white printer too). */
th,tr.flag td,tr.unchecked td,.tag,.tag.pass,.tag.na{background:none!important;color:#1b1f24}
.tag{border:1px solid #8c959f;padding:0 4px}
.tag.fail{background:none!important;color:#c62828;border:1.5px solid #c62828;font-weight:700}
th{border-bottom:1.5px solid #1b1f24}
.tile{border-color:#8c959f}
table{font-size:10px}th,td{padding:2px 4px}
/* The chart scales to the page's width and stays on one page. */
svg{max-width:100%;height:auto;break-inside:avoid}
}
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
        f"({MAX_KEY_AGE_DAYS} days or older, failing CIS 2.12 and IAM.3 if active: orange and red)</text>",
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


def _verdict(verdict: Verdict) -> str:
    cls = {Verdict.PASS: "pass", Verdict.FAIL: "fail", Verdict.NOT_APPLICABLE: "na"}[verdict]
    return f'<td><span class="tag {cls}">{escape(verdict.value)}</span></td>'


def _head(*cells: str) -> str:
    """A table's header row, in a <thead>: printed, it repeats on every page the table spans."""
    return (
        "<thead><tr>"
        + "".join(f"<th{' class=num' * c.startswith('#')}>{c.lstrip('#')}</th>" for c in cells)
        + ("</tr></thead><tbody>")
    )


def _deliveries(rep: ComplianceReport) -> list[str]:
    """Where each managed user's key is pushed (REKEY_DESTINATIONS) and whether each destination
    holds the current key, as `rekey report` says in text: none when no user selects one."""
    if not rep.deliveries:
        return []
    html = ["<h2>Deliveries</h2><table>" + _head("account", "user", "destination", "state", "since", "current key")]
    for d in rep.deliveries:
        cls = "pass" if d.current else "fail" if d.status is not None and not d.status.synced else "behind"
        since = f"{d.status.at:%Y-%m-%d %H:%M} UTC" if d.status else ""
        html.append(
            f'<tr class="{"" if d.current else "flag"}">'
            + _cell(f"{d.account.account_id} {d.account.name}".strip())
            + _cell(d.user_name)
            + _cell(d.destination)
            + f'<td><span class="tag {cls}">{escape(d.state)}</span></td>'
            + _cell(since)
            + f"<td><code>{escape(d.current_key_id or '-')}</code></td>"
            + "</tr>"
        )
    html.append("</tbody></table>")
    return html


def report_html(rep: ComplianceReport) -> str:
    failing = {c: rep.failing(c) for c in CONTROL_COLUMNS}
    behind = sum(not d.current for d in rep.deliveries)
    tiles = [
        ("accounts checked", len(rep.accounts), ""),
        ("accounts not checked", len(rep.not_checked), "bad" if rep.not_checked else "ok"),
        ("keys", len(rep.keys), ""),
        ("active keys", sum(a.active for a in rep.accounts), ""),
        *((f"failing {CONTROL_TITLES[c]}", len(keys), "bad" if keys else "ok") for c, keys in failing.items()),
        ("exemptions in force", sum(e.active for e in rep.exemptions), ""),
        *([("deliveries not holding the current key", behind, "bad" if behind else "ok")] if rep.deliveries else []),
    ]
    meta = [
        ("Generated", f"{rep.generated_at:%Y-%m-%d %H:%M} UTC"),
        ("Run by", caller_text(rep)),
        *((CONTROL_TITLES[c], CONTROL_RULES[c]) for c in CONTROL_COLUMNS),
        (f"Policy in force ({rep.preset.value} preset)", policy_text(rep.policy)),
        ("Bounds on per-user policies", bounds_text(rep.bounds)),
        ("Under this policy", failing_days_text(rep.policy)),
        ("Coverage", not_checked_text(rep)),
    ]
    html = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>rekey compliance report {rep.generated_at:%Y-%m-%d}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>rekey: access key compliance report</h1>",
        '<table class="meta"><tbody>',
        *(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in meta),
        "</tbody></table>",
        '<div class="tiles">',
    ]
    for label, value, cls in tiles:
        html.append(f'<div class="tile {cls}"><b>{value}</b>{escape(label)}</div>')
    html += ["</div>", "<h2>Key ages per account</h2>", age_chart_svg(rep), "<h2>Accounts</h2>", "<table>"]
    html.append(
        _head(
            "account",
            "name",
            "#users",
            "#keys",
            "#active",
            *(f"#failing {escape(CONTROL_TITLES[c])}" for c in CONTROL_COLUMNS),
            "#in scope",
            "#exempt",
            "#out of scope",
            "#misconfigured",
        )
    )
    for a in rep.accounts:
        html.append(
            f'<tr class="{"flag" if any(a.failing.values()) else ""}">'
            + _cell(a.account.account_id)
            + _cell(a.account.name)
            + "".join(
                _cell(v, "num")
                for v in (
                    a.users,
                    a.keys,
                    a.active,
                    *(a.failing[c] for c in CONTROL_COLUMNS),
                    a.in_scope,
                    a.exempt,
                    a.out_of_scope,
                    a.misconfigured,
                )
            )
            + "</tr>"
        )
    # Not checked: in the same table, so that a missing account is seen where the others are.
    for n in rep.not_checked:
        html.append(
            '<tr class="unchecked">'
            + _cell(n.account.account_id)
            + _cell(n.account.name)
            + f'<td colspan="{7 + len(CONTROL_COLUMNS)}"><b>not checked</b>: {escape(n.reason)}</td></tr>'
        )
    html.append("</tbody></table>")
    html.append("<h2>Exemptions</h2>")
    if rep.exemptions:
        html.append("<table>" + _head("account", "user", "until", "reason", "state"))
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
        html.append("</tbody></table>")
    else:
        html.append('<p class="muted">None.</p>')
    html += _deliveries(rep)
    html.append('<h2>Every access key</h2><table class="keys">')
    html.append(
        _head(
            "account",
            "user",
            "key",
            "status",
            "#age (days)",
            *(escape(CONTROL_TITLES[c]) for c in CONTROL_COLUMNS),
            "last used",
            "scope",
            "policy",
            "next action",
        )
    )
    for k in rep.keys:
        key = escape(k.key_id or f"(key {k.slot}, from the credential report)")
        html.append(
            f'<tr class="{"flag" if k.failing else ""}">'
            + _cell(f"{k.account.account_id} {k.account.name}".strip())
            + _cell(k.user_name)
            + f"<td><code>{key}</code></td>"
            + _cell(k.status.value)
            + _cell(k.age_days, "num")
            + "".join(_verdict(k.verdicts[c]) for c in CONTROL_COLUMNS)
            + _cell(key_use_text(k.last_used))
            + _scope_tag(k)
            + _cell(k.policy or "-")
            + _cell(next_action_text(k) + (f"; paused until {k.paused_until}" if k.paused_until else ""))
            + "</tr>"
        )
    html += ["</tbody></table>", '<p class="muted">rekey report: one self-contained file, no external assets.</p>']
    html.append("</body></html>")
    return "\n".join(html)
