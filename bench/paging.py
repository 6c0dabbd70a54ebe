"""Where the emulator differs from AWS in ways that would distort the benchmark.

AWS's paging for the two IAM listings the benchmark depends on. moto returns every user in
one page whatever MaxItems says; AWS returns at most MaxItems (default 100, at most 1,000) and a
Marker. Without this, a 5,000-user account would cost one call instead of five."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

DEFAULT_MAX_ITEMS = 100
MAX_ITEMS = 1000

_PAGED = {"get_account_authorization_details": "UserDetailList", "list_users": "Users"}


def _paged(original: Callable[[Any], Any], key: str) -> Callable[[Any], Any]:
    from moto.core.responses import ActionResult

    def method(self: Any) -> Any:
        if key == "UserDetailList" and self._get_param("Filter", []) != ["User"]:
            return original(self)  # other filters page several lists at once: not needed here
        result = dict(original(self).result)
        items = list(result[key])
        size = min(int(self._get_param("MaxItems") or DEFAULT_MAX_ITEMS), MAX_ITEMS)
        start = int(self._get_param("Marker") or 0)
        result[key] = items[start : start + size]
        result["IsTruncated"] = start + size < len(items)
        if result["IsTruncated"]:
            result["Marker"] = str(start + size)
        return ActionResult(result)

    return method


@contextmanager
def aws_paging() -> Iterator[None]:
    """Within the block, moto's IAM pages GetAccountAuthorizationDetails(Filter=[User]) and
    ListUsers as AWS does (in-process moto, or a ThreadedMotoServer in this process)."""
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
    backend in every partition: ~5 µs per account per request, 5 ms at 1,000 accounts, a cost AWS
    does not have that would swamp per-account figures (and hit the naive scan's many small calls
    hardest). Within the block, each key's account is looked up once and remembered (an access key
    never changes account)."""
    import moto.iam.models as models

    original = models.get_account_id_from
    found: dict[str, str] = {}

    def lookup(access_key: str) -> str:
        account = found.get(access_key)
        if account is None:
            account = found[access_key] = original(access_key)
        return account

    models.get_account_id_from = lookup
    try:
        yield
    finally:
        models.get_account_id_from = original
