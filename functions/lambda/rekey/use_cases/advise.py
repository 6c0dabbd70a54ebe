"""The advisor: for every active key of the users carrying the opt-in tag, what should replace it,
with the evidence (rekey.domain.advice). Read-only: it reads keys, their last use, the events
they signed and an unused-access analyzer's findings on them, and changes nothing. `rekey
advise` runs it over the organization; the scan, on the days REKEY_ADVISOR says, over its
account."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain import errors
from ..domain.advice import Advice, Evidence, Profile, UnusedFinding, advise, profile, uses_of
from ..domain.advice_findings import advice_asff
from ..domain.entities import Account, IamUser
from ..domain.models import AccessKey
from ..domain.networks import Networks, pinned
from ..ports import KeyActivity, MemberAccount, Ports, UnusedAccess

log = logging.getLogger(__name__)

GLOBAL_REGION = "us-east-1"  # where IAM's, STS's global endpoint's and other global services' events are
WINDOW_DAYS = 90  # the event history's reach
# Said with each key's sources when no analyzer is set (its findings are evidence only where enabled).
ANALYZER_NOT_READ = "Access Analyzer not read (no analyzer: REKEY_ADVISOR_ANALYZER_ARN)"


@dataclass(frozen=True)
class KeyAdvice:
    """One key's recommendation, with what it rests on."""

    account: Account
    user_name: str
    user_arn: str
    key: AccessKey
    advice: Advice
    profile: Profile
    sources: tuple[str, ...]


@dataclass
class AccountAdvice:
    account: Account
    keys: list[KeyAdvice] = field(default_factory=list)
    error: str | None = None
    # Evidence that could not be read, or not all of it (the advice says less).
    gaps: list[str] = field(default_factory=list)
    calls: int = 0

    def counts(self) -> dict[str, int]:
        return dict(Counter(k.advice.recommendation.value for k in self.keys))


@dataclass(frozen=True)
class Advisor:
    """How the advisor reads and judges: its sources of events, the networks it knows, its rules'
    limits, and the unused-access analyzer it reads (None: none)."""

    sources: Sequence[KeyActivity]
    networks: Networks
    unused_days: int = 90
    regions: tuple[str, ...] = ()
    window_days: int = WINDOW_DAYS
    analyzer: UnusedAccess | None = None


def advisor_of(ports: Ports, networks: Networks, extra: Sequence[KeyActivity] = ()) -> Advisor:
    """The advisor as the settings say, reading `ports.key_activity()` and `extra` sources, and
    `ports.unused_access()` (REKEY_ADVISOR_ANALYZER_ARN) when there is one."""
    s = ports.settings
    regions = s.advisor_regions or (s.region, GLOBAL_REGION)
    return Advisor(
        (*ports.key_activity(), *extra),
        networks,
        s.advisor_unused_days,
        tuple(regions),
        analyzer=ports.unused_access(),
    )


def advise_account(
    ports: Ports,
    account: Account,
    advisor: Advisor,
    *,
    member: MemberAccount | None = None,
    users: Sequence[IamUser] | None = None,
    time_left: Callable[[], bool] | None = None,
) -> AccountAdvice:
    """Advice for every active key of the account's tagged users (`users`, or those IAM lists),
    through the reader role. A source that fails is a gap, said with the advice; a failing
    account is the result's error. `time_left()` False: stop before the next user (a gap)."""
    result = AccountAdvice(account)
    now = ports.now()
    try:
        member = member or ports.account(account.account_id)
        tagged = users if users is not None else member.iam.users_with_tag(ports.settings.tag_key)
        keyed: list[tuple[IamUser, AccessKey]] = []
        for user in sorted(tagged, key=lambda u: u.name):
            if time_left is not None and not time_left():
                result.gaps.append(f"stopped for time before {user.name}")
                break
            keyed += [(user, k) for k in member.iam.access_keys(user.name) if k.active]
        if not keyed:
            return result
        records, sources = _events(advisor, account.account_id, [k for _, k in keyed], now, result)
        unused, analyzer = _unused(advisor, account.account_id, keyed, result)
        for user, key in keyed:
            evidence = Evidence(
                key.key_id,
                key.created,
                key.last_used,
                tuple(uses_of(records.get(key.key_id, []))),
                sources,
                advisor.window_days,
                unused.get(key.key_id),
            )
            advice = advise(evidence, advisor.networks, now, unused_days=advisor.unused_days)
            shown = profile(evidence.uses, advisor.networks)
            read = (*sources, *analyzer)
            result.keys.append(KeyAdvice(account, user.name, user.arn, key, advice, shown, read))
    except errors.RekeyError as exc:
        result.error = f"{exc.code}: {exc}"
        log.error("advisor, account %s: %s", account.account_id, result.error)
    return result


