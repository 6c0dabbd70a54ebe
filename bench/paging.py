"""Where the emulator differs from AWS in ways that would distort the benchmark.

- AWS's paging for the two IAM listings the benchmark depends on. moto returns every user in
one page whatever MaxItems says; AWS returns at most MaxItems (default 100, at most 1,000) and a
Marker. Without this, a 5,000-user account would cost one call instead of five.
- Lookups moto does by scanning every account (see `indexed_access_keys`): their cost grows with
the organization, AWS's does not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

DEFAULT_MAX_ITEMS = 100
MAX_ITEMS = 1000

_PAGED = {"get_account_authorization_details": "UserDetailList", "list_users": "Users"}
# GetAccountAuthorizationDetails pages its lists as one: MaxItems counts users, groups, roles
# and policies together, in this order.
_DETAIL_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def _paged(original: Callable[[Any], Any], key: str) -> Callable[[Any], Any]:
    from moto.core.responses import ActionResult

    def method(self: Any) -> Any:
        result = dict(original(self).result)
        lists = _DETAIL_LISTS if key == "UserDetailList" else (key,)
        items = [(name, item) for name in lists for item in result.get(name, [])]
        size = min(int(self._get_param("MaxItems") or DEFAULT_MAX_ITEMS), MAX_ITEMS)
        start = int(self._get_param("Marker") or 0)
        page = items[start : start + size]
        for name in lists:
            if name in result:
                result[name] = [item for list_name, item in page if list_name == name]
        result["IsTruncated"] = start + size < len(items)
        if result["IsTruncated"]:
            result["Marker"] = str(start + size)
        return ActionResult(result)

    return method


@contextmanager
def aws_paging() -> Iterator[None]:
    """Within the block, moto's IAM pages GetAccountAuthorizationDetails and ListUsers as AWS
    does (in-process moto, or a ThreadedMotoServer in this process)."""
    from moto.iam.responses import IamResponse

    saved = {name: getattr(IamResponse, name) for name in _PAGED}
    for name, key in _PAGED.items():
        setattr(IamResponse, name, _paged(saved[name], key))
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(IamResponse, name, method)


@contextmanager
def indexed_access_keys() -> Iterator[None]:
    """moto finds the account of every request's access key by scanning every account's IAM
    backend in every partition (~5 ms per request at 1,000 accounts), and the user of a key for
    GetAccessKeyLastUsed by listing every key of every account (~230 ms at 50,000 users): costs
    AWS does not have, that would swamp per-account figures (the naive scan's calls most). Within
    the block, a key's account is looked up once and remembered (a key never changes account),
    and a key's user is found in its account's key index."""
    import moto.iam.models as models

    original = models.get_account_id_from
    original_last_used = models.IAMBackend.get_access_key_last_used
    found: dict[str, str] = {}

    def lookup(access_key: str) -> str:
        account = found.get(access_key)
        if account is None:
            account = found[access_key] = original(access_key)
        return account

    def last_used(self: Any, access_key_id: str) -> dict[str, Any]:
        # moto lists every key of every user of every account for each GetAccessKeyLastUsed
        # (230 ms per call at 50,000 users); the account's own key index answers the same.
        key = self.access_keys.get(access_key_id)
        if isinstance(key, models.AccessKey) and key.user_name in self.users:
            return {"user_name": key.user_name, "last_used": key.last_used}
        return original_last_used(self, access_key_id)

    models.get_account_id_from = lookup
    models.IAMBackend.get_access_key_last_used = last_used
    try:
        yield
    finally:
        models.get_account_id_from = original
        models.IAMBackend.get_access_key_last_used = original_last_used
