"""Which accounts rekey may act in: ACTIVE members of the organization, less
REKEY_EXCLUDED_ACCOUNTS, only under REKEY_TARGET_OUS when set. Checked by the sweep when it
lists them, and again by the scan and the worker before they enter one, whoever sent the
request (a message on a queue names an account; it does not make it in scope)."""

from __future__ import annotations

from datetime import timedelta

from ..domain.entities import Account
from ..ports import Ports

# How long a process trusts its list of the organization's accounts.
ACCOUNTS_TTL = timedelta(minutes=10)


def accounts_to_sweep(ports: Ports) -> list[Account]:
    """ACTIVE accounts, less REKEY_EXCLUDED_ACCOUNTS, and only those under REKEY_TARGET_OUS
    when set."""
    s = ports.settings
    organizations = ports.organizations()
    accounts = [a for a in organizations.active_accounts() if a.account_id not in s.excluded_accounts]
    if s.target_ous:
        under = organizations.accounts_under(sorted(s.target_ous))
        accounts = [a for a in accounts if a.account_id in under]
    # What account_refusal checks against, for the next ACCOUNTS_TTL.
    ports.accounts_in_scope[:] = [ports.now(), frozenset(a.account_id for a in accounts)]
    return accounts


def account_refusal(ports: Ports, account_id: str) -> str | None:
    """Why rekey must not act in this account (excluded, outside REKEY_TARGET_OUS, not an
    ACTIVE member of the organization), or None. The organization's accounts are listed at
    most every ACCOUNTS_TTL per process."""
    if account_id in ports.settings.excluded_accounts:
        return f"account {account_id} is excluded (REKEY_EXCLUDED_ACCOUNTS)"
    cache = ports.accounts_in_scope
    now = ports.now()
    if not cache or now - cache[0] > ACCOUNTS_TTL or now < cache[0]:
        accounts_to_sweep(ports)
    if account_id not in cache[1]:
        where = " inside REKEY_TARGET_OUS" if ports.settings.target_ous else ""
        return f"account {account_id} is not an ACTIVE account of the organization{where}"
    return None
