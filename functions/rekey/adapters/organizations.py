"""AWS Organizations: the accounts to sweep."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import aws_call

PERMISSIONS = {"hub": ("organizations:ListAccounts",)}


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