def _events(
    advisor: Advisor, account_id: str, keys: list[AccessKey], now: datetime, result: AccountAdvice
) -> tuple[dict[str, list[dict]], tuple[str, ...]]:
    """The records each key signed, from every source that answers, and the sources read."""
    since = now - timedelta(days=advisor.window_days)
    regions = list(
        dict.fromkeys([*advisor.regions, *(k.last_used.region for k in keys if k.last_used and k.last_used.region)])
    )
    records: dict[str, list[dict]] = {}
    read: list[str] = []
    for source in advisor.sources:
        try:
            found = source.events(account_id, [k.key_id for k in keys], regions, since, now)
        except errors.RekeyError as exc:
            result.gaps.append(f"{source.name}: {exc.code}: {exc}")
            continue
        result.calls += found.calls
        read.append(source.name if found.complete else f"{source.name} (not every page)")
        if not found.complete:
            result.gaps.append(f"{source.name}: not every page read (the newest were)")
        seen: set[str] = set()
        for key_id, recs in found.records.items():
            for record in recs:  # the same event from two sources counts once
                event_id = str(record.get("eventID", id(record)))
                if event_id not in seen:
                    seen.add(event_id)
                    records.setdefault(key_id, []).append(record)
    return records, tuple(read)


def _unused(
    advisor: Advisor, account_id: str, keyed: Sequence[tuple[IamUser, AccessKey]], result: AccountAdvice
) -> tuple[dict[str, UnusedFinding], tuple[str, ...]]:
    """The analyzer's findings on the keys, and what to say was read: its name, or that none is
    set; nothing when it could not be read (a gap, said with the advice, as a source of events')."""
    if advisor.analyzer is None:
        return {}, (ANALYZER_NOT_READ,)
    keys: dict[str, list[str]] = {}
    for user, key in keyed:
        keys.setdefault(user.name, []).append(key.key_id)
    try:
        found = advisor.analyzer.unused_keys(account_id, keys)
    except errors.RekeyError as exc:
        result.gaps.append(f"{advisor.analyzer.name}: {exc.code}: {exc}")
        return {}, ()
    result.calls += found.calls
    if not found.complete:
        result.gaps.append(f"{advisor.analyzer.name}: not every page read")
    return found.findings, (advisor.analyzer.name if found.complete else f"{advisor.analyzer.name} (not every page)",)


def advise_organization(
    ports: Ports, advisor: Advisor, progress: Callable[[int, int], None] | None = None
) -> list[AccountAdvice]:
    """Advice for every account in rekey's scope (each one failing on its own)."""
    from .sweep import accounts_to_sweep, each_account  # the sweep's scans import this module

    return each_account(
        accounts_to_sweep(ports),
        lambda account: advise_account(ports, account, advisor),
        ports.settings.scan_concurrency,
        progress,
    )


def advise_in_scan(
    ports: Ports, account: Account, member: MemberAccount, users: Sequence[IamUser], time_left: Callable[[], bool]
) -> dict[str, int]:
    """The scheduled advisor inside an account's scan (REKEY_ADVISOR): advice for the users in
    scope, from the event history (and the analyzer, when one is set), against the pinned
    ranges (a Lambda reads no files), each key's finding imported when findings are on. Returns
    the counts for the digest; a failure is logged and never fails the scan (the next run tries
    again)."""
    s, now = ports.settings, ports.now()
    result = advise_account(
        ports, account, advisor_of(ports, pinned()), member=member, users=users, time_left=time_left
    )
    if result.error is not None:
        return {}
    for gap in result.gaps:
        log.warning("advisor, account %s: evidence missing: %s", account.account_id, gap)
    if s.security_hub_findings and result.keys:
        findings = [
            advice_asff(
                k.advice,
                user_arn=k.user_arn,
                user_name=k.user_name,
                key_id=k.key.key_id,
                key_created=k.key.created,
                account_id=account.account_id,
                region=s.region,
                partition=s.partition,
                now=now,
            )
            for k in result.keys
        ]
        try:
            member.findings.import_findings(findings)
        except errors.RekeyError as exc:
            log.error("advisor, account %s: findings not imported: %s", account.account_id, exc)
    return result.counts()
