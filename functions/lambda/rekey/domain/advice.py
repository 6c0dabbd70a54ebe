"""What should replace a long-lived access key, from what AWS recorded of its use. Pure: evidence
in, a recommendation with its confidence and the evidence that fired each rule out; `unknown`
when the evidence is thin. The advisor never changes anything.

The replacements are the IAM user guide's "alternatives to long-term access keys": roles for
code on AWS compute, OIDC federation for CI (GitHub Actions and others), IAM Identity Center for
people, IAM Roles Anywhere for servers outside AWS; `delete` for a key nobody uses; `keep` for a
use that still signs with an IAM user's key.

The signals, and where each comes from:

- **GitHub Actions**: the official action aws-actions/configure-aws-credentials, given an access
  key, calls sts:GetCallerIdentity (and sts:AssumeRole when asked to) with an STS client whose
  custom user agent is `configure-aws-credentials-for-github-actions`
  (src/CredentialsClient.ts, `USER_AGENT`; src/index.ts, `exportAccountId`): CloudTrail records
  that user agent on events signed with the key. GitHub-hosted runners' addresses are GitHub's
  /meta `actions` list (rekey.domain.networks) — Azure ranges, so an address alone is a hint.
- **AWS compute**: the AWS SDKs append `exec-env/<AWS_EXECUTION_ENV>` to their user agent
  (botocore/useragent.py, `_build_execution_env_metadata`; the JavaScript v3 SDK's
  util-user-agent-node likewise). Lambda sets it to `AWS_Lambda_<runtime>` (Lambda developer
  guide, "Defined runtime environment variables", e.g. `AWS_Lambda_python3.11`); Amazon ECS to
  `AWS_ECS_FARGATE` or `AWS_ECS_EC2` (ECS developer guide, "Amazon ECS environment variables").
  Addresses inside AWS's ip-ranges.json are a hint of compute without that variable (EC2).
- **People**: CloudShell sets `AWS_EXECUTION_ENV=CloudShell` (its shell profile); a CLI or SDK on
  macOS or Windows (`os/macos`, `os/windows` in the SDKs' user agents; `Darwin/`, `Windows/` in
  the AWS CLI's older form) outside every known network is a workstation.
- **Servers outside AWS**: any other SDK or CLI (Linux) outside every known network.
- **Uses that need a key** (`keep`): CodeCommit logs Git clients' pulls and pushes as `GitPull`
  and `GitPush` (CodeCommit user guide, "Logging CodeCommit API calls with AWS CloudTrail"); a Git
  event signed with an access key is Git over HTTPS signed by the AWS CLI's credential helper or
  git-remote-codecommit with the user's key. HTTPS Git credentials (a service-specific password)
  or git-remote-codecommit with a role's profile can take its place, but not without changing
  every clone's remote or credentials. Amazon Keyspaces (`cassandra.amazonaws.com`) accepts the
  Cassandra drivers' SigV4 plugin signing with an access key, or service-specific credentials
  (Keyspaces developer guide, "Create credentials"); a driver configured with a key keeps it.

- **An unused-access analyzer** (IAM Access Analyzer, where enabled): an ACTIVE
  `UnusedIAMUserAccessKey` finding says the key went unused for the analyzer's tracking period;
  its `lastAccessed` is a use like GetAccessKeyLastUsed's.

Rules: a key with no use for `unused_days` (its last use, or its age when never used) is
`delete`, citing the analyzer's finding too when there is one; a never-used key too young to
call unused stays `unknown` even with such a finding (cited: an analyzer's shorter tracking
period does not shorten rekey's); a finding never outweighs a use seen
within `unused_days` (it is cited, and the rules below decide); a Git or Keyspaces use makes
it `keep` (whatever else uses it); otherwise each use is classified (a marker in its user
agent first, then its address, then its user agent's OS) and one kind of use gives its
recommendation — `high` with a marker, `medium` with at least `min_uses` uses by address or OS
alone; fewer is `unknown`. Several kinds of use with markers
(or none with a marker) is `unknown`: the key is shared, split it first."""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .models import KeyUse
from .networks import AWS, CI_PREFIX, GITHUB_ACTIONS, Networks


