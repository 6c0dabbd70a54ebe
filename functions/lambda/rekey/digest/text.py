"""The digest as plain text: the notification's message, and what email subscribers read."""

from __future__ import annotations

from ..domain.advice import replaceable
from ..messages import DigestSummary


def render(d: DigestSummary) -> str:
    """The digest in lines: the totals, what needs a human, the accounts with activity, who was left alone."""
    t = d.totals
    listed = f"{d.accounts_listed} account(s) listed" if d.accounts_listed is not None else "no sweep start recorded"
    lines = [
        f"rekey digest for sweep {', '.join(d.sweep_ids) or '(none)'}",
        f"{listed}: {d.accounts_scanned} scanned, {d.accounts_unreachable} unreachable, "
        f"{d.accounts_not_scanned} not scanned; {t.get('users_in_scope', 0)} user(s) in scope.",
        f"Keys: {t.get('rotated', 0)} rotated, {t.get('deactivated', 0)} deactivated, {t.get('deleted', 0)} deleted; "
        f"{t.get('items_queued', 0)} work item(s) queued, {t.get('failed', 0)} failed attempt(s), "
        f"{t.get('dead_lettered', 0)} dead-lettered.",
        "",
    ]
    if d.needs_human_total:
        lines.append(f"Needs a human ({d.needs_human_total}):")
        for h in d.needs_human:
            who = f" {h.user_name}" if h.user_name else ""
            lines.append(f"  {h.event:<20} {h.account_id}{who}: {h.message}")
        if d.needs_human_total > len(d.needs_human):
            lines.append(f"  ... and {d.needs_human_total - len(d.needs_human)} more (see the day's notifications)")
    else:
        lines.append("Nothing needs a human.")
    lines.append("")
    if d.accounts:
        header = "rotated deactivated deleted blocked misconf in-use failed dead"
        lines.append(f"  {'account':<32} {'in scope':>8} {'queued':>6} {header}")
        for r in d.accounts:
            label = f"{r.account_id} {r.name}".strip()[:32]
            state = " UNREACHABLE" if r.error else " NOT SCANNED" if r.not_scanned else ""
            lines.append(
                f"  {label:<32} {r.users_in_scope:>8} {r.items_queued:>6} {r.rotated:>7} {r.deactivated:>11} "
                f"{r.deleted:>7} {r.blocked:>7} {r.misconfigured:>7} {r.in_use:>6} {r.failed:>6} {r.dead_lettered:>4}"
                f"{state}"
            )
        if d.accounts_omitted:
            lines.append(f"  ... and {d.accounts_omitted} more account(s) with activity")
    lines.append(f"{d.quiet_accounts} account(s) scanned with nothing to do.")
    advice = replaceable(d.advice)
    if advice:
        lines += ["", f"Advisor: {advice} (rekey advise shows each key and its evidence)."]
    for title, users in (("Exempt", d.exempt), ("Paused by a rollback", d.paused)):
        if users:
            lines += ["", f"{title} ({len(users)}):", *(f"  {u}" for u in users)]
    return "\n".join(lines)
