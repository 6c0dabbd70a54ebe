"""Which accounts rekey may act in: ACTIVE members of the organization, less
REKEY_EXCLUDED_ACCOUNTS, only under REKEY_TARGET_OUS when set. Checked by the sweep when it
lists them, and again by the scan and the worker before they enter one, whoever sent the
request (a message on a queue names an account; it does not make it in scope)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..domain.entities import Account
from ..ports import Ports

# How long a process trusts its list of the organization's accounts.
ACCOUNTS_TTL = timedelta(minutes=10)


def accounts_to_sweep(ports: Ports) -> list[Account]:
    """ACTIVE accounts, less REKEY_EXCLUDED_ACCOUNTS, and only those under REKEY_TARGET_OUS
    when set."""
    s = ports.settings
    organizations = ports.organizations()
    active = [a for a in organizations.active_accounts() if a.account_id not in s.excluded_accounts]
    accounts = active
    if s.target_ous:
        under = organizations.accounts_under(sorted(s.target_ous))
        accounts = [a for a in active if a.account_id in under]
    # What account_refusal and account_in_scope check against, for the next ACCOUNTS_TTL: when
    # listed, the accounts in scope by id, and the ACTIVE ones (to say why one is not in scope).
    ports.accounts_in_scope[:] = [ports.now(), {a.account_id: a for a in accounts}, {a.account_id for a in active}]
    return accounts


def account_refusal(ports: Ports, account_id: str) -> str | None:
    """Why rekey must not act in this account (excluded, outside REKEY_TARGET_OUS, not an
    ACTIVE member of the organization), or None. The organization's accounts are listed at
    most every ACCOUNTS_TTL per process."""
    if account_id in ports.settings.excluded_accounts:
        return f"account {account_id} is excluded (REKEY_EXCLUDED_ACCOUNTS)"
    _, in_scope, active = _listed(ports)
    if account_id in in_scope:
        return None
    if account_id in active:
        return f"account {account_id} is outside the OUs rekey covers (REKEY_TARGET_OUS)"
    return f"account {account_id} is not an ACTIVE account of the organization"


def account_in_scope(ports: Ports, account_id: str) -> Account | None:
    """The account (with its name) if rekey may act in it, else None (account_refusal says why)."""
    return None if account_refusal(ports, account_id) else _listed(ports)[1][account_id]


def _listed(ports: Ports) -> list[Any]:
    """The accounts as last listed, listed again when older than ACCOUNTS_TTL."""
    cache = ports.accounts_in_scope
    now = ports.now()
    if not cache or now - cache[0] > ACCOUNTS_TTL or now < cache[0]:
        accounts_to_sweep(ports)
    return cache