class Recommendation(StrEnum):
    GITHUB_OIDC = "github-oidc"
    CI_OIDC = "ci-oidc"
    ROLE_ON_COMPUTE = "role-on-compute"
    IDENTITY_CENTER = "identity-center"
    ROLES_ANYWHERE = "roles-anywhere"
    DELETE = "delete"
    KEEP = "keep"
    UNKNOWN = "unknown"


# Those that replace the key with a role (the digest's "could be replaced by roles").
BY_ROLES = (
    Recommendation.GITHUB_OIDC,
    Recommendation.CI_OIDC,
    Recommendation.ROLE_ON_COMPUTE,
    Recommendation.IDENTITY_CENTER,
    Recommendation.ROLES_ANYWHERE,
)
WHAT_TO_DO = {
    Recommendation.GITHUB_OIDC: "use GitHub's OIDC provider and a role (aws-actions/configure-aws-credentials "
    "with role-to-assume and id-token: write)",
    Recommendation.CI_OIDC: "federate the CI system through its OIDC provider and a role",
    Recommendation.ROLE_ON_COMPUTE: "give the compute a role (Lambda execution role, ECS task role, EC2 instance "
    "profile)",
    Recommendation.IDENTITY_CENTER: "sign people in through IAM Identity Center (aws configure sso)",
    Recommendation.ROLES_ANYWHERE: "give the server a certificate and IAM Roles Anywhere",
    Recommendation.DELETE: "delete the key (deactivate it first, and wait)",
    Recommendation.KEEP: "keep the key, rotated by rekey",
    Recommendation.UNKNOWN: "not enough evidence to say: look at the key's use",
}


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Use:
    """One CloudTrail event signed with the key (anonymisable: no request or response)."""

    at: datetime
    source: str  # eventSource, e.g. sts.amazonaws.com
    action: str  # eventName
    region: str
    user_agent: str
    address: str  # sourceIPAddress


def use_of(record: Mapping[str, Any]) -> Use | None:
    """A CloudTrail record (a log file's `Records[]` item, or LookupEvents' `CloudTrailEvent`
    parsed) as a Use; None when it lacks what the advisor reads."""
    try:
        at = datetime.fromisoformat(str(record["eventTime"]).replace("Z", "+00:00"))
        return Use(
            at,
            str(record["eventSource"]),
            str(record["eventName"]),
            str(record.get("awsRegion", "")),
            str(record.get("userAgent", "")),
            str(record.get("sourceIPAddress", "")),
        )
    except (KeyError, ValueError, TypeError):
        return None


def uses_of(records: Iterable[Any]) -> list[Use]:
    """The Uses among `records` (dicts, or JSON strings as LookupEvents gives them)."""
    found = []
    for record in records:
        if isinstance(record, str):
            try:
                record = json.loads(record)
            except ValueError:
                continue
        if isinstance(record, Mapping) and (use := use_of(record)) is not None:
            found.append(use)
    return found


def access_key_of(record: Mapping[str, Any]) -> str | None:
    """The access key that signed a CloudTrail record, if any."""
    identity = record.get("userIdentity")
    key = identity.get("accessKeyId") if isinstance(identity, Mapping) else None
    return key if isinstance(key, str) and key else None


@dataclass
class Activity:
    """What a source of events (rekey.ports.KeyActivity) found: the records signed by each key,
    whether it read everything it should have, and its calls."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    complete: bool = True
    calls: int = 0


@dataclass(frozen=True)
class UnusedFinding:
    """An unused-access analyzer's ACTIVE `UnusedIAMUserAccessKey` finding on one key: its id,
    and the key's last access as the analyzer saw it (None: never used)."""

    finding_id: str
    last_accessed: datetime | None

    def cited(self) -> str:
        since = f"unused since {self.last_accessed.date()}" if self.last_accessed else "never used"
        return f"Access Analyzer: {since}, finding {self.finding_id}"


