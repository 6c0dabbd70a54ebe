"""Values as the renderings show them: ISO dates, policies, key use, and CSV whose cells a
spreadsheet shows and never runs."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rekey.domain.controls import MAX_KEY_AGE_DAYS, failing_days
from rekey.domain.errors import UsageError
from rekey.domain.models import KeyUse, Policy
from rekey.domain.policy import Bounds


def policy_json(policy: Policy) -> dict[str, Any]:
    """The policy's bounds and in-use handling, as JSON fields."""
    return {
        "rotate_after_days": policy.rotate_after_days,
        "deactivate_after_days": policy.deactivate_after_days,
        "delete_after_days": policy.delete_after_days,
        "in_use_policy": policy.in_use_policy.value,
        "in_use_warn_days": policy.in_use_warn_days,
        "in_use_max_defer_days": policy.max_defer_days,
        "create_first_key": policy.create_first_key,
    }


def policy_text(policy: Policy) -> str:
    """The policy in one line of text."""
    in_use = f"in-use: {policy.in_use_policy.value}, warned {policy.in_use_warn_days} day(s) ahead"
    if policy.max_defer_days:
        in_use += f", deferred at most {policy.max_defer_days} day(s)"
    return (
        f"rotate at {policy.rotate_after_days}, deactivate at {policy.deactivate_after_days}, "
        f"delete at {policy.delete_after_days} days ({in_use})"
    )


def bounds_json(bounds: Bounds) -> dict[str, Any]:
    """The limits a per-user policy (tags) must stay inside, as JSON fields."""
    return asdict(bounds)


def bounds_text(bounds: Bounds) -> str:
    """The bounds in one line of text."""
    ceiling = (
        f"a replaced key active at most {bounds.max_active_days} days (the preset's ceiling)"
        if bounds.max_active_days is not None
        else "no ceiling on a replaced key's active days (no preset ceiling)"
    )
    return (
        f"rotate between {bounds.min_rotate_after_days} and {bounds.max_rotate_after_days} days, overlap at least "
        f"{bounds.min_overlap_days}, delete by {bounds.max_delete_after_days}, exempt at most "
        f"{bounds.max_exempt_days} days ahead; {ceiling}"
    )


def failing_days_text(policy: Policy) -> str:
    """What `policy` means for the 90-day controls (CIS 2.12, IAM.3), cycle after cycle."""
    days = failing_days(policy)
    if not days:
        return f"no active key reaches {MAX_KEY_AGE_DAYS} days when every sweep runs: the 90-day controls pass daily"
    return (
        f"a rotated user's old key stays active at {MAX_KEY_AGE_DAYS} days or older {days} day(s) each cycle: "
        f"the 90-day controls fail it those days"
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


def csv_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document: the header, then one line per row, every cell through `csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def iso(value: date | datetime | None) -> str | None:
    """A date as YYYY-MM-DD, a moment as YYYY-MM-DDTHH:MM:SSZ (UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def key_use_text(use: KeyUse | None) -> str:
    """A key's last use: day, service and region, or "never"."""
    if use is None:
        return "never"
    return f"{use.at:%Y-%m-%d} {use.service or '?'} {use.region or '?'}"


def write_file(path: Path, content: str) -> None:
    """Write an output file (a command's --html, --csv), or UsageError in one line."""
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
