"""Change at a pace people can follow: the breaker that halts key changes everywhere when a day
goes wrong, and the waves a change of rekey's behaviour reaches accounts in. Pure: the hub's
state (rekey.ports.HubState) holds the day's tally, the halt and each wave's record.

**The breaker.** Each day the workers count the sweep's items that change a key (`attempted`)
and the distinct signs of breakage: an item that failed for a reason that is rekey's or its
permissions' (not throttling, not AWS unavailable, not an unreachable account), an item
dead-lettered, a key deactivated while still in use, a rollback. When the signs reach both a
count and a share of the day's attempts, rekey halts: no key is created, deactivated or deleted
by a sweep anywhere until an operator resumes (`rekey resume`). Scans, findings, reports and
operators' own requests (rotate-now, rollback) go on.

**Waves.** `REKEY_WAVES` orders accounts (by id or OU) into waves; accounts named by none form
the last. What rekey would do is summed up by a fingerprint (its release and the settings that
decide actions). A new fingerprint reaches wave 1 at once; wave n+1 only once wave n has run it
for `quiet_days` days with no sign of breakage. Until then, wave n+1 changes no key (it cannot
run a release it no longer has)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from . import errors

# Errors that are not rekey's doing: AWS throttling or unavailable, an unreachable account.
NOT_BREAKAGE: tuple[type[errors.RekeyError], ...] = (errors.Throttled, errors.Unavailable, errors.AccountUnreachable)


def is_breakage(error: Exception) -> bool:
    return isinstance(error, errors.RekeyError) and not isinstance(error, NOT_BREAKAGE)


@dataclass(frozen=True)
class Threshold:
    """Halt when the day's signs of breakage number at least `count` and are at least `share` of
    the key-changing items attempted. `count` 0: the breaker is off."""

    count: int = 5
    share: float = 0.2

    def tripped(self, tally: DayTally) -> bool:
        signs = len(tally.signs)
        return bool(self.count) and signs >= self.count and signs >= self.share * max(tally.attempted, signs)

    def describe(self) -> str:
        return (
            "off" if not self.count else f"{self.count} signs of breakage and {self.share:.0%} of a day's key changes"
        )


@dataclass(frozen=True)
class DayTally:
    """One day's key-changing items attempted, and its distinct signs of breakage."""

    day: date
    attempted: int = 0
    signs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Hold:
    """Why an account's key changes are held, and the first day they may happen again if nothing
    breaks from now on (None: once an operator resumes rekey)."""

    why: str
    until: date | None = None


@dataclass(frozen=True)
class Halt:
    since: datetime
    evidence: tuple[str, ...]

    def hold(self) -> str:
        first = "; ".join(self.evidence[:3]) + (
            f"; and {len(self.evidence) - 3} more" if len(self.evidence) > 3 else ""
        )
        return f"rekey is halted since {self.since:%Y-%m-%d %H:%M} UTC ({first}): `rekey resume` resumes it"


@dataclass(frozen=True)
class HubStatus:
    """What the hub's state says now: halted or not, and what each wave runs."""

    halt: Halt | None = None
    waves: Mapping[int, WaveRecord] = field(default_factory=dict)


def sign(account_id: str, user_name: str, what: str) -> str:
    """A sign of breakage as the tally keeps it: one per user and kind of failure a day."""
    return f"{account_id}/{user_name}: {what}"[:300]


# --------------------------------------------------------------------------------------- waves


@dataclass(frozen=True)
class WaveRecord:
    """What a wave runs: the fingerprint, since when, and its last day with a sign of breakage."""

    fingerprint: str
    since: date
    last_breakage: date | None = None

    def clean_since(self) -> date:
        if self.last_breakage is None or self.last_breakage < self.since:
            return self.since
        return self.last_breakage + timedelta(days=1)