@dataclass
class UnusedKeys:
    """What an unused-access analyzer (rekey.ports.UnusedAccess) found: the ACTIVE finding on each
    key asked about that has one, whether it read every page, and its calls."""

    findings: dict[str, UnusedFinding] = field(default_factory=dict)
    complete: bool = True
    calls: int = 0


@dataclass(frozen=True)
class Evidence:
    """What AWS recorded of one key: its last use (GetAccessKeyLastUsed) and the events signed
    with it within `window_days`, from `sources` (what was read, said with the advice), and an
    unused-access analyzer's finding on it, if one was read and found."""

    key_id: str
    created: datetime
    last_used: KeyUse | None
    uses: tuple[Use, ...] = ()
    sources: tuple[str, ...] = ()
    window_days: int = 90
    unused: UnusedFinding | None = None


@dataclass(frozen=True)
class Fired:
    """A rule that fired, what it says, and the evidence it cites."""

    rule: str
    says: Recommendation
    evidence: str


@dataclass(frozen=True)
class Advice:
    recommendation: Recommendation
    confidence: Confidence
    why: str
    fired: tuple[Fired, ...] = ()

    @property
    def what_to_do(self) -> str:
        return WHAT_TO_DO[self.recommendation]


@dataclass(frozen=True)
class Profile:
    """A key's use in numbers, for people: services, actions, user agents, addresses (by
    network), regions, first and last use, volume."""

    volume: int = 0
    first: datetime | None = None
    last: datetime | None = None
    services: Mapping[str, int] = field(default_factory=dict)
    actions: Mapping[str, int] = field(default_factory=dict)
    user_agents: Mapping[str, int] = field(default_factory=dict)
    addresses: Mapping[str, int] = field(default_factory=dict)  # "<address> (<network>)"
    regions: Mapping[str, int] = field(default_factory=dict)


def profile(uses: Sequence[Use], networks: Networks) -> Profile:
    if not uses:
        return Profile()

    def where(u: Use) -> str:
        return f"{u.address} ({networks.owner(u.address) or 'outside known networks'})"

    return Profile(
        len(uses),
        min(u.at for u in uses),
        max(u.at for u in uses),
        dict(Counter(u.source for u in uses).most_common()),
        dict(Counter(f"{u.source.split('.')[0]}:{u.action}" for u in uses).most_common()),
        dict(Counter(_shown(u.user_agent) for u in uses).most_common()),
        dict(Counter(where(u) for u in uses).most_common()),
        dict(Counter(u.region for u in uses).most_common()),
    )


