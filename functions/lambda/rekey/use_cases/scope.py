"""Which accounts rekey may act in: ACTIVE members of the organization, less
REKEY_EXCLUDED_ACCOUNTS, only under REKEY_TARGET_OUS when set. Checked by the sweep when it
lists them, and again by the scan and the worker before they enter one, whoever sent the
request (a message on a queue names an account; it does not make it in scope). How often the
organization is listed is the Organization port's business (the runtime lists it at most every
few minutes per process)."""

from __future__ import annotations

from ..domain.entities import Account
from ..ports import Ports


def accounts_to_sweep(ports: Ports) -> list[Account]:
    """ACTIVE accounts, less REKEY_EXCLUDED_ACCOUNTS, and only those under REKEY_TARGET_OUS
    when set."""
    return _in_scope(ports, ports.organizations().active_accounts())


def account_refusal(ports: Ports, account_id: str) -> str | None:
    """Why rekey must not act in this account (excluded, outside REKEY_TARGET_OUS, not an
    ACTIVE member of the organization), or None."""
    if account_id in ports.settings.excluded_accounts:
        return f"account {account_id} is excluded (REKEY_EXCLUDED_ACCOUNTS)"
    active = ports.organizations().active_accounts()
    if any(a.account_id == account_id for a in _in_scope(ports, active)):
        return None
    if any(a.account_id == account_id for a in active):
        return f"account {account_id} is outside the OUs rekey covers (REKEY_TARGET_OUS)"
    return f"account {account_id} is not an ACTIVE account of the organization"


def account_in_scope(ports: Ports, account_id: str) -> Account | None:
    """The account (with its name) if rekey may act in it, else None (account_refusal says why)."""
    return next((a for a in accounts_to_sweep(ports) if a.account_id == account_id), None)


def _in_scope(ports: Ports, active: list[Account]) -> list[Account]:
    s = ports.settings
    accounts = [a for a in active if a.account_id not in s.excluded_accounts]
    if s.target_ous:
        under = ports.organizations().accounts_under(sorted(s.target_ous))
        accounts = [a for a in accounts if a.account_id in under]
    return accounts
