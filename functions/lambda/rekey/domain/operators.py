"""Who may ask the hub for an operator's request (rotate-now, rollback), and on which accounts:
the hub's configuration (REKEY_OPERATORS), read against the caller AWS authenticated.

REKEY_OPERATORS is `;`-separated entries `<role ARN>=<scope>[,<scope>...]`, a scope being `*`
(every account rekey covers), a 12-digit account id, or an OU or root id (`ou-...`, `r-...`:
the accounts under it, at any depth). A caller is an operator when it is a session of a listed
role: a session ARN (e.g. arn:aws:sts::A:assumed-role/R/<session>) is one of role R of account A
(its path is not in a session's ARN; a role's name is unique in its account). Users, root,
federated users and unlisted roles are not operators. Pure: no AWS here."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ALL_ACCOUNTS = "*"
_ROLE_ARN = re.compile(r"arn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:[A-Za-z0-9_+=,.@-]+/)*([A-Za-z0-9_+=,.@-]{1,64})")
_SESSION_ARN = re.compile(r"arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([A-Za-z0-9_+=,.@-]{1,64})/[^/]+")
_ACCOUNT = re.compile(r"[0-9]{12}")
_OU = re.compile(r"(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})")


@dataclass(frozen=True)
class RoleName:
    """A role by partition, account and name: what a role ARN and its sessions' ARNs share."""

    partition: str
    account_id: str
    name: str


@dataclass(frozen=True)
class OperatorGrant:
    """One REKEY_OPERATORS entry: a role, and the accounts its sessions may act on."""

    role_arn: str
    scopes: frozenset[str]

    @property
    def role(self) -> RoleName:
        match = _ROLE_ARN.fullmatch(self.role_arn)
        assert match, self.role_arn  # parse_operators checked it
        return RoleName(*match.groups())

    @property
    def ous(self) -> list[str]:
        return sorted(s for s in self.scopes if _OU.fullmatch(s))

    def covers(self, account_id: str, accounts_under: Callable[[list[str]], set[str]]) -> bool:
        """Whether the grant reaches `account_id`; `accounts_under(ous)` lists the accounts under
        OUs (asked only when an account id alone does not decide)."""
        if ALL_ACCOUNTS in self.scopes or account_id in self.scopes:
            return True
        return bool(self.ous) and account_id in accounts_under(self.ous)

    def describe(self) -> str:
        return ",".join(sorted(self.scopes))


def parse_operators(text: str) -> tuple[OperatorGrant, ...]:
    """REKEY_OPERATORS as grants, or ValueError saying which entry is wrong and why."""
    grants: dict[str, OperatorGrant] = {}
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        # A role name may hold "=" (and ","); a scope never does: the last "=" separates them.
        arn, sep, scopes_text = (part.strip() for part in entry.rpartition("="))
        if not sep:
            raise ValueError(
                f"{entry!r} is not <role ARN>=<accounts or OUs> (e.g. arn:aws:iam::111122223333:role/ops=*)"
            )
        if not _ROLE_ARN.fullmatch(arn):
            raise ValueError(f"{arn!r} is not an IAM role ARN (no wildcard, no user, no session, no account root)")
        scopes = frozenset(s.strip() for s in scopes_text.split(",") if s.strip())
        bad = sorted(s for s in scopes if s != ALL_ACCOUNTS and not _ACCOUNT.fullmatch(s) and not _OU.fullmatch(s))
        if not scopes or bad:
            what = ", ".join(bad) if bad else "nothing"
            raise ValueError(f"{arn}: {what} is not *, a 12-digit account id or an OU or root id (ou-..., r-...)")
        grant = OperatorGrant(arn, scopes)
        if grant.role in {g.role for g in grants.values()}:
            raise ValueError(f"{arn} is listed twice (a role's name is unique in its account)")
        grants[arn] = grant
    return tuple(grants.values())


def role_of(caller_arn: str) -> RoleName | None:
    """The role whose session `caller_arn` is, or None for any other kind of principal."""
    match = _SESSION_ARN.fullmatch(caller_arn)
    return RoleName(*match.groups()) if match else None


def grant_for(grants: Iterable[OperatorGrant], caller_arn: str) -> OperatorGrant | None:
    """The grant of the role `caller_arn` is a session of; None: not an operator."""
    role = role_of(caller_arn)
    return next((g for g in grants if role is not None and g.role == role), None)
