"""AWS Organizations: the accounts to sweep, optionally only those under given OUs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import aws_call

PERMISSIONS = {
    # Granted to the hub's sweep role (a hub in the management account or a delegated
    # administrator) and to the role of spoke_templates/org-role.yaml (REKEY_ORG_ROLE_ARN).
    "org": (
        "organizations:ListAccounts",
        # Only with REKEY_TARGET_OUS: the accounts under each OU, through nested OUs.
        "organizations:ListAccountsForParent",
        "organizations:ListChildren",
    )
}


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str


class OrganizationsAdapter:
    def __init__(self, client: Any) -> None:
        self._client = client

    def active_accounts(self) -> list[Account]:
        """Every ACTIVE account, through every page (a page may be empty while a token remains)."""
        accounts: list[Account] = []
        kwargs: dict[str, Any] = {}
        while True:
            with aws_call("organizations:ListAccounts"):
                page = self._client.list_accounts(**kwargs)
            for account in page.get("Accounts", []):
                # `State` replaces the deprecated `Status`; read either.
                state = account.get("State") or account.get("Status")
                if state == "ACTIVE":
                    accounts.append(Account(account["Id"], account.get("Name", "")))
            token = page.get("NextToken")
            if not token:
                return accounts
            kwargs = {"NextToken": token}

    def accounts_under(self, parent_ids: Iterable[str]) -> set[str]:
        """Ids of the accounts under the given OUs (or roots), at any depth: one
        ListAccountsForParent and one ListChildren per OU and page."""
        found: set[str] = set()
        pending = list(dict.fromkeys(parent_ids))
        seen: set[str] = set()
        while pending:
            parent = pending.pop()
            if parent in seen:
                continue
            seen.add(parent)
            for account in self._pages("ListAccountsForParent", "Accounts", ParentId=parent):
                found.add(account["Id"])
            for child in self._pages("ListChildren", "Children", ParentId=parent, ChildType="ORGANIZATIONAL_UNIT"):
                pending.append(child["Id"])
        return found

    def _pages(self, operation: str, field: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        method = getattr(self._client, _snake(operation))
        while True:
            with aws_call(f"organizations:{operation} {kwargs.get('ParentId', '')}".strip()):
                page = method(**kwargs)
            yield from page.get(field, [])
            token = page.get("NextToken")
            if not token:
                return
            kwargs = {**kwargs, "NextToken": token}


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
