"""AWS Organizations: the accounts to sweep, optionally only those under given OUs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from ..domain.entities import Account
from .paging import every_item

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


class OrganizationsAdapter:
    def __init__(self, client: Any) -> None:
        self._client = client

    def active_accounts(self) -> list[Account]:
        """Every ACTIVE account, through every page (a page may be empty while a token remains)."""
        return [
            Account(account["Id"], account.get("Name", ""))
            for account in every_item(self._client, "list_accounts", "Accounts", "organizations:ListAccounts")
            # `State` replaces the deprecated `Status`; read either.
            if (account.get("State") or account.get("Status")) == "ACTIVE"
        ]

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
            accounts = every_item(
                self._client,
                "list_accounts_for_parent",
                "Accounts",
                f"organizations:ListAccountsForParent {parent}",
                ParentId=parent,
            )
            found.update(account["Id"] for account in accounts)
            children = every_item(
                self._client,
                "list_children",
                "Children",
                f"organizations:ListChildren {parent}",
                ParentId=parent,
                ChildType="ORGANIZATIONAL_UNIT",
            )
            pending.extend(child["Id"] for child in children)
        return found


class ListedOrganization:
    """The organization as this process last listed it: each listing is kept for `ttl`, so the
    worker's re-check of every item's account costs no call (rekey.use_cases.scope). A clock
    that goes back (a test's) lists again."""

    def __init__(self, organization: OrganizationsAdapter, now: Callable[[], datetime], ttl: timedelta) -> None:
        self._organization = organization
        self._now = now
        self._ttl = ttl
        self._lock = threading.Lock()
        self._listed: dict[Any, tuple[datetime, Any]] = {}

    def active_accounts(self) -> list[Account]:
        return list(self._kept("accounts", self._organization.active_accounts))

    def accounts_under(self, parent_ids: Iterable[str]) -> set[str]:
        ids = frozenset(parent_ids)
        return set(self._kept(ids, lambda: self._organization.accounts_under(sorted(ids))))

    def _kept(self, key: Any, listing: Callable[[], Any]) -> Any:
        now = self._now()
        with self._lock:
            kept = self._listed.get(key)
        if kept is not None and kept[0] <= now <= kept[0] + self._ttl:
            return kept[1]
        listed = listing()
        with self._lock:
            self._listed[key] = (now, listed)
        return listed