@dataclass(frozen=True)
class Waves:
    """The ordered waves, each a set of account ids and OU ids; accounts in none are the last."""

    members: tuple[frozenset[str], ...] = ()
    quiet_days: int = 3

    @property
    def count(self) -> int:
        return len(self.members) + 1 if self.members else 1

    def wave_of(self, account_id: str, accounts_under: Callable[[Iterable[str]], set[str]]) -> int:
        """The account's wave, 0-based (the first wave that names it or an OU above it)."""
        for number, members in enumerate(self.members):
            if account_id in members:
                return number
            ous = [m for m in members if not m.isdigit()]
            if ous and account_id in accounts_under(ous):
                return number
        return len(self.members)

    def promoted(self, records: Mapping[int, WaveRecord], fingerprint: str, today: date) -> dict[int, WaveRecord]:
        """The waves whose record changes today: wave 0 takes a new fingerprint at once, each next
        one once the one before has run it `quiet_days` days without a sign of breakage."""
        changed: dict[int, WaveRecord] = {}
        current = dict(records)
        for number in range(self.count):
            record = current.get(number)
            if record is not None and record.fingerprint == fingerprint:
                continue
            previous = current.get(number - 1)
            if number and (previous is None or previous.fingerprint != fingerprint):
                break
            if number and previous is not None and (today - previous.clean_since()).days < self.quiet_days:
                break
            current[number] = changed[number] = WaveRecord(fingerprint, today)
        return changed

    def follows_on(self, records: Mapping[int, WaveRecord], fingerprint: str, wave: int, today: date) -> date:
        """The earliest day `wave` runs `fingerprint`, if nothing breaks from now on."""
        when = today
        for number in range(wave + 1):
            record = records.get(number)
            if record is not None and record.fingerprint == fingerprint:
                when = record.since
                continue
            if number:
                previous = records.get(number - 1)
                ran = previous.clean_since() if previous and previous.fingerprint == fingerprint else when
                when = max(today, ran + timedelta(days=self.quiet_days))
        return when

    def hold(self, wave: int, records: Mapping[int, WaveRecord], fingerprint: str, today: date) -> Hold | None:
        """Why the accounts of `wave` change no key today, and until when (None: they run
        `fingerprint`)."""
        record = records.get(wave)
        if record is not None and record.fingerprint == fingerprint:
            return None
        when = self.follows_on(records, fingerprint, wave, today)
        why = (
            f"held for the rollout: wave {wave + 1} of {self.count} takes this release and configuration "
            f"({fingerprint}) once wave {wave} has run it {self.quiet_days} day(s) without a sign of breakage, "
            f"on {when} at the earliest"
        )
        return Hold(why, when)


def parse_waves(text: str, quiet_days: int) -> Waves:
    """`REKEY_WAVES`: waves separated by `;`, each a comma-separated list of account ids and OU
    ids (`111122223333,ou-ab12-cdef3456;ou-ab12-99999999`). ValueError with a sentence."""
    members: list[frozenset[str]] = []
    for number, part in enumerate(p for p in text.split(";") if p.strip()):
        ids = frozenset(i.strip() for i in part.split(",") if i.strip())
        bad = sorted(i for i in ids if not (i.isdigit() and len(i) == 12) and not i.startswith(("ou-", "r-")))
        if bad:
            raise ValueError(f"wave {number + 1}: not account ids or OU ids: {', '.join(bad)}")
        members.append(ids)
    return Waves(tuple(members), quiet_days)


def fingerprint(version: str, decisive: Mapping[str, Any]) -> str:
    """What rekey would do, summed up: its release and the settings that decide actions."""
    raw = json.dumps({"version": version, **decisive}, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


BREAKER_GENERATOR = "rekey-breaker"


def halted_finding(
    halt: Halt, account_id: str, region: str, partition: str, *, resolved_at: datetime | None = None
) -> dict[str, Any]:
    """The hub's Security Hub finding (ASFF) while rekey is halted: CRITICAL and active, with
    the evidence; archived and resolved once an operator resumes (`resolved_at`)."""
    stamp = (resolved_at or halt.since).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    evidence = "; ".join(halt.evidence)
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"{BREAKER_GENERATOR}/{account_id}/{halt.since:%Y%m%dT%H%M%S}",
        "ProductArn": f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default",
        "GeneratorId": BREAKER_GENERATOR,
        "AwsAccountId": account_id,
        "Region": region,
        "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        "CreatedAt": halt.since.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "UpdatedAt": stamp,
        "Severity": {"Label": "CRITICAL"},
        "Title": "rekey halted every access key rotation: its breaker tripped",
        "Description": (
            f"Signs of breakage since {halt.since:%Y-%m-%d %H:%M} UTC: {evidence}. No key is created, deactivated "
            "or deleted by a sweep until an operator runs `rekey resume`; access keys age meanwhile."
        )[:1024],
        "Resources": [
            {"Type": "AwsAccount", "Id": f"AWS::::Account:{account_id}", "Partition": partition, "Region": region}
        ],
        "Workflow": {"Status": "RESOLVED" if resolved_at else "NEW"},
        "RecordState": "ARCHIVED" if resolved_at else "ACTIVE",
    }