def _shown(text: str, limit: int = 200) -> str:
    """A caller-written string (a user agent) fit to print: printable characters only, bounded."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


GITHUB_ACTION_AGENT = "configure-aws-credentials-for-github-actions"
_EXEC_ENV = re.compile(r"exec-env/([A-Za-z0-9_.#-]+)")
_WORKSTATION = re.compile(r"(\bos/(macos|windows)\b|\bDarwin/|\bWindows/|Windows_NT)", re.IGNORECASE)
_KEEP_SOURCES = {"codecommit.amazonaws.com": "CodeCommit", "cassandra.amazonaws.com": "Amazon Keyspaces"}
_GIT_ACTIONS = ("GitPull", "GitPush")


@dataclass(frozen=True)
class _Kind:
    says: Recommendation
    rule: str
    marker: bool  # a marker in the user agent (strong), not an address or an OS (a hint)


def kind_of(use: Use, networks: Networks) -> _Kind | None:
    """What kind of use one event is: None for a use that says nothing (an AWS service's own call)."""
    agent = use.user_agent
    if GITHUB_ACTION_AGENT in agent:
        return _Kind(Recommendation.GITHUB_OIDC, f"user agent {GITHUB_ACTION_AGENT} (the official action)", True)
    env = _EXEC_ENV.search(agent)
    if env and env.group(1).startswith(("AWS_Lambda_", "AWS_ECS_")):
        return _Kind(Recommendation.ROLE_ON_COMPUTE, f"user agent exec-env/{env.group(1)}", True)
    if env and env.group(1) == "CloudShell":
        return _Kind(Recommendation.IDENTITY_CENTER, "user agent exec-env/CloudShell", True)
    owner = networks.owner(use.address)
    if owner == GITHUB_ACTIONS:
        return _Kind(Recommendation.GITHUB_OIDC, "address in GitHub Actions' runner ranges", False)
    if owner == AWS:
        return _Kind(Recommendation.ROLE_ON_COMPUTE, "address inside AWS", False)
    if owner is not None and owner.startswith(CI_PREFIX):
        return _Kind(Recommendation.CI_OIDC, f"address in {owner.removeprefix(CI_PREFIX)}'s ranges", False)
    if owner is None and not _is_address(use.address):
        return None  # AWS acting for someone (`AWS Internal`, a service's name): no place
    if _WORKSTATION.search(agent):
        return _Kind(Recommendation.IDENTITY_CENTER, "a CLI or SDK on macOS or Windows outside AWS", False)
    return _Kind(Recommendation.ROLES_ANYWHERE, "a CLI or SDK outside AWS, GitHub and known CI", False)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


def advise(
    evidence: Evidence, networks: Networks, now: datetime, *, unused_days: int = 90, min_uses: int = 3
) -> Advice:
    """The recommendation for one active key (see the module's docstring for the rules)."""
    window = [u for u in evidence.uses if u.at >= now - timedelta(days=evidence.window_days)]
    seen = " and ".join(evidence.sources) or "nothing"
    finding = evidence.unused
    # Every use on record counts, the analyzer's last access too: a finding never hides a use.
    used_at = [u.at for u in window] + ([evidence.last_used.at] if evidence.last_used else [])
    last = max(used_at + ([finding.last_accessed] if finding and finding.last_accessed else []), default=None)
    age = (now - evidence.created).days
    analyzer = (Fired("access-analyzer", Recommendation.DELETE, finding.cited()),) if finding else ()
    if last is None or (now - last).days >= unused_days:
        if last is None and age < unused_days:
            # An analyzer whose tracking period is shorter than `unused_days` does not make a
            # young key unused: it may not be deployed yet. The finding is cited, not followed.
            also = "; Access Analyzer already finds it unused" if finding else ""
            return Advice(
                Recommendation.UNKNOWN,
                Confidence.LOW,
                f"never used, but only {age} day(s) old: too young to call unused ({unused_days} days){also}",
                analyzer,
            )
        idle = (
            f"never used in its {age} days"
            if last is None
            else f"last used {last.date()}, {(now - last).days} days ago"
        )
        fired = Fired("unused", Recommendation.DELETE, f"{idle} (GetAccessKeyLastUsed; events read: {seen})")
        return Advice(Recommendation.DELETE, Confidence.HIGH, idle, (fired, *analyzer))
    advice = _in_use(evidence, window, last, seen, networks, min_uses)
    if finding is None:
        return advice
    # Mixed evidence: the use wins; the finding is cited as outweighed, never as the answer.
    outweighed = Fired(
        "access-analyzer",
        Recommendation.DELETE,
        f"{finding.cited()} (outweighed: used {last.date()}, within {unused_days} days)",
    )
    return replace(advice, fired=(*advice.fired, outweighed))


def _in_use(
    evidence: Evidence, window: Sequence[Use], last: datetime, seen: str, networks: Networks, min_uses: int
) -> Advice:
    """The advice for a key used within `unused_days` (its last use `last`)."""
    keep = _keep(window)
    if keep is not None:
        return keep
    if not window:
        used = evidence.last_used
        where = f" by {used.service or '?'} in {used.region or '?'}" if used else ""
        return Advice(
            Recommendation.UNKNOWN,
            Confidence.LOW,
            f"used {last.date()}{where}, but no event signed with it was found in {seen}",
        )
    return _by_kind(window, networks, min_uses)


def _keep(window: Sequence[Use]) -> Advice | None:
    needs = Counter(
        _KEEP_SOURCES[u.source]
        for u in window
        if u.source in _KEEP_SOURCES and (u.source != "codecommit.amazonaws.com" or u.action in _GIT_ACTIONS)
    )
    if not needs:
        return None
    fired = tuple(
        Fired(
            "needs-a-key",
            Recommendation.KEEP,
            f"{n} {service} event(s) signed with the key"
            + (
                " (Git over HTTPS: the credential helper or git-remote-codecommit)"
                if service == "CodeCommit"
                else " (the Cassandra driver's SigV4 plugin)"
            ),
        )
        for service, n in needs.most_common()
    )
    others = len(window) - sum(needs.values())
    also = f"; {others} other use(s) could move off it first" if others else ""
    return Advice(Recommendation.KEEP, Confidence.HIGH, f"{', '.join(needs)} still sign(s) with it{also}", fired)


def _by_kind(window: Sequence[Use], networks: Networks, min_uses: int) -> Advice:
    kinds: dict[Recommendation, Counter[tuple[str, bool]]] = {}
    for use in window:
        kind = kind_of(use, networks)
        if kind is not None:
            kinds.setdefault(kind.says, Counter())[(kind.rule, kind.marker)] += 1
    fired = tuple(
        Fired(f"{'marker' if marker else 'hint'}", says, f"{n} use(s): {rule}")
        for says, rules in kinds.items()
        for (rule, marker), n in rules.most_common()
    )
    if not kinds:
        return Advice(Recommendation.UNKNOWN, Confidence.LOW, f"{len(window)} use(s), none that tells where from")
    marked = [says for says, rules in kinds.items() if any(marker for _, marker in rules)]
    if len(marked) > 1 or (not marked and len(kinds) > 1):
        split = ", ".join(f"{says.value} ({sum(rules.values())})" for says, rules in kinds.items())
        return Advice(
            Recommendation.UNKNOWN,
            Confidence.LOW,
            f"shared by several kinds of use: {split}; split the key first",
            fired,
        )
    if marked:
        says = marked[0]
        rest = sum(sum(rules.values()) for other, rules in kinds.items() if other is not says)
        if rest:
            why = f"{sum(kinds[says].values())} use(s) carry its marker; {rest} other use(s) only hint elsewhere"
            return Advice(says, Confidence.MEDIUM, why, fired)
        return Advice(says, Confidence.HIGH, f"{sum(kinds[says].values())} use(s), its marker in the user agent", fired)
    ((says, rules),) = kinds.items()
    count = sum(rules.values())
    if count < min_uses:
        return Advice(
            Recommendation.UNKNOWN, Confidence.LOW, f"only {count} use(s) hint at {says.value}: too few", fired
        )
    return Advice(says, Confidence.MEDIUM, f"{count} use(s), by address or operating system only", fired)


def replaceable(counts: dict[str, int]) -> str | None:
    """The digest's line for the advice counted (None: nothing to say): "12 keys could be
    replaced by roles: 7 github-oidc, 5 role-on-compute; 3 unused could be deleted"."""
    by_roles = {r.value: counts.get(r.value, 0) for r in BY_ROLES if counts.get(r.value)}
    parts = []
    if by_roles:
        detail = ", ".join(f"{n} {name}" for name, n in sorted(by_roles.items(), key=lambda kv: -kv[1]))
        parts.append(f"{sum(by_roles.values())} key(s) could be replaced by roles: {detail}")
    if counts.get(Recommendation.DELETE.value):
        parts.append(f"{counts[Recommendation.DELETE.value]} unused could be deleted")
    if not parts:
        return None
    rest = {k: v for k, v in counts.items() if k in (Recommendation.KEEP.value, Recommendation.UNKNOWN.value) and v}
    tail = "; " + ", ".join(f"{n} {k}" for k, n in rest.items()) if rest else ""
    return "; ".join(parts) + tail
