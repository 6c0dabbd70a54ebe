"""`rekey advise`'s output: text (a summary and each key's recommendation with its evidence),
JSON (everything), and one printable, self-contained HTML file like the compliance report's."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from rekey.domain.advice import Recommendation, replaceable

from .advice import AdviceRun, KeyAdvice
from .formats import iso, key_use_text
from .render_html import _CSS, _cell, _head


def _top(counts: Mapping[str, int], n: int = 3) -> str:
    return ", ".join(f"{name} ({count})" for name, count in list(counts.items())[:n]) or "-"


def _cited(k: KeyAdvice) -> str:
    return "; ".join(f.evidence for f in k.advice.fired) or "-"


def advice_text(run: AdviceRun) -> str:
    counts = run.counts()
    lines = [
        f"rekey advise at {iso(run.generated_at)} by {run.caller_arn}",
        f"{len(run.keys)} active key(s) of tagged users in {len(run.accounts)} account(s); address ranges: "
        f"{run.networks}",
        "  " + (" · ".join(f"{r.value} {counts[r.value]}" for r in Recommendation if counts.get(r.value)) or "no key"),
    ]
    line = replaceable(counts)
    if line:
        lines.append("  " + line)
    for a in run.accounts:
        label = f"{a.account.account_id} {a.account.name}".strip()
        lines += ["", f"{label}: FAILED {a.error}" if a.error else f"{label}:"]
        lines += [f"  (evidence missing: {gap})" for gap in a.gaps]
        for k in a.keys:
            p, says = k.profile, f"{k.advice.recommendation.value} ({k.advice.confidence.value})"
            lines += [
                f"  {k.user_name:<22} {k.key.key_id:<21} {says}: {k.advice.why}",
                f"      do:       {k.advice.what_to_do}",
                f"      evidence: {_cited(k)}",
                f"      use:      {p.volume} event(s)"
                + (f" {p.first:%Y-%m-%d}..{p.last:%Y-%m-%d}" if p.first and p.last else "")
                + f"; last used {key_use_text(k.key.last_used)}; services {_top(p.services)}; "
                f"from {_top(p.addresses)}; agents {_top(p.user_agents, 1)}",
                f"      read:     {', '.join(k.sources) or 'GetAccessKeyLastUsed only'}",
            ]
    return "\n".join(lines)


def _key_json(k: KeyAdvice) -> dict[str, Any]:
    p = k.profile
    return {
        "account_id": k.account.account_id,
        "account_name": k.account.name,
        "user_name": k.user_name,
        "user_arn": k.user_arn,
        "key_id": k.key.key_id,
        "created": iso(k.key.created),
        "last_used": iso(k.key.last_used.at) if k.key.last_used else None,
        "last_used_service": k.key.last_used.service if k.key.last_used else None,
        "last_used_region": k.key.last_used.region if k.key.last_used else None,
        "recommendation": k.advice.recommendation.value,
        "confidence": k.advice.confidence.value,
        "why": k.advice.why,
        "what_to_do": k.advice.what_to_do,
        "evidence": [{"rule": f.rule, "says": f.says.value, "evidence": f.evidence} for f in k.advice.fired],
        "use": {
            "events": p.volume,
            "first": iso(p.first),
            "last": iso(p.last),
            "services": dict(p.services),
            "actions": dict(p.actions),
            "user_agents": dict(p.user_agents),
            "addresses": dict(p.addresses),
            "regions": dict(p.regions),
        },
        "sources": list(k.sources),
    }


def advice_json(run: AdviceRun) -> dict[str, Any]:
    return {
        "generated_at": iso(run.generated_at),
        "caller_arn": run.caller_arn,
        "networks": run.networks,
        "counts": run.counts(),
        "summary": replaceable(run.counts()),
        "accounts": [
            {
                "account_id": a.account.account_id,
                "name": a.account.name,
                "error": a.error,
                "evidence_missing": a.gaps,
                "calls": a.calls,
            }
            for a in run.accounts
        ],
        "keys": [_key_json(k) for k in run.keys],
    }


def advice_html(run: AdviceRun) -> str:
    counts = run.counts()
    tiles = "".join(
        f'<div class="tile"><b>{counts[r.value]}</b>{escape(r.value)}</div>'
        for r in Recommendation
        if counts.get(r.value)
    )
    rows = []
    for k in run.keys:
        p = k.profile
        rows.append(
            "<tr>"
            + _cell(f"{k.account.account_id} {k.account.name}".strip())
            + _cell(k.user_name)
            + _cell(k.key.key_id)
            + f'<td><span class="tag">{escape(k.advice.recommendation.value)}</span></td>'
            + _cell(k.advice.confidence.value)
            + _cell(f"{k.advice.why}. {k.advice.what_to_do}.")
            + _cell(_cited(k))
            + _cell(f"{p.volume} event(s); {key_use_text(k.key.last_used)}; {_top(p.services)}; {_top(p.addresses)}")
            + "</tr>"
        )
    gaps = "".join(
        f"<li>{escape(a.account.account_id)}: {escape(a.error or '; '.join(a.gaps))}</li>"
        for a in run.accounts
        if a.error or a.gaps
    )
    summary = replaceable(counts)
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>rekey advise</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>rekey advise: what should replace each long-lived key</h1>"
        f'<p class="muted">{escape(iso(run.generated_at) or "")} · {escape(run.caller_arn)} · read-only · '
        f"address ranges: {escape(run.networks)}</p>"
        f'<div class="tiles">{tiles}</div>'
        + (f"<p>{escape(summary)}</p>" if summary else "")
        + "<h2>Keys</h2><table>"
        + _head("account", "user", "key", "recommendation", "confidence", "why, and what to do", "evidence", "use")
        + "".join(rows)
        + "</tbody></table>"
        + (f"<h2>Evidence missing</h2><ul>{gaps}</ul>" if gaps else "")
        + "</body></html>"
    )
